import CaucusCrypto
import CaucusLock
import Foundation
import GRDB

/// Why the store could not do what was asked, for the person at the keyboard.
public enum StoreError: Error, Equatable, Sendable {
    /// The store cannot be opened or read: damaged, or not this identity's store.
    case damaged(path: String, reason: String)
    /// The store cannot be written now (a full disk, another process, permissions); nothing in it is damaged.
    case unavailable(path: String, reason: String)
}

/// The client's local SQLite store (Protocol.md §9.6). Everything a thief could learn something
/// from is sealed with XChaCha20-Poly1305 under a key derived from the identity, which only the
/// passphrase unlocks; rows are found by keyed hashes ("tags"), never by names or DIDs in clear.
/// Each sealed value is bound to its table and row, so values cannot be swapped between rows.
///
/// This layer owns every table, every SQL statement and every seal; what it hands out and takes
/// in are typed records (`StoreTransaction`). It makes no protocol decisions.
public final class ClientStore: Sendable {
    public static let fileName = "store.sqlite"
    static let checkValue = Array("caucus/local-store/v1".utf8)

    public let path: String
    let queue: DatabaseQueue
    private let sealKey: SymmetricKey
    private let tagKey: SecureBytes
    /// Group states decoded from the store, by row tag, with the generation token of the row they
    /// were read from or written as (`groupRow`, `saveGroup`).
    let groupCache = Locked<[Data: (generation: Int64, session: GroupSession)]>([:])
    /// What this process queued in the outbox, by entry id, so that sending it does not read back
    /// and open what was just sealed and written (`enqueue`, `firstOutboxEntry`). An entry's
    /// contents never change; one whose transaction rolled back is never read, as no row has its id.
    let outboxCache = Locked<[Data: (kind: OutboxKind, body: [UInt8])]>([:])

