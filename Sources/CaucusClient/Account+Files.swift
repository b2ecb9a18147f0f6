import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Files: encrypted in chunks, uploaded as a relay blob, offered in a conversation (Protocol.md §9.7).
/// Neither side ever holds a whole file in memory.
extension Account {
    /// Plaintext bytes per encrypted chunk.
    public static let fileChunkSize = 64 * 1024

    /// What `caucus read` and `caucus file get` know about a file.
    public struct FileInfo: Sendable, Equatable {
        public var id: String
        public var name: String
        public var size: UInt64
    }

    /// Progress of a transfer: bytes done, bytes in all.
    public typealias Progress = @Sendable (UInt64, UInt64) -> Void

    /// Encrypts and uploads the file at `path`, then offers it in `conversation`.
    public func sendFile(at path: String, to conversation: Conversation, progress: Progress? = nil) async throws(ClientError) -> FileInfo {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ClientError.file("cannot read \(path)") }
        defer { try? handle.close() }
        let size: UInt64
        do { size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0 } catch {
            throw ClientError.file("cannot read \(path): \(error.localizedDescription)")
        }
        let client = try await connected()
        let limit = Int(client.limits?.maxBlobChunkBytes ?? 256 << 10)
        let sealedChunk = Self.fileChunkSize + XChaCha20Poly1305.overhead
        let chunksPerRequest = max(1, limit / sealedChunk)
        let key = SymmetricKey()
        let blobID = Random.bytes(16)
        var writer = FileBlobWriter(cipher: FileChunkCipher(key: key, blobID: blobID), chunkSize: Self.fileChunkSize, size: size)
        var hasher = try! BLAKE2b.Hasher(outputByteCount: 32)
        var uploaded: UInt64 = 0
        do {
            while !writer.finished {
                var batch = [UInt8]()
                for _ in 0..<chunksPerRequest where !writer.finished {
                    var chunk = [UInt8](try handle.read(upToCount: Self.fileChunkSize) ?? Data())
                    defer { wipe(&chunk) }
                    hasher.update(chunk)
                    batch += writer.seal(chunk)
                }
                let last = writer.finished
                try await retrying {
                    try await client.putBlobChunk(blobID: Data(blobID), offset: uploaded, data: Data(batch), last: last)
                }
                uploaded += UInt64(batch.count)
                progress?(writer.done, size)
            }
        } catch let error as ClientError {
            throw error
        } catch let error as RelayError {
            throw ClientError.relayRefused(error.code == .quotaExceeded || error.code == .payloadTooLarge
                ? "the file is larger than the relay accepts (\(error.message))" : error.description)
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let name = (path as NSString).lastPathComponent
        let offer = FileOffer(blobID: blobID, key: key.bytes.withUnsafeBytes { Array($0) }, size: writer.done, chunkSize: UInt32(Self.fileChunkSize),
                              digest: hasher.finalize(), name: name)
        let outcome = try await deliver(to: conversation) { tx, stamp in
            (.file(stamp, offer), { tx in try self.storeFile(tx, offer, stamp: stamp, from: self.identity.publicKey, in: conversation) })
        }
        if case .refused(let why) = outcome { throw ClientError.relayRefused("\(why); the file was uploaded but not offered to anyone") }
        return FileInfo(id: Self.fileID(blobID), name: name, size: writer.done)
    }

    static func fileID(_ blobID: [UInt8]) -> String { Hex.encode(blobID.prefix(6)) }

    /// Keeps a file offer (its key sealed) and shows it in the conversation.
    nonisolated func storeFile(_ tx: StoreTransaction, _ offer: FileOffer, stamp: MessageStamp, from sender: Ed25519.PublicKey,
                               in conversation: Conversation) throws {
        let id = Self.fileID(offer.blobID)
        let expiresAt: Int64? = stamp.expirySeconds > 0 ? ClientStore.now() + Int64(stamp.expirySeconds) * 1000 : nil
        var encoded = Payload.file(stamp, offer).encoded()
        defer { wipe(&encoded) }
        try tx.saveFile(id, contents: encoded, in: conversation, expiresAt: expiresAt)
        let text = "file \(offer.name) (\(ByteCountText.describe(offer.size))): caucus file get \(id)"
        try addLine(tx, conversation, .file, text, sender: sender, sentAt: stamp.sentAt, fileID: id, expirySeconds: stamp.expirySeconds)
    }

