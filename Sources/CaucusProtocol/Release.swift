/// This release of Caucus, as every program's `--version` prints it.
public enum CaucusRelease {
    /// The release, semantic versioning: below 1.0 while the formats may still change.
    public static let version = "0.1.0"

    /// `NAME VERSION (relay protocol N)`.
    public static func versionLine(_ program: String) -> String {
        "\(program) \(version) (relay protocol \(RelayProtocol.version))"
    }
}
