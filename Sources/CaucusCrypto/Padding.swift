import CSodium

/// ISO/IEC 7816-4 padding to a multiple of a block size (libsodium `sodium_pad`), so that
/// ciphertext lengths reveal only a size bucket.
public enum Padding {
    /// `bytes` followed by 0x80 and zeros up to the next multiple of `blockSize` (always adds 1...blockSize bytes).
    public static func pad(_ bytes: [UInt8], blockSize: Int) throws(CryptoError) -> [UInt8] {
        guard blockSize > 0 else { throw CryptoError.invalidParameter("block size must be positive") }
        Sodium.ensureInitialized()
        // sodium_pad always adds 1...blockSize bytes, so this capacity is exactly the padded size.
        let capacity = bytes.count + blockSize - bytes.count % blockSize
        var out = [UInt8]()
        out.reserveCapacity(capacity)
        out.append(contentsOf: bytes)
        out.append(contentsOf: repeatElement(0, count: capacity - bytes.count))
        var padded = 0
        let status = out.withUnsafeMutableBufferPointer { buffer in
            sodium_pad(&padded, buffer.baseAddress!, bytes.count, blockSize, capacity)
        }
        guard status == 0, padded == capacity else { throw CryptoError.invalidParameter("padding does not fit") }
        return out
    }

    /// The original bytes of a padded buffer; throws `invalidPadding` if the padding is malformed.
    public static func unpad(_ padded: [UInt8], blockSize: Int) throws(CryptoError) -> [UInt8] {
        var content = padded
        try unpad(&content, blockSize: blockSize)
        return content
    }

    /// `unpad` in place, without copying the content.
    static func unpad(_ padded: inout [UInt8], blockSize: Int) throws(CryptoError) {
        guard blockSize > 0 else { throw CryptoError.invalidParameter("block size must be positive") }
        guard !padded.isEmpty, padded.count % blockSize == 0 else { throw CryptoError.invalidPadding }
        Sodium.ensureInitialized()
        var unpadded = 0
        guard sodium_unpad(&unpadded, padded, padded.count, blockSize) == 0 else { throw CryptoError.invalidPadding }
        padded.removeLast(padded.count - unpadded)
    }
}
