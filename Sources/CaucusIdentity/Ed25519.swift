import CSodium

/// Ed25519 signatures: identity keys, device keys and everything they sign.
public enum Ed25519 {
    /// A secret signing key. Signs only canonical, context-tagged messages.
    public struct PrivateKey: Sendable, RedactedSecret {
        package static let redactedName = "Ed25519.PrivateKey"
        /// libsodium's 64-byte secret key: seed ‖ public key.
        let secretKey: SecureBytes
        /// The matching public key.
        public let publicKey: PublicKey

        /// A new random key from the system CSPRNG.
        public init() {
            Sodium.ensureInitialized()
            var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
            secretKey = SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { sk in
                _ = crypto_sign_keypair(&pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            publicKey = PublicKey(unchecked: pk)
        }

        /// The key determined by a 32-byte seed (RFC 8032 "private key").
        public init(seed: SecureBytes) throws(CryptoError) {
            try checkLength("Ed25519 seed", seed.count, Int(crypto_sign_SEEDBYTES))
            var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
            secretKey = SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { sk in
                seed.withUnsafeBytes { s in
                    _ = crypto_sign_seed_keypair(
                        &pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            publicKey = PublicKey(unchecked: pk)
        }

        /// The 32-byte seed, for sealing into a keystore.
        public var seed: SecureBytes {
            secretKey.withUnsafeBytes { sk in
                SecureBytes(copying: UnsafeRawBufferPointer(rebasing: sk[0..<Int(crypto_sign_SEEDBYTES)]))
            }
        }

        /// Signs `message`, whose first field is its context tag.
        public func signature(for message: CanonicalMessage) -> Signature {
            signature(forRaw: message.bytes)
        }

        /// Signs raw bytes. Internal on purpose: callers outside the core go through `CanonicalMessage`.
        func signature(forRaw message: [UInt8]) -> Signature {
            var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
            secretKey.withUnsafeBytes { sk in
                _ = crypto_sign_detached(
                    &sig, nil, message, UInt64(message.count),
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            return Signature(unchecked: sig)
        }
    }

    /// A public verification key (32 bytes).
    public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
        /// The 32-byte compressed point, as in RFC 8032.
        public let rawRepresentation: [UInt8]

        /// A public key from its 32 bytes; only the length is checked here.
        public init(rawRepresentation: [UInt8]) throws(CryptoError) {
            try checkLength("Ed25519 public key", rawRepresentation.count, Int(crypto_sign_PUBLICKEYBYTES))
            self.rawRepresentation = rawRepresentation
        }

        package init(unchecked raw: [UInt8]) { rawRepresentation = raw }

        /// True when the key is a canonical point of prime order (not the identity, not low order).
        public var isValidPoint: Bool {
            Sodium.ensureInitialized()
            return crypto_core_ed25519_is_valid_point(rawRepresentation) == 1
        }

        /// Whether `signature` is this key's signature over `message`.
        public func isValidSignature(_ signature: Signature, for message: CanonicalMessage) -> Bool {
            isValidSignature(signature, forRaw: message.bytes)
        }

        func isValidSignature(_ signature: Signature, forRaw message: [UInt8]) -> Bool {
            Sodium.ensureInitialized()
            return crypto_sign_verify_detached(
                signature.rawRepresentation, message, UInt64(message.count), rawRepresentation) == 0
        }

        public var description: String { "Ed25519.PublicKey(\(Hex.encode(rawRepresentation)))" }
    }

    /// A detached 64-byte Ed25519 signature.
    public struct Signature: Hashable, Sendable {
        /// R ‖ S, as in RFC 8032.
        public let rawRepresentation: [UInt8]

        /// A signature from its 64 bytes; only the length is checked here.
        public init(rawRepresentation: [UInt8]) throws(CryptoError) {
            try checkLength("Ed25519 signature", rawRepresentation.count, Int(crypto_sign_BYTES))
            self.rawRepresentation = rawRepresentation
        }

        package init(unchecked raw: [UInt8]) { rawRepresentation = raw }
    }
}