    /// Downloads, decrypts and checks a file offered in a conversation, writing it to `path`
    /// (a directory means: the sender's file name inside it). Returns where it was written.
    public func getFile(_ id: String, to path: String, overwrite: Bool = false, progress: Progress? = nil) async throws(ClientError) -> (FileInfo, String) {
        let offer: FileOffer = try read { tx in
            guard var bytes = try tx.file(id) else { throw ClientError.unknownTarget(id) }
            defer { wipe(&bytes) }
            guard case .file(_, let offer) = try Payload(decoding: bytes) else { throw tx.damaged("a file record is not a file") }
            return offer
        }
        var isDirectory: ObjCBool = false
        var destination = path
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let safeName = offer.name.replacingOccurrences(of: "/", with: "_")
            destination = (path as NSString).appendingPathComponent(safeName.hasPrefix(".") ? "_" + safeName : safeName)
        }
        if !overwrite, FileManager.default.fileExists(atPath: destination) {
            throw ClientError.file("\(destination) already exists; choose another --output or pass --force")
        }
        let partial = destination + ".caucus-partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: partial)
        else { throw ClientError.file("cannot write \(partial)") }
        var finished = false
        defer {
            try? output.close()
            if !finished { try? FileManager.default.removeItem(atPath: partial) }
        }
        let client = try await connected()
        let limit = Int(client.limits?.maxBlobChunkBytes ?? 256 << 10)
        let key: SymmetricKey
        do { key = try SymmetricKey(bytes: SecureBytes(copying: offer.key)) } catch { throw ClientError.file("the file's key is invalid") }
        var reader = FileBlobReader(cipher: FileChunkCipher(key: key, blobID: offer.blobID), chunkSize: Int(offer.chunkSize))
        let perRequest = max(1, limit / reader.sealedChunkSize) * reader.sealedChunkSize
        var hasher = try! BLAKE2b.Hasher(outputByteCount: 32)
        var offset: UInt64 = 0, written: UInt64 = 0
        let refused = ClientError.file("the file \(offer.name) failed its integrity check (altered or cut short on the relay); nothing was kept")
        do {
            while !reader.finished {
                let part: BlobPiece
                do {
                    part = try await retrying {
                        try await client.getBlobChunk(blobID: Data(offer.blobID), offset: offset, length: UInt32(perRequest))
                    }
                } catch RelayClientError.unexpectedReply {
                    throw refused
                }
                offset += UInt64(part.data.count)
                var chunks: [[UInt8]]
                do { chunks = try reader.open(Array(part.data), reachesEnd: offset >= part.totalSize) } catch { throw refused }
                defer { for i in chunks.indices { wipe(&chunks[i]) } }
                for chunk in chunks {
                    hasher.update(chunk)
                    try output.write(contentsOf: chunk)
                    written += UInt64(chunk.count)
                }
                progress?(written, offer.size)
            }
        } catch let error as ClientError {
            throw error
        } catch let error as RelayError {
            throw error.code == .notFound ? ClientError.file("the relay no longer has \(offer.name) (expired or removed)") : ClientError.relayRefused(error.description)
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        guard written == offer.size, ConstantTime.equals(hasher.finalize(), offer.digest) else { throw refused }
        do {
            try output.synchronize()
            if overwrite { try? FileManager.default.removeItem(atPath: destination) }
            try FileManager.default.moveItem(atPath: partial, toPath: destination)
        } catch {
            throw ClientError.file("cannot write \(destination): \(error.localizedDescription)")
        }
        finished = true
        return (FileInfo(id: id, name: offer.name, size: written), destination)
    }
}
