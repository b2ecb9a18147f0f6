/// Seals a file's plaintext, fed in chunks in the order it is read, into the sealed chunks of its blob (Protocol.md §9.7).
struct FileBlobWriter: Sendable {
    let cipher: FileChunkCipher
    /// Plaintext bytes per chunk; every chunk fed is this long except the file's last.
    let chunkSize: Int
    /// The file's size when it was opened.
    let size: UInt64
    /// The index of the next chunk.
    private(set) var index: UInt64 = 0
    /// Plaintext bytes sealed so far.
    private(set) var done: UInt64 = 0
    /// Whether the last chunk has been sealed: the blob is whole.
    private(set) var finished = false

    init(cipher: FileChunkCipher, chunkSize: Int, size: UInt64) {
        self.cipher = cipher
        self.chunkSize = chunkSize
        self.size = size
    }

    /// Seals the next `chunk` (at most `chunkSize` bytes, all that was left when shorter). It is the
    /// last when it is shorter than `chunkSize` or completes `size`: a file whose size is a multiple
    /// of the chunk size ends with a full chunk, and an empty file is one empty chunk.
    mutating func seal(_ chunk: [UInt8]) -> [UInt8] {
        precondition(!finished && chunk.count <= chunkSize, "a file chunk after the last, or longer than the chunk size")
        done += UInt64(chunk.count)
        finished = chunk.count < chunkSize || done == size
        defer { index += 1 }
        return cipher.seal(chunk, index: index, last: finished)
    }
}
