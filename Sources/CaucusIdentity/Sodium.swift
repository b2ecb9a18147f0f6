import CSodium

/// One-time libsodium initialisation, done lazily and thread-safely by the first caller.
package enum Sodium {
    private static let initialized: Bool = {
        // sodium_init returns 0 on first success, 1 if already initialised, -1 on failure.
        sodium_init() >= 0
    }()

    /// Makes sure libsodium is ready; a failure here means the process cannot do cryptography at all.
    @inline(__always)
    package static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }
}
