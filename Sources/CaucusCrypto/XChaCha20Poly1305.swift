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
        let total = plaintext.count + overhead
        return [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            encrypt(plaintext, associatedData, key, into: out.baseAddress!)
            initialized = total
        }
    }

    /// `seal`, writing into `output` (its contents are replaced), so that a loop can reuse one buffer.
    public static func seal(
        _ plaintext: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8] = [],
        into output: inout [UInt8]
    ) {
        resize(&output, to: plaintext.count + overhead)
        output.withUnsafeMutableBufferPointer { encrypt(plaintext, associatedData, key, into: $0.baseAddress!) }
    }

    /// `seal`, appending the sealed message to `output` (for building a larger message in place).
    static func seal(
        _ plaintext: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8],
        appendingTo output: inout [UInt8]
    ) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plaintext.count + overhead))
        output.withUnsafeMutableBufferPointer { encrypt(plaintext, associatedData, key, into: $0.baseAddress! + start) }
    }

    /// Decrypts a message made by `seal`; throws `authenticationFailed` if anything was altered.
    public static func open(
        _ sealed: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        try open(sealed[...], using: key, authenticating: associatedData)
    }

    /// `open` for a message that is part of a larger buffer.
    static func open(
        _ sealed: ArraySlice<UInt8>, using key: SymmetricKey, authenticating associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed }
        let count = sealed.count - overhead
        var valid = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: Swift.max(count, 1)) { out, initialized in
            valid = sealed.withUnsafeBufferPointer { decrypt($0, associatedData, key, into: out.baseAddress!) }
            initialized = count
        }
        guard valid else { throw CryptoError.authenticationFailed }
        return plaintext
    }

    /// `open`, writing the plaintext into `output` (its contents are replaced; wiped on failure).
    public static func open(
        _ sealed: [UInt8], using key: SymmetricKey, authenticating associatedData: [UInt8] = [],
        into output: inout [UInt8]
    ) throws(CryptoError) {
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed }
        resize(&output, to: sealed.count - overhead)
        let valid = sealed.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                decrypt(input, associatedData, key, into: out.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!)
            }
        }
        guard valid else { throw CryptoError.authenticationFailed }
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
        guard ciphertextAndTag.count >= tagByteCount else { throw CryptoError.authenticationFailed }
        let sealed = Array(nonce) + Array(ciphertextAndTag)
        let symmetricKey = try SymmetricKey(bytes: SecureBytes(copying: key))
        return try open(sealed, using: symmetricKey, authenticating: associatedData)
    }

    /// Writes nonce ‖ ciphertext ‖ tag for `plaintext` to `out` (plaintext.count + overhead bytes).
    private static func encrypt(
        _ plaintext: [UInt8], _ associatedData: [UInt8], _ key: SymmetricKey, into out: UnsafeMutablePointer<UInt8>
    ) {
        Sodium.ensureInitialized()
        randombytes_buf(out, nonceByteCount)
        key.bytes.withUnsafeBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                out + nonceByteCount, nil, plaintext, UInt64(plaintext.count),
                associatedData, UInt64(associatedData.count), nil, out, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Writes the plaintext of `sealed` (at least `overhead` bytes) to `out`; false, with `out`
    /// wiped, when the tag does not verify.
    private static func decrypt(
        _ input: UnsafeBufferPointer<UInt8>, _ associatedData: [UInt8], _ key: SymmetricKey,
        into out: UnsafeMutablePointer<UInt8>
    ) -> Bool {
        Sodium.ensureInitialized()
        let count = input.count - overhead
        let status = key.bytes.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                out, nil, nil, input.baseAddress! + nonceByteCount, UInt64(input.count - nonceByteCount),
                associatedData, UInt64(associatedData.count), input.baseAddress!,
                k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        if status != 0 { sodium_memzero(out, count) }
        return status == 0
    }

    /// Makes `buffer` exactly `count` bytes long, keeping its storage when it is large enough.
    private static func resize(_ buffer: inout [UInt8], to count: Int) {
        if buffer.count > count {
            buffer.removeLast(buffer.count - count)
        } else if buffer.count < count {
            buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
        }
    }
}