    /// Opens (or creates) the store at `path` for `identity`. A store made by another identity, or
    /// a file that is not a SQLite database, is refused without being changed.
    public init(path: String, identity: Ed25519.PrivateKey) throws(StoreError) {
        self.path = path
        let seed = identity.seed
        sealKey = HKDF.deriveSymmetricKey(inputKeyMaterial: seed, salt: Array("caucus/local-store/v1".utf8), info: Array("seal".utf8))
        tagKey = HKDF.deriveSymmetricKey(inputKeyMaterial: seed, salt: Array("caucus/local-store/v1".utf8), info: Array("tag".utf8)).bytes
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(Double(Self.busyMilliseconds) / 1000)
        configuration.label = "caucus.store"
        // Takes effect when the file is created (before GRDB turns WAL on), and for `convertPages`.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA page_size = \(Self.pageSize)") }
        do {
            let existed = FileManager.default.fileExists(atPath: path)
            queue = try DatabaseQueue(path: path, configuration: configuration)
            if existed {
                // Refuse a damaged file before the migrator writes anything to it.
                let result = try queue.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }
                guard result == "ok" else { throw StoreError.damaged(path: path, reason: "SQLite integrity check failed: \(result ?? "no answer")") }
            }
            // GRDB's WAL set-up runs `PRAGMA synchronous = NORMAL` after `prepareDatabase`; FULL
            // is set on the open connection, so the WAL is synced at each commit and a delivery
            // is acknowledged only once it would survive an OS crash (Protocol.md §9.9).
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                    throw DatabaseError(message: "SQLite refused synchronous = FULL")
                }
            }
            try Self.migrator.migrate(queue)
            if existed { Self.convertPages(queue) }
            chmod(path, 0o600)
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path)
        }
        try checkOwner()
    }

    /// The store's page size. A commit writes every page it changed, whole, to the log, and a
    /// message changes a few small rows in several tables: at SQLite's default of 4 KiB a group
    /// message wrote 28 to 36 KiB (`scripts/bench-group`), at 512 bytes 6 to 7.
    static let pageSize = 512

    /// Rewrites a store made with another page size (an older client's 4 KiB) into `pageSize`
    /// pages, once. SQLite changes a page size only by VACUUM outside WAL mode, which needs the
    /// file to itself, so it does not wait for other connections. Best effort: if it cannot
    /// (another process has the store open, the disk is full), the store stays as it was and
    /// works, and the next open tries again.
    static func convertPages(_ queue: DatabaseQueue) {
        try? queue.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA page_size") != pageSize else { return }
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer {
                _ = try? String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                try? db.execute(sql: "PRAGMA busy_timeout = \(busyMilliseconds)")
            }
            guard try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") == "delete" else { return }
            try db.execute(sql: "PRAGMA page_size = \(pageSize)")
            try db.execute(sql: "VACUUM")
        }
    }

    /// How long a statement waits for another process's lock on the store.
    static let busyMilliseconds = 15_000

    /// The first open writes a check value; later opens must read it back with this identity's key.
    private func checkOwner() throws(StoreError) {
        let check = Array("check".utf8)
        do {
            let sealed = try queue.read { db in try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'check'") }
            if let sealed {
                guard let value = try? open(Array(sealed), table: "meta", tag: check), value == Self.checkValue else {
                    throw StoreError.damaged(path: path, reason: "it belongs to another identity or was altered")
                }
                return
            }
            try queue.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO meta (key, value) VALUES ('check', ?)",
                               arguments: [Data(seal(Self.checkValue, table: "meta", tag: check))])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.failure(error, path: path)
        }
    }

    // MARK: Sealing

    /// A keyed hash that names a row without revealing what it is about.
    public func tag(_ value: [UInt8]) -> [UInt8] {
        tagKey.withUnsafeBytes { key in try! BLAKE2b.hash(value, outputByteCount: 16, key: Array(key)) }
    }

    public func tag(_ text: String) -> [UInt8] { tag(Array(text.utf8)) }

    /// The tag a conversation's rows are found by.
    public func tag(_ conversation: Conversation) -> [UInt8] { tag(conversation.key) }

    func seal(_ plaintext: [UInt8], table: String, tag: [UInt8]) -> [UInt8] {
        XChaCha20Poly1305.seal(plaintext, using: sealKey, authenticating: Self.binding(table, tag))
    }

    func open(_ sealed: [UInt8], table: String, tag: [UInt8]) throws(StoreError) -> [UInt8] {
        do {
            return try XChaCha20Poly1305.open(sealed, using: sealKey, authenticating: Self.binding(table, tag))
        } catch {
            throw StoreError.damaged(path: path, reason: "a sealed value in table \(table) does not authenticate")
        }
    }

    func sealJSON<T: Encodable>(_ value: T, table: String, tag: [UInt8]) -> Data {
        var bytes = Array(try! JSONEncoder().encode(value))
        defer { wipe(&bytes) }
        return Data(seal(bytes, table: table, tag: tag))
    }

    func openJSON<T: Decodable>(_ type: T.Type, _ sealed: Data, table: String, tag: [UInt8]) throws(StoreError) -> T {
        var bytes = try open(Array(sealed), table: table, tag: tag)
        defer { wipe(&bytes) }
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw StoreError.damaged(path: path, reason: "a record in table \(table) cannot be read")
        }
    }

    func sealSecret(_ secret: SecureBytes, table: String, tag: [UInt8]) -> Data {
        var bytes = secret.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        return Data(seal(bytes, table: table, tag: tag))
    }

    func openSecret(_ sealed: Data, table: String, tag: [UInt8]) throws(StoreError) -> SecureBytes {
        var bytes = try open(Array(sealed), table: table, tag: tag)
        defer { wipe(&bytes) }
        return SecureBytes(copying: bytes)
    }

    private static func binding(_ table: String, _ tag: [UInt8]) -> [UInt8] {
        checkValue + [UInt8(table.utf8.count)] + Array(table.utf8) + tag
    }

    // MARK: Transactions

    /// Runs `body` in one write transaction: all it wrote, or nothing. A SQLite failure comes out
    /// as `StoreError`; what `body` throws comes out as it is.
    public func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        do { return try queue.write { db in try body(StoreTransaction(db: db, store: self)) } } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
    }

    /// Runs `body` with a consistent view of the store, writing nothing.
    public func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        do { return try queue.read { db in try body(StoreTransaction(db: db, store: self)) } } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
    }

    // MARK: Errors

    /// What a SQLite failure means for the user: a damaged file, or a store that cannot be
    /// written right now (which must never be answered by moving the store aside).
    static func failure(_ error: any Error, path: String) -> StoreError {
        guard let error = error as? DatabaseError else { return .damaged(path: path, reason: "\(error)") }
        switch error.resultCode {
        case .SQLITE_NOTADB: return .damaged(path: path, reason: "it is not a SQLite database (damaged or replaced)")
        case .SQLITE_CORRUPT: return .damaged(path: path, reason: "the database file is corrupt")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .unavailable(path: path, reason: "another caucus process holds it locked")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN: return .unavailable(path: path, reason: "it cannot be opened for writing (permissions?)")
        case .SQLITE_FULL: return .unavailable(path: path, reason: "the disk is full")
        default:
            // SQLite reports a write that found no space while growing its shared-memory or
            // journal files as a plain I/O error: ask the file system.
            if error.resultCode == .SQLITE_IOERR, isFull(directoryOf: path) { return .unavailable(path: path, reason: "the disk is full") }
            return .unavailable(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// Whether the file system holding `path` has less than 64 KiB left for this user.
    static func isFull(directoryOf path: String) -> Bool {
        var stats = statvfs()
        guard statvfs((path as NSString).deletingLastPathComponent, &stats) == 0 else { return false }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize) < 64 << 10
    }

    /// The local clock, in Unix milliseconds.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
