import CaucusClientStore
import Foundation

/// Where one identity's files live: `$XDG_DATA_HOME/caucus`, else `~/.local/share/caucus`, unless
/// the user names a directory (`--home`, or `CAUCUS_HOME`).
public struct ClientHome: Sendable, Equatable {
    /// The directory.
    public let path: String

    /// The data directory for `explicit`, or the default one from the environment.
    public init(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let explicit, !explicit.isEmpty {
            path = (explicit as NSString).expandingTildeInPath
        } else if let home = environment["CAUCUS_HOME"], !home.isEmpty {
            path = (home as NSString).expandingTildeInPath
        } else if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            path = (xdg as NSString).appendingPathComponent("caucus")
        } else {
            let user = environment["HOME"] ?? NSHomeDirectory()
            path = (user as NSString).appendingPathComponent(".local/share/caucus")
        }
    }

    /// The passphrase-sealed identity (Protocol.md §5).
    public var keystorePath: String { (path as NSString).appendingPathComponent("identity.key") }
    /// The encrypted local store.
    public var storePath: String { (path as NSString).appendingPathComponent(ClientStore.fileName) }

    /// Creates the directory, private to the user.
    func create() throws(ClientError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw ClientError.file("cannot create \(path): \(error.localizedDescription)")
        }
    }
}
