import CSodium

/// HKDF-SHA-256 (RFC 5869), built on HMAC-SHA-256 because libsodium 1.0.18 has no HKDF.
public enum HKDF {
    /// The most output one expansion can give: 255 blocks of 32 bytes.
    public static let maximumOutputByteCount = 255 * HMACSHA256.byteCount

    /// Extract: a pseudorandom key from input keying material and an optional, non-secret salt.
    /// An empty salt means 32 zero bytes, as the RFC says.
    public static func extract(salt: [UInt8], inputKeyMaterial: SecureBytes) -> SecureBytes {
        let saltBytes = salt.isEmpty ? [UInt8](repeating: 0, count: HMACSHA256.byteCount) : salt
        return SecureBytes(count: HMACSHA256.byteCount) { prk in
            saltBytes.withUnsafeBytes { s in
                let state = HMACSHA256.State(key: s)
                inputKeyMaterial.withUnsafeBytes { state.update($0) }
                state.finalize(into: prk.baseAddress!)
            }
        }
    }

    /// Expand: `outputByteCount` bytes of keying material bound to `info`.
    public static func expand(
        pseudoRandomKey prk: SecureBytes, info: [UInt8], outputByteCount: Int
    ) throws(CryptoError) -> SecureBytes {
        guard outputByteCount <= maximumOutputByteCount else {
            throw CryptoError.outputTooLong(requested: outputByteCount, maximum: maximumOutputByteCount)
        }
        guard outputByteCount >= 0 else { throw CryptoError.invalidParameter("negative HKDF output length") }
        return prk.withUnsafeBytes { key in
            SecureBytes(count: outputByteCount) { out in
                // T(0) is empty; T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
                var block = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
                defer { wipe(&block) }
                var written = 0
                var counter: UInt8 = 1
                while written < outputByteCount {
                    let state = HMACSHA256.State(key: key)
                    if counter > 1 { state.update(block) }
                    state.update(info)
                    state.update([counter])
                    wipe(&block)
                    block = state.finalize()
                    let take = Swift.min(block.count, outputByteCount - written)
                    for i in 0..<take { out[written + i] = block[i] }
                    written += take
                    counter &+= 1
                }
            }
        }
    }

    /// Extract then expand in one step.
    public static func deriveKey(
        inputKeyMaterial: SecureBytes, salt: [UInt8], info: [UInt8], outputByteCount: Int
    ) throws(CryptoError) -> SecureBytes {
        try expand(pseudoRandomKey: extract(salt: salt, inputKeyMaterial: inputKeyMaterial),
                   info: info, outputByteCount: outputByteCount)
    }

    /// A 32-byte symmetric key, the common case.
    public static func deriveSymmetricKey(
        inputKeyMaterial: SecureBytes, salt: [UInt8], info: [UInt8]
    ) -> SymmetricKey {
        // 32 bytes is always within bounds, so neither call can throw.
        let bytes = try! deriveKey(inputKeyMaterial: inputKeyMaterial, salt: salt, info: info,
                                   outputByteCount: SymmetricKey.byteCount)
        return try! SymmetricKey(bytes: bytes)
    }
}

/// Overwrites a temporary array that held secret bytes.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { sodium_memzero(base, buffer.count) }
    }
}
