import CSodium

/// Authenticated encryption: XChaCha20-Poly1305 (IETF) with a fresh random 24-byte nonce per message.
///
/// A sealed message is `nonce (24) ‖ ciphertext ‖ tag (16)`. There is no API that takes a nonce
/// from the caller: random 192-bit nonces never repeat in practice.
public enum XChaCha20Poly1305 {
    /// Nonce length in bytes.
    public static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    /// Authentication tag length in bytes.
    public static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// Bytes a sealed message adds to its plaintext.
    public static let overhead = nonceByteCount + tagByteCount

    /// Encrypts and authenticates `plaintext`, binding `associatedData` without encrypting it.
    public static func seal(
        _ plaintext: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8] = []
    ) -> [UInt8] {
        Sodium.ensureInitialized()
        let total = plaintext.count + overhead
        return [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            let base = out.baseAddress!
            randombytes_buf(base, nonceByteCount)
            key.bytes.withUnsafeBytes { k in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    base + nonceByteCount, nil,
                    plaintext, UInt64(plaintext.count),
                    associatedData, UInt64(associatedData.count),
                    nil, base, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            initialized = total
        }
    }

    /// Decrypts a message made by `seal`; throws `authenticationFailed` if anything was altered.
    public static func open(
        _ sealed: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed }
        let opened = sealed.withUnsafeBufferPointer { input in
            key.bytes.withUnsafeBytes { k in
                decrypt(nonce: input.baseAddress!,
                        ciphertextAndTag: UnsafeBufferPointer(rebasing: input[nonceByteCount...]),
                        associatedData: associatedData, key: k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard let opened else { throw CryptoError.authenticationFailed }
        return opened
    }

    /// Encryption with a caller-chosen nonce: for known-answer tests only, never public.
    static func seal(
        _ plaintext: [UInt8], nonce: [UInt8], associatedData: [UInt8], key: [UInt8]
    ) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition(nonce.count == nonceByteCount && key.count == SymmetricKey.byteCount)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &out, nil, plaintext, UInt64(plaintext.count),
            associatedData, UInt64(associatedData.count), nil, nonce, key)
        return out
    }

    /// Decryption with an explicit nonce and key, for the known-answer tests.
    static func open(
        nonce: UnsafeBufferPointer<UInt8>, ciphertextAndTag: UnsafeBufferPointer<UInt8>,
        associatedData: [UInt8], key: UnsafeRawBufferPointer
    ) throws(CryptoError) -> [UInt8] {
        try checkLength("XChaCha20-Poly1305 nonce", nonce.count, nonceByteCount)
        try checkLength("XChaCha20-Poly1305 key", key.count, SymmetricKey.byteCount)
        guard let opened = decrypt(nonce: nonce.baseAddress!, ciphertextAndTag: ciphertextAndTag,
                                   associatedData: associatedData, key: key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        else { throw CryptoError.authenticationFailed }
        return opened
    }

    /// The plaintext, or nil when the tag does not verify (the output is then wiped).
    private static func decrypt(
        nonce: UnsafePointer<UInt8>, ciphertextAndTag: UnsafeBufferPointer<UInt8>,
        associatedData: [UInt8], key: UnsafePointer<UInt8>
    ) -> [UInt8]? {
        Sodium.ensureInitialized()
        guard ciphertextAndTag.count >= tagByteCount else { return nil }
        let plainCount = ciphertextAndTag.count - tagByteCount
        var status: Int32 = 0
        let plaintext = [UInt8](unsafeUninitializedCapacity: Swift.max(plainCount, 1)) { out, initialized in
            status = crypto_aead_xchacha20poly1305_ietf_decrypt(
                out.baseAddress, nil, nil,
                ciphertextAndTag.baseAddress!, UInt64(ciphertextAndTag.count),
                associatedData, UInt64(associatedData.count), nonce, key)
            if status != 0, let base = out.baseAddress { sodium_memzero(base, plainCount) }
            initialized = plainCount
        }
        return status == 0 ? plaintext : nil
    }
}
