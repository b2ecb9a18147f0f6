import CSodium
import Foundation

/// A passphrase typed by a person: its UTF-8 bytes after Unicode NFC normalisation, held as a secret.
///
/// NFC makes the same passphrase typed on different keyboards or systems give the same bytes.
public struct Passphrase: Sendable, RedactedSecret {
    package static let redactedName = "Passphrase"
    /// The normalised UTF-8 bytes.
    public let bytes: SecureBytes

    /// A passphrase from text.
    public init(_ text: String) {
        var utf8 = Array(text.precomposedStringWithCanonicalMapping.utf8)
        defer { wipe(&utf8) }
        bytes = SecureBytes(copying: utf8)
    }

    /// True for the empty passphrase.
    public var isEmpty: Bool { bytes.count == 0 }
}

/// Argon2id (v1.3) password hashing, libsodium's `crypto_pwhash`: turns a passphrase into a key.
public enum Argon2id {
    /// Salt length in bytes.
    public static let saltByteCount = Int(crypto_pwhash_SALTBYTES)

    /// Cost settings: passes over memory, and memory in KiB.
    public struct Parameters: Hashable, Sendable, CustomStringConvertible {
        /// Number of passes (libsodium's opslimit).
        public let iterations: UInt32
        /// Memory in KiB (libsodium's memlimit / 1024).
        public let memoryKiB: UInt32

        /// Parameters within libsodium's limits for Argon2id.
        public init(iterations: UInt32, memoryKiB: UInt32) throws(CryptoError) {
            guard iterations >= UInt32(crypto_pwhash_argon2id_OPSLIMIT_MIN) else {
                throw CryptoError.invalidParameter("Argon2id needs at least \(crypto_pwhash_argon2id_OPSLIMIT_MIN) iterations")
            }
            guard UInt64(memoryKiB) * 1024 >= UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN) else {
                throw CryptoError.invalidParameter("Argon2id needs at least \(crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024) KiB")
            }
            self.iterations = iterations
            self.memoryKiB = memoryKiB
        }

        /// libsodium's INTERACTIVE limits: 2 passes over 64 MiB.
        public static let interactive = try! Parameters(iterations: 2, memoryKiB: 64 * 1024)
        /// libsodium's MODERATE limits: 3 passes over 256 MiB. The default for keystores.
        public static let moderate = try! Parameters(iterations: 3, memoryKiB: 256 * 1024)

        public var description: String { "Argon2id(t=\(iterations), m=\(memoryKiB) KiB)" }
    }

    /// A 32-byte key from `passphrase` and a 16-byte `salt`.
    public static func deriveKey(
        from passphrase: Passphrase, salt: [UInt8], parameters: Parameters
    ) throws(CryptoError) -> SymmetricKey {
        Sodium.ensureInitialized()
        try checkLength("Argon2id salt", salt.count, saltByteCount)
        var status: Int32 = 0
        let bytes = SecureBytes(count: SymmetricKey.byteCount) { out in
            passphrase.bytes.withUnsafeBytes { pw in
                // SecureBytes always has a base address, even when empty.
                status = crypto_pwhash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(out.count),
                    pw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pw.count),
                    salt, UInt64(parameters.iterations), Int(parameters.memoryKiB) * 1024,
                    crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        // With valid parameters the only failure left is the allocation of the memory area.
        guard status == 0 else { throw CryptoError.outOfMemory }
        return try SymmetricKey(bytes: bytes)
    }
}
