// A disk that fills up on demand, for the full-disk test and the soak's full-disk client.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tmpfs of a fixed size mounted on a directory (mounting needs root), and a file that fills it.
public struct SmallDisk: Sendable {
    /// Why the disk could not be mounted or filled.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The directory the tmpfs is mounted on.
    public let path: String
    /// The file that takes up the space `fill()` leaves none of.
    public var filler: String { (path as NSString).appendingPathComponent("filler") }

    /// Mounts a tmpfs of `bytes` on `path` (made if missing).
    public init(at path: String, bytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            let reason = String(cString: strerror(errno))
            throw Failure(description: "cannot mount a tmpfs on \(path): \(reason)\(errno == EPERM ? " (mounting needs root)" : "")")
        }
    }

    /// Writes the filler until the disk has no space left.
    public func fill() throws {
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xA5, count: 4_096)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        guard errno == ENOSPC else {
            throw Failure(description: "filling \(path) stopped for another reason: \(String(cString: strerror(errno)))")
        }
    }

    /// Deletes the filler: the space is free again.
    public func emptyFiller() { unlink(filler) }

    /// Unmounts the tmpfs (lazily, so that files still open do not keep it mounted) and removes
    /// the directory it was mounted on when that is empty.
    public func unmount() {
        umount2(path, Int32(MNT_DETACH))
        rmdir(path)
    }
}

extension SmallDisk {
    /// Whether this process may mount one (root). Under CI=true a machine that cannot fails the run.
    public static let canMount: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-mount-probe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard let disk = try? SmallDisk(at: probe, bytes: 1 << 20) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                fatalError("CI=true but a tmpfs cannot be mounted here: the full-disk test would not run")
            }
            print("note: cannot mount a tmpfs (not root?); the full-disk suite is skipped")
            return false
        }
        disk.unmount()
        return true
    }()
}
