import CSodium

/// Anonymous public-key encryption (libsodium `crypto_box_seal`): anyone can seal to an X25519
/// public key, only the holder of its private key can open, and the box does not reveal the sender.
///
/// Layout: `ephemeral public key (32) ‖ XSalsa20-Poly1305 ciphertext ‖ tag (16)`.
public enum SealedBox {
    /// Bytes a sealed box adds to its plaintext.
    public static let overhead = crypto_box_sealbytes()

    /// Seals `plaintext` so that only `recipient`'s private key opens it.
    public static func seal(_ plaintext: [UInt8], to recipient: X25519.PublicKey) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: plaintext.count + overhead)
        _ = crypto_box_seal(&out, plaintext, UInt64(plaintext.count), recipient.rawRepresentation)
        return out
    }

    /// Opens a sealed box with the recipient's private key.
    public static func open(_ sealed: [UInt8], with recipient: X25519.PrivateKey) throws(CryptoError) -> [UInt8] {
        Sodium.ensureInitialized()
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed }
        let plainCount = sealed.count - overhead
        var status: Int32 = 0
        let plaintext = [UInt8](unsafeUninitializedCapacity: Swift.max(plainCount, 1)) { out, initialized in
            recipient.scalar.withUnsafeBytes { sk in
                status = crypto_box_seal_open(
                    out.baseAddress, sealed, UInt64(sealed.count),
                    recipient.publicKey.rawRepresentation,
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            if status != 0, let base = out.baseAddress { sodium_memzero(base, plainCount) }
            initialized = plainCount
        }
        guard status == 0 else { throw CryptoError.authenticationFailed }
        return plaintext
    }
}
