import CaucusCrypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The identity keystore on disk: one file, mode 0600, replaced only atomically.
///
/// A write goes to a fresh temporary file in the same directory, is flushed with `fsync`, and then
/// takes the final name in one step (`link` for a new keystore, `rename` to replace one), so a crash
/// or a full disk leaves either the old file or the new one, never a half-written file.
public struct Keystore: Sendable {
    /// The largest file read before giving up; a keystore is `KeystoreFormat.fileByteCount` bytes.
    static let maximumFileByteCount = 64 * 1024

    /// Path of the keystore file.
    public let path: String

    /// A keystore at `path`; nothing is read or written yet.
    public init(path: String) {
        self.path = path
    }

    /// Whether a file exists at the keystore's path.
    public var exists: Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Seals `identity` under `passphrase` and writes a new keystore; refuses to overwrite one.
    public func create(
        _ identity: Ed25519.PrivateKey, passphrase: Passphrase,
        parameters: Argon2id.Parameters = .moderate
    ) throws {
        let bytes = try KeystoreFormat.seal(identity, passphrase: passphrase, parameters: parameters)
        try write(bytes, replacing: false)
    }

    /// Opens the keystore with `passphrase`.
    public func load(passphrase: Passphrase) throws -> Ed25519.PrivateKey {
        try KeystoreFormat.open(readFile(), passphrase: passphrase)
    }

    /// Re-seals the identity under a new passphrase, atomically replacing the file.
    public func changePassphrase(
        from old: Passphrase, to new: Passphrase, parameters: Argon2id.Parameters = .moderate
    ) throws {
        let identity = try load(passphrase: old)
        let bytes = try KeystoreFormat.seal(identity, passphrase: new, parameters: parameters)
        try write(bytes, replacing: true)
    }

    /// Reads the whole file, refusing anything but a private regular file of plausible size.
    func readFile() throws(KeystoreFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .notFound(path: path) }
            throw .system(operation: "open", path: path, errno: code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(operation: "stat", path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        let permissions = UInt32(info.st_mode) & 0o777
        guard permissions & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: permissions) }
        guard Int(info.st_size) <= Self.maximumFileByteCount else {
            throw .tooLarge(path: path, byteCount: Int(info.st_size))
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .system(operation: "read", path: path, errno: errno) }
            if n == 0 { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }

    /// Writes `bytes` to a temporary file and moves it into place; on any failure the temporary
    /// file is removed and the existing keystore, if any, is untouched.
    func write(_ bytes: [UInt8], replacing: Bool) throws(KeystoreFileError) {
        if !replacing && exists { throw .alreadyExists(path: path) }
        let directory = Self.directory(of: path)
        let suffix = Hex.encode(Random.bytes(8))
        let temporary = "\(path).tmp-\(suffix)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(operation: "create", path: temporary, errno: errno) }
        var moved = false
        defer { if !moved { unlink(temporary) } }
        do {
            defer { close(fd) }
            // The umask cannot widen 0600, but make the mode explicit in case it was narrowed oddly.
            guard fchmod(fd, 0o600) == 0 else { throw KeystoreFileError.system(operation: "chmod", path: temporary, errno: errno) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw KeystoreFileError.system(operation: "write", path: temporary, errno: errno) }
                written += n
            }
            guard fsync(fd) == 0 else { throw KeystoreFileError.system(operation: "fsync", path: temporary, errno: errno) }
        }
        if replacing {
            guard rename(temporary, path) == 0 else { throw .system(operation: "rename", path: path, errno: errno) }
        } else {
            // link() fails if the name exists, so a keystore that appeared meanwhile is never overwritten.
            guard link(temporary, path) == 0 else {
                let code = errno
                if code == EEXIST { throw .alreadyExists(path: path) }
                throw .system(operation: "link", path: path, errno: code)
            }
            unlink(temporary)
        }
        moved = true
        Self.syncDirectory(directory)
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Makes the new directory entry durable; failure here only weakens durability, not correctness.
    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

/// Why the keystore file could not be read or written. Names paths, never secrets.
public enum KeystoreFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No file at the path.
    case notFound(path: String)
    /// `create` found a keystore already there.
    case alreadyExists(path: String)
    /// The path is a directory, device, or similar.
    case notARegularFile(path: String)
    /// Group or others may read or write the file; like ssh, Caucus refuses to use it.
    case insecurePermissions(path: String, mode: UInt32)
    /// The file is far larger than a keystore.
    case tooLarge(path: String, byteCount: Int)
    /// A system call failed.
    case system(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "no keystore at \(path)"
        case .alreadyExists(let path):
            return "a keystore already exists at \(path); refusing to overwrite it"
        case .notARegularFile(let path):
            return "\(path) is not a regular file"
        case let .insecurePermissions(path, mode):
            return "keystore \(path) has permissions \(String(mode, radix: 8)); it must be 600 (run: chmod 600 \(path))"
        case let .tooLarge(path, count):
            return "\(path) is \(count) bytes, far too large for a keystore"
        case let .system(operation, path, code):
            return "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        }
    }
}
