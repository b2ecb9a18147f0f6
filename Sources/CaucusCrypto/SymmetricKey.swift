/// A 256-bit secret key for AEAD, HMAC and key derivation.
public struct SymmetricKey: Sendable, RedactedSecret {
    package static let redactedName = "SymmetricKey"
    /// The number of bytes in every symmetric key.
    public static let byteCount = 32
    /// The 32 secret bytes.
    public let bytes: SecureBytes

    /// A new random key from the system CSPRNG.
    public init() {
        bytes = SecureBytes(randomCount: Self.byteCount)
    }

    /// A key from 32 secret bytes (for example the output of HKDF).
    public init(bytes: SecureBytes) throws(CryptoError) {
        try checkLength("symmetric key", bytes.count, Self.byteCount)
        self.bytes = bytes
    }
}
