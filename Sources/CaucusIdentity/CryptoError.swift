/// Why a cryptographic operation refused its input. Never carries key material or plaintext.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A ciphertext, sealed box or MAC did not authenticate: wrong key, or the bytes were altered.
    case authenticationFailed
    /// A key, nonce, signature or salt had the wrong number of bytes.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// A public key is not a usable curve point (for example a low-order point).
    case invalidPublicKey
    /// X25519 produced the all-zero shared secret: the peer's public key has low order.
    case lowOrderSharedSecret
    /// A KDF was asked for more output than it can give.
    case outputTooLong(requested: Int, maximum: Int)
    /// Padded bytes do not end in valid ISO/IEC 7816-4 padding for the block size.
    case invalidPadding
    /// A parameter lies outside what the primitive accepts.
    case invalidParameter(String)
    /// The system could not give the memory a primitive needs (Argon2id, locked pages).
    case outOfMemory

    public var description: String {
        switch self {
        case .authenticationFailed:
            return "authentication failed: wrong key or altered data"
        case let .invalidLength(what, expected, actual):
            return "\(what) must be \(expected) bytes, got \(actual)"
        case .invalidPublicKey:
            return "public key is not a valid curve point"
        case .lowOrderSharedSecret:
            return "X25519 refused a low-order public key (all-zero shared secret)"
        case let .outputTooLong(requested, maximum):
            return "requested \(requested) bytes of key output, at most \(maximum) allowed"
        case .invalidPadding:
            return "invalid padding"
        case let .invalidParameter(text):
            return "invalid parameter: \(text)"
        case .outOfMemory:
            return "not enough memory for the operation"
        }
    }
}

@inline(__always)
package func checkLength(_ what: String, _ actual: Int, _ expected: Int) throws(CryptoError) {
    guard actual == expected else {
        throw CryptoError.invalidLength(what: what, expected: expected, actual: actual)
    }
}
