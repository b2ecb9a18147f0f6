import CSodium

/// X25519 Diffie-Hellman key agreement.
public enum X25519 {
    /// A secret agreement key (32-byte scalar).
    public struct PrivateKey: Sendable, RedactedSecret {
        package static let redactedName = "X25519.PrivateKey"
        package let scalar: SecureBytes
        /// The matching public key.
        public let publicKey: PublicKey

        /// A new random key from the system CSPRNG.
        public init() {
            Sodium.ensureInitialized()
            var pk = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
            scalar = SecureBytes(count: Int(crypto_box_SECRETKEYBYTES)) { sk in
                _ = crypto_box_keypair(&pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            publicKey = PublicKey(unchecked: pk)
        }

        /// The agreement key birationally equivalent to an Ed25519 identity key
        /// (clamped SHA-512(seed)[0..<32], as `crypto_sign_ed25519_sk_to_curve25519`).
        public init(converting signingKey: Ed25519.PrivateKey) {
            let converted = SecureBytes(count: Int(crypto_scalarmult_BYTES)) { x in
                signingKey.secretKey.withUnsafeBytes { sk in
                    _ = crypto_sign_ed25519_sk_to_curve25519(
                        x.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            self.init(scalar: converted)
        }

        /// A key from its 32 secret bytes (used for stored session state and test vectors).
        package init(scalar: SecureBytes) {
            Sodium.ensureInitialized()
            precondition(scalar.count == Int(crypto_scalarmult_SCALARBYTES))
            self.scalar = scalar
            var pk = [UInt8](repeating: 0, count: Int(crypto_scalarmult_BYTES))
            scalar.withUnsafeBytes { s in
                _ = crypto_scalarmult_base(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            publicKey = PublicKey(unchecked: pk)
        }

        /// The shared secret with `peer`; throws when the peer's key has low order.
        public func sharedSecret(with peer: PublicKey) throws(CryptoError) -> SharedSecret {
            var status: Int32 = 0
            let secret = SecureBytes(count: Int(crypto_scalarmult_BYTES)) { out in
                scalar.withUnsafeBytes { s in
                    status = crypto_scalarmult(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        peer.rawRepresentation)
                }
            }
            guard status == 0 else { throw CryptoError.lowOrderSharedSecret }
            return SharedSecret(bytes: secret)
        }
    }

    /// A public agreement key (32-byte Montgomery u-coordinate).
    public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
        /// The 32-byte little-endian u-coordinate.
        public let rawRepresentation: [UInt8]

        /// A public key from its 32 bytes; only the length is checked here.
        public init(rawRepresentation: [UInt8]) throws(CryptoError) {
            try checkLength("X25519 public key", rawRepresentation.count, Int(crypto_scalarmult_BYTES))
            self.rawRepresentation = rawRepresentation
        }

        /// The agreement key birationally equivalent to an Ed25519 public key.
        public init(converting signingKey: Ed25519.PublicKey) throws(CryptoError) {
            Sodium.ensureInitialized()
            var out = [UInt8](repeating: 0, count: Int(crypto_scalarmult_BYTES))
            guard crypto_sign_ed25519_pk_to_curve25519(&out, signingKey.rawRepresentation) == 0 else {
                throw CryptoError.invalidPublicKey
            }
            rawRepresentation = out
        }

        package init(unchecked raw: [UInt8]) { rawRepresentation = raw }

        public var description: String { "X25519.PublicKey(\(Hex.encode(rawRepresentation)))" }
    }

    /// The raw output of X25519. Feed it to HKDF; never use it directly as a key.
    public struct SharedSecret: Sendable, RedactedSecret {
        package static let redactedName = "X25519.SharedSecret"
        /// The 32 shared bytes.
        public let bytes: SecureBytes
    }
}
