// ML-KEM-768 (FIPS 203) from swift-crypto, which runs BoringSSL's implementation: the one
// primitive Caucus takes from outside libsodium. This file is the only one that imports Crypto;
// everything else sees the types below, which speak in bytes and SecureBytes.
internal import Crypto
import CaucusIdentity

/// ML-KEM-768 key encapsulation (FIPS 203), for the post-quantum half of a session start
/// (Protocol.md §6.2).
public enum MLKEM {
    /// An encapsulation (public) key.
    public static let publicKeyByteCount = 1_184
    /// A ciphertext made by `PublicKey.encapsulate()`.
    public static let ciphertextByteCount = 1_088
    /// The seed `d ‖ z` a decapsulation key is made from (FIPS 203 §6.1), which is how it is stored.
    public static let seedByteCount = 64
    /// The shared secret.
    public static let sharedSecretByteCount = 32

    /// A decapsulation key, kept as its 64-byte seed, with the key expanded from it once.
    public struct PrivateKey: Sendable {
        /// `d ‖ z`: the whole secret.
        public let seed: SecureBytes
        /// The matching encapsulation key.
        public let publicKey: PublicKey
        private let expanded: Crypto.MLKEM768.PrivateKey

        /// A fresh key pair from the system's randomness.
        public init() {
            // generate() fails only when the system cannot give randomness; nothing works then.
            let key = try! Crypto.MLKEM768.PrivateKey.generate()
            var bytes = [UInt8](key.seedRepresentation)
            defer { wipe(&bytes) }
            seed = SecureBytes(copying: bytes)
            expanded = key
            publicKey = PublicKey(checked: key.publicKey)
        }

        /// The key pair a stored seed makes (ML-KEM.KeyGen_internal(d, z)).
        public init(seed: SecureBytes) throws(CaucusIdentity.CryptoError) {
            guard seed.count == MLKEM.seedByteCount else {
                throw .invalidLength(what: "ML-KEM-768 seed", expected: MLKEM.seedByteCount, actual: seed.count)
            }
            let key = try Self.expand(seed)
            self.seed = seed
            expanded = key
            publicKey = PublicKey(checked: key.publicKey)
        }

        /// The shared secret in `ciphertext`. A ciphertext of the right length always gives a
        /// secret: one that was not made for this key gives FIPS 203's implicit-rejection secret,
        /// which matches nothing the sender has, so the session's first message fails to open.
        public func decapsulate(_ ciphertext: [UInt8]) throws(CaucusIdentity.CryptoError) -> SecureBytes {
            guard ciphertext.count == MLKEM.ciphertextByteCount else {
                throw .invalidLength(what: "ML-KEM-768 ciphertext", expected: MLKEM.ciphertextByteCount, actual: ciphertext.count)
            }
            do {
                return secureBytes(try expanded.decapsulate(ciphertext))
            } catch {
                throw .invalidParameter("ML-KEM-768 decapsulation refused the ciphertext")
            }
        }

        private static func expand(_ seed: SecureBytes) throws(CaucusIdentity.CryptoError) -> Crypto.MLKEM768.PrivateKey {
            var bytes = seed.withUnsafeBytes { Array($0) }
            defer { wipe(&bytes) }
            do {
                return try Crypto.MLKEM768.PrivateKey(seedRepresentation: bytes, publicKey: nil)
            } catch {
                throw .invalidParameter("not an ML-KEM-768 seed")
            }
        }
    }

    /// An encapsulation key, checked as FIPS 203 §7.2 asks (length, and every coefficient below q).
    public struct PublicKey: Hashable, Sendable {
        /// The 1,184 bytes.
        public let rawRepresentation: [UInt8]
        private let parsed: Crypto.MLKEM768.PublicKey

        /// A key received from someone else; refused unless it passes FIPS 203's input check.
        public init(rawRepresentation bytes: [UInt8]) throws(CaucusIdentity.CryptoError) {
            guard bytes.count == MLKEM.publicKeyByteCount else {
                throw .invalidLength(what: "ML-KEM-768 public key", expected: MLKEM.publicKeyByteCount, actual: bytes.count)
            }
            do { parsed = try Crypto.MLKEM768.PublicKey(rawRepresentation: bytes) } catch { throw .invalidPublicKey }
            rawRepresentation = bytes
        }

        /// The key of a private key this process holds.
        fileprivate init(checked key: Crypto.MLKEM768.PublicKey) {
            parsed = key
            rawRepresentation = [UInt8](key.rawRepresentation)
        }

        /// A fresh shared secret and the ciphertext that carries it to the key's owner.
        public func encapsulate() -> (ciphertext: [UInt8], sharedSecret: SecureBytes) {
            // The key was checked when it was made; encapsulation then fails only without randomness.
            let result = try! parsed.encapsulate()
            return ([UInt8](result.encapsulated), secureBytes(result.sharedSecret))
        }

        public static func == (a: PublicKey, b: PublicKey) -> Bool { a.rawRepresentation == b.rawRepresentation }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }
    }
}

private func secureBytes(_ key: Crypto.SymmetricKey) -> SecureBytes {
    key.withUnsafeBytes { SecureBytes(copying: Array($0)) }
}
