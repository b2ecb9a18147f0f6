import CaucusCrypto

/// Opens a file's blob (Protocol.md §9.7), fed in pieces as they arrive, into its plaintext chunks in order.
struct FileBlobReader: Sendable {
    /// Why a blob is refused: it was altered, reordered or cut short.
    enum Refusal: Error, Equatable {
        /// A piece that holds no bytes, or that is not whole sealed chunks though the blob goes on after it.
        case partialChunk
        /// The chunk at this index does not open with its index and last flag.
        case chunkDoesNotOpen(index: UInt64)
        /// The blob ended without a chunk sealed as its last.
        case noLastChunk
    }

    let cipher: FileChunkCipher
    /// Bytes of a whole sealed chunk: the chunk size and the AEAD's overhead.
    let sealedChunkSize: Int
    /// The index of the next chunk.
    private(set) var index: UInt64 = 0
    /// Whether the last chunk has been opened: the blob is whole.
    private(set) var finished = false

    /// A reader of a blob sealed in chunks of `chunkSize` plaintext bytes.
    init(cipher: FileChunkCipher, chunkSize: Int) {
        self.cipher = cipher
        sealedChunkSize = chunkSize + XChaCha20Poly1305.overhead
    }

    /// The plaintext chunks of `piece`, the blob's bytes after those already read: whole sealed
    /// chunks, of which the final one may be shorter when `reachesEnd` (the piece ends where the blob
    /// ends); that one must then be sealed as the last. All or nothing: a refused piece gives no
    /// chunk and leaves the reader as it was.
    mutating func open(_ piece: [UInt8], reachesEnd: Bool) throws(Refusal) -> [[UInt8]] {
        precondition(!finished, "a piece of a file's blob after its last chunk")
        guard !piece.isEmpty else { throw reachesEnd ? .noLastChunk : .partialChunk }
        var chunks = [[UInt8]]()
        var next = index, start = 0
        var refusal: Refusal?
        while start < piece.count {
            let end = min(start + sealedChunkSize, piece.count)
            let last = reachesEnd && end == piece.count
            guard end - start == sealedChunkSize || last else {
                refusal = .partialChunk
                break
            }
            guard let chunk = try? cipher.open(Array(piece[start..<end]), index: next, last: last) else {
                refusal = .chunkDoesNotOpen(index: next)
                break
            }
            chunks.append(chunk)
            next += 1
            start = end
        }
        if let refusal {
            for i in chunks.indices { wipe(&chunks[i]) }
            throw refusal
        }
        index = next
        finished = reachesEnd
        return chunks
    }
}
