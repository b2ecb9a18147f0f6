import CaucusCrypto

/// Seals and opens the chunks of one file's blob (Protocol.md §9.7), each bound to the blob, its index and whether it is the last.
struct FileChunkCipher: Sendable {
    /// The label that starts every chunk's associated data.
    static let context = Array("caucus/file-chunk/v1".utf8)

    /// The file key, random for each file.
    let key: SymmetricKey
    /// The blob's id on the relay (16 bytes).
    let blobID: [UInt8]

    /// `"caucus/file-chunk/v1" ‖ blob id ‖ u64 index ‖ u8 last`.
    func associatedData(index: UInt64, last: Bool) -> [UInt8] {
        Self.context + blobID + withUnsafeBytes(of: index.bigEndian, Array.init) + [last ? 1 : 0]
    }

    /// The sealed chunk for plaintext `chunk` at `index`.
    func seal(_ chunk: [UInt8], index: UInt64, last: Bool) -> [UInt8] {
        XChaCha20Poly1305.seal(chunk, using: key, authenticating: associatedData(index: index, last: last))
    }

    /// The plaintext of `sealed`; throws unless it was sealed with this key and blob, at `index`, with this last flag.
    func open(_ sealed: [UInt8], index: UInt64, last: Bool) throws(CryptoError) -> [UInt8] {
        try XChaCha20Poly1305.open(sealed, using: key, authenticating: associatedData(index: index, last: last))
    }
}
