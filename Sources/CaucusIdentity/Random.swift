import CSodium

/// Random bytes from the operating system's CSPRNG, through libsodium.
public enum Random {
    /// `count` random bytes that are not secret (nonces, ids, salts).
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ensureInitialized()
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress, count > 0 { randombytes_buf(base, count) }
            initialized = count
        }
    }
}
