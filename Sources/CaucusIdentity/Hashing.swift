import CSodium

/// BLAKE2b (RFC 7693), libsodium's `crypto_generichash`: the default hash of the Caucus formats.
public enum BLAKE2b {
    /// Smallest allowed digest length.
    public static let minimumOutputByteCount = Int(crypto_generichash_BYTES_MIN)
    /// Largest allowed digest length.
    public static let maximumOutputByteCount = Int(crypto_generichash_BYTES_MAX)
    /// Longest allowed key.
    public static let maximumKeyByteCount = Int(crypto_generichash_KEYBYTES_MAX)

    /// The digest of `message`, `outputByteCount` long (16...64), optionally keyed (up to 64 bytes).
    public static func hash(
        _ message: [UInt8], outputByteCount: Int = 32, key: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        var hasher = try Hasher(outputByteCount: outputByteCount, key: key)
        hasher.update(message)
        return hasher.finalize()
    }

    /// An incremental BLAKE2b computation for data that arrives in pieces.
    public struct Hasher: ~Copyable {
        // libsodium declares the state 64-byte aligned, which Swift cannot import as a type:
        // keep it in a 64-byte aligned allocation of its own.
        private let state: OpaquePointer
        private let outputByteCount: Int

        /// Starts a digest of `outputByteCount` bytes, optionally keyed.
        public init(outputByteCount: Int = 32, key: [UInt8] = []) throws(CryptoError) {
            guard (BLAKE2b.minimumOutputByteCount...BLAKE2b.maximumOutputByteCount).contains(outputByteCount) else {
                throw CryptoError.invalidParameter("BLAKE2b output must be 16 to 64 bytes")
            }
            guard key.count <= BLAKE2b.maximumKeyByteCount else {
                throw CryptoError.invalidParameter("BLAKE2b key must be at most 64 bytes")
            }
            Sodium.ensureInitialized()
            self.outputByteCount = outputByteCount
            state = OpaquePointer(UnsafeMutableRawPointer
                .allocate(byteCount: crypto_generichash_statebytes(), alignment: 64))
            _ = crypto_generichash_init(state, key.isEmpty ? nil : key, key.count, outputByteCount)
        }

        /// Feeds more bytes.
        public mutating func update(_ bytes: [UInt8]) {
            _ = crypto_generichash_update(state, bytes, UInt64(bytes.count))
        }

        /// Feeds more bytes from a buffer.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            _ = crypto_generichash_update(
                state, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
        }

        /// The digest; the hasher is used up.
        public consuming func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: outputByteCount)
            _ = crypto_generichash_final(state, &out, outputByteCount)
            return out
        }

        deinit {
            sodium_memzero(UnsafeMutableRawPointer(state), crypto_generichash_statebytes())
            UnsafeMutableRawPointer(state).deallocate()
        }
    }
}

/// SHA-256 (FIPS 180-4).
public enum SHA256 {
    /// Digest length in bytes.
    public static let byteCount = Int(crypto_hash_sha256_BYTES)

    /// The 32-byte digest of `message`.
    public static func hash(_ message: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: byteCount)
        _ = crypto_hash_sha256(&out, message, UInt64(message.count))
        return out
    }
}

/// SHA-512 (FIPS 180-4).
public enum SHA512 {
    /// Digest length in bytes.
    public static let byteCount = Int(crypto_hash_sha512_BYTES)

    /// The 64-byte digest of `message`.
    public static func hash(_ message: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: byteCount)
        _ = crypto_hash_sha512(&out, message, UInt64(message.count))
        return out
    }
}
