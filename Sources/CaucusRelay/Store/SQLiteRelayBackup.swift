import Foundation
import GRDB

/// A consistent copy of a relay's SQLite store, taken with SQLite's online backup API while the
/// relay may be running and writing (README: backup and restore).
public enum SQLiteRelayBackup {
    /// What a backup did.
    public struct Report: Sendable, Equatable {
        /// The copy's path.
        public var destination: String
        /// The copy's size in bytes.
        public var bytes: UInt64
        /// Database pages copied.
        public var pages: Int
    }

    /// Why a backup was not made.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// There is no relay store at the path.
        case noStore(String)
        /// The destination exists and overwriting was not asked for.
        case destinationExists(String)
        /// SQLite failed to read the store or write the copy.
        case sqlite(String)
        /// The copy did not pass `PRAGMA quick_check` (it was deleted).
        case damagedCopy(String)

        public var description: String {
            switch self {
            case .noStore(let path): "no relay store at \(path) (is --data-dir the relay's data directory?)"
            case .destinationExists(let path): "\(path) already exists; give --force to overwrite it"
            case .sqlite(let reason): "the backup failed: \(reason)"
            case .damagedCopy(let reason): "the copy failed its integrity check and was deleted: \(reason)"
            }
        }
    }

    /// Copies the store at `source` to `destination` in one read transaction (so the copy is the
    /// store as one commit left it), checks the copy with `PRAGMA quick_check`, syncs it and only
    /// then gives it its name. Refuses an existing destination unless `overwrite`.
    public static func backup(from source: String, to destination: String, overwrite: Bool = false) throws(Failure) -> Report {
        let files = FileManager.default
        guard files.fileExists(atPath: source) else { throw .noStore(source) }
        if !overwrite, files.fileExists(atPath: destination) { throw .destinationExists(destination) }
        let partial = destination + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        defer { try? files.removeItem(atPath: partial) }
        let pages: Int
        do {
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(10)
            // A pool reads from a WAL snapshot without blocking the relay's writer.
            let store = try DatabasePool(path: source, configuration: readOnly)
            guard try store.read({ db in try db.tableExists("groups") && db.tableExists("deliveries") }) else {
                throw Failure.noStore(source)
            }
            // The copy holds every payload the store does: only its owner may read it (0600).
            SQLiteRelayStore.createOwnerOnly(partial)
            let copy = try DatabaseQueue(path: partial)
            var copied = 0
            try store.backup(to: copy) { progress in copied = progress.totalPageCount }
            pages = copied
            let check = try copy.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else { throw Failure.damagedCopy(check.prefix(5).joined(separator: "; ")) }
            // The copy holds everything in its main file: no WAL travels with it.
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try copy.close()
            try store.close()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .sqlite("\(error)")
        }
        for suffix in ["-wal", "-shm"] { try? files.removeItem(atPath: partial + suffix) }
        guard rename(partial, destination) == 0 else { throw .sqlite("cannot rename the copy to \(destination): \(String(cString: strerror(errno)))") }
        syncDirectory(of: destination)
        let bytes = ((try? files.attributesOfItem(atPath: destination))?[.size] as? UInt64) ?? 0
        return Report(destination: destination, bytes: bytes, pages: pages)
    }

    /// Makes a rename durable.
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
