import CaucusCrypto
import CaucusLock
import Foundation

/// A file only its owner may read, such as an organizer's report that names people.
public enum PrivateFile {
    /// Writes `bytes` to `path` with mode 0600 from its first byte: into a new file beside it,
    /// synced, then renamed over `path` (so a file already there is replaced whole, never widened).
    /// The blocking calls run off Swift's cooperative pool.
    public static func write(_ bytes: [UInt8], to path: String) async throws(ClientError) {
        try await offCooperativePool { () throws(ClientError) in try writeBlocking(bytes, to: path) }
    }

    static func writeBlocking(_ bytes: [UInt8], to path: String) throws(ClientError) {
        let temporary = "\(path).tmp-\(Hex.encode(Random.bytes(6)))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ClientError.file("cannot create \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(bytes))
            try handle.synchronize()
            try handle.close()
        } catch {
            unlink(temporary)
            throw ClientError.file("cannot write \(path): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ClientError.file("cannot write \(path): \(reason)")
        }
    }
}
