import CaucusCrypto
import Foundation
import GRDB

/// The client's local SQLite store (Protocol.md §9.6). Everything a thief could learn something
/// from is sealed with XChaCha20-Poly1305 under a key derived from the identity, which only the
/// passphrase unlocks; rows are found by keyed hashes ("tags"), never by names or DIDs in clear.
/// Each sealed value is bound to its table and row, so values cannot be swapped between rows.
final class ClientStore: Sendable {
    static let fileName = "store.sqlite"
    static let checkValue = Array("caucus/local-store/v1".utf8)

    let path: String
    let queue: DatabaseQueue
    private let sealKey: SymmetricKey
    private let tagKey: SecureBytes

    /// Opens (or creates) the store at `path` for `identity`. A store made by another identity, or
    /// a file that is not a SQLite database, is refused without being changed.
    init(path: String, identity: Ed25519.PrivateKey) throws(ClientError) {
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
                guard result == "ok" else { throw ClientError.damagedStore(path: path, reason: "SQLite integrity check failed: \(result ?? "no answer")") }
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
        } catch let error as ClientError {
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

    /// Schema changes, append-only.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE relays (url TEXT PRIMARY KEY, position INTEGER NOT NULL);
                CREATE TABLE prekeys (kind INTEGER NOT NULL, id INTEGER NOT NULL, sealed BLOB NOT NULL,
                                      created_at INTEGER NOT NULL, PRIMARY KEY (kind, id));
                CREATE TABLE sessions (peer BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE contacts (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE groups (tag BLOB PRIMARY KEY, info BLOB NOT NULL, state BLOB NOT NULL, routing BLOB);
                CREATE TABLE conversations (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, conversation BLOB NOT NULL,
                                       sealed BLOB NOT NULL, at INTEGER NOT NULL, unread INTEGER NOT NULL,
                                       expires_at INTEGER);
                CREATE INDEX messages_by_conversation ON messages (conversation, seq);
                CREATE INDEX messages_unread ON messages (unread) WHERE unread = 1;
                CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;
                CREATE TABLE files (short TEXT PRIMARY KEY, conversation BLOB NOT NULL, sealed BLOB NOT NULL,
                                    expires_at INTEGER);
                CREATE TABLE processed (id BLOB PRIMARY KEY, at INTEGER NOT NULL);
                CREATE TABLE outbox (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
                                     expires_at INTEGER);
                CREATE TABLE invites (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, expires_at INTEGER NOT NULL,
                                      used INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE deferred (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v2-campaigns") { db in
            try db.execute(sql: """
                CREATE TABLE campaigns (tag BLOB PRIMARY KEY, record BLOB NOT NULL, card_key BLOB,
                                        conversation BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE TABLE my_cards (item_id BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL,
                                       at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v3-receipts") { db in
            try db.execute(sql: """
                CREATE TABLE receipts_sent (tag BLOB PRIMARY KEY, at INTEGER NOT NULL);
                CREATE TABLE my_receipts (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v4-early-epoch-keys") { db in
            // Epoch keys that came before the membership change they belong to (§9.3).
            try db.execute(sql: """
                CREATE TABLE early_epoch_keys (tag BLOB PRIMARY KEY, group_tag BLOB NOT NULL, author BLOB NOT NULL,
                                               sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v5-kept-epoch-keys") { db in
            // The epoch keys of this admin's removals, handed out again after a relay restore (§9.10).
            try db.execute(sql: """
                CREATE TABLE kept_epoch_keys (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v6-unopened-deliveries") { db in
            // Relay message ids whose copies failed to open so far, and how often (§9.6).
            try db.execute(sql: """
                CREATE TABLE unopened (id BLOB PRIMARY KEY, attempts INTEGER NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v7-unconfirmed-starts") { db in
            // Texts and file offers sent as session starts the peer has not answered in yet, kept
            // sealed to be sent again if the peer could not open them (§9.6).
            try db.execute(sql: """
                CREATE TABLE unconfirmed_starts (seq INTEGER PRIMARY KEY AUTOINCREMENT, peer BLOB NOT NULL,
                                                 sealed BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE INDEX unconfirmed_starts_peer ON unconfirmed_starts (peer, seq);
                """)
        }
        migrator.registerMigration("v8-receipts-due") { db in
            // Receipts the organizers' last `cards receipts` found due and has not sent yet (§10.6).
            try db.execute(sql: """
                CREATE TABLE receipts_due (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE INDEX receipts_due_campaign ON receipts_due (campaign);
                """)
        }
        migrator.registerMigration("v9-tally-proofs") { db in
            // A signer's newest tally proof per card (tag of the card hash), and, on an organizer's
            // side, the statement root each card's signer was last sent a proof under (§10.10).
            try db.execute(sql: """
                CREATE TABLE tally_proofs (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, tallied_at INTEGER NOT NULL, sealed BLOB NOT NULL);
                CREATE INDEX tally_proofs_campaign ON tally_proofs (campaign);
                CREATE TABLE tally_proofs_sent (tag BLOB PRIMARY KEY, root BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v10-relay-ca-files") { db in
            // The CA certificate (PEM file) a wss:// relay was added with, trusted for it from then on.
            try db.execute(sql: "ALTER TABLE relays ADD COLUMN ca_file TEXT")
        }
        migrator.registerMigration("v11-group-generations") { db in
            // A random token, new at every change of the row, in clear: a client keeps the decoded
            // group state while the row still has the token it read (0: not yet written since).
            try db.execute(sql: "ALTER TABLE groups ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v12-group-state-in-parts") { db in
            // A group's state in parts (Protocol.md §8.5, version 2): `groups.state` holds the core,
            // these the membership entries (one row each) and the remembered hashes (pages of 64),
            // so that a group message rewrites a page, not the whole chain. Rows of a group whose
            // `state` is still version 1 are empty until its next change.
            try db.execute(sql: """
                CREATE TABLE group_entries (grp BLOB NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL,
                                            PRIMARY KEY (grp, seq)) WITHOUT ROWID;
                CREATE TABLE group_seen (grp BLOB NOT NULL, page INTEGER NOT NULL, sealed BLOB NOT NULL,
                                         PRIMARY KEY (grp, page)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v13-no-random-indexes") { db in
            // Ids are random, so a unique index on them put each new row on a page of its own: the
            // outbox's cost every message sent 2 pages more, `processed`'s every message received.
            // The outbox is taken in row order and holds few entries (found by id only to check
            // that one is still queued); `processed` is looked up by id, so it becomes that index.
            try db.execute(sql: """
                CREATE TABLE outbox_new (id BLOB NOT NULL, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
                                         expires_at INTEGER);
                INSERT INTO outbox_new (rowid, id, sealed, created_at, expires_at)
                    SELECT rowid, id, sealed, created_at, expires_at FROM outbox;
                DROP TABLE outbox;
                ALTER TABLE outbox_new RENAME TO outbox;
                CREATE TABLE processed_new (id BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO processed_new (id, at) SELECT id, at FROM processed;
                DROP TABLE processed;
                ALTER TABLE processed_new RENAME TO processed;
                """)
        }
        migrator.registerMigration("v14-group-chains-apart") { db in
            // A group's state, version 3 (Protocol.md §8.5): the core in a row of its own, written
            // when it changes; each sender chain in a row of its own; the tip (latest hashes, the
            // ring's counts) in the group's row. A message rewrites one chain, the tip, one page
            // of remembered hashes, not every writer's chain. `groups.state` is empty for such a
            // group, and still holds the core or whole state of an older client's version 1 or 2.
            // Tables with row ids: a row there may be as large as a page holds.
            try db.execute(sql: """
                ALTER TABLE groups ADD COLUMN tip BLOB;
                CREATE TABLE group_cores (grp BLOB NOT NULL UNIQUE, sealed BLOB NOT NULL);
                CREATE TABLE group_chains (grp BLOB NOT NULL, epoch INTEGER NOT NULL, member BLOB NOT NULL,
                                           sealed BLOB NOT NULL, UNIQUE (grp, epoch, member));
                """)
        }
        return migrator
    }

    /// The first open writes a check value; later opens must read it back with this identity's key.
    private func checkOwner() throws(ClientError) {
        let check = Array("check".utf8)
        do {
            let sealed = try queue.read { db in try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'check'") }
            if let sealed {
                guard let value = try? open(Array(sealed), table: "meta", tag: check), value == Self.checkValue else {
                    throw ClientError.damagedStore(path: path, reason: "it belongs to another identity or was altered")
                }
                return
            }
            try queue.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO meta (key, value) VALUES ('check', ?)",
                               arguments: [Data(seal(Self.checkValue, table: "meta", tag: check))])
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw Self.failure(error, path: path)
        }
    }

    // MARK: Sealing

    /// A keyed hash that names a row without revealing what it is about.
    func tag(_ value: [UInt8]) -> [UInt8] {
        tagKey.withUnsafeBytes { key in try! BLAKE2b.hash(value, outputByteCount: 16, key: Array(key)) }
    }

    func tag(_ text: String) -> [UInt8] { tag(Array(text.utf8)) }

    func seal(_ plaintext: [UInt8], table: String, tag: [UInt8]) -> [UInt8] {
        XChaCha20Poly1305.seal(plaintext, using: sealKey, authenticating: Self.binding(table, tag))
    }

    func open(_ sealed: [UInt8], table: String, tag: [UInt8]) throws(ClientError) -> [UInt8] {
        do {
            return try XChaCha20Poly1305.open(sealed, using: sealKey, authenticating: Self.binding(table, tag))
        } catch {
            throw ClientError.damagedStore(path: path, reason: "a sealed value in table \(table) does not authenticate")
        }
    }

    func sealJSON<T: Encodable>(_ value: T, table: String, tag: [UInt8]) -> Data {
        var bytes = Array(try! JSONEncoder().encode(value))
        defer { wipe(&bytes) }
        return Data(seal(bytes, table: table, tag: tag))
    }

    func openJSON<T: Decodable>(_ type: T.Type, _ sealed: Data, table: String, tag: [UInt8]) throws(ClientError) -> T {
        var bytes = try open(Array(sealed), table: table, tag: tag)
        defer { wipe(&bytes) }
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw ClientError.damagedStore(path: path, reason: "a record in table \(table) cannot be read")
        }
    }

    func sealSecret(_ secret: SecureBytes, table: String, tag: [UInt8]) -> Data {
        var bytes = secret.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        return Data(seal(bytes, table: table, tag: tag))
    }

    func openSecret(_ sealed: Data, table: String, tag: [UInt8]) throws(ClientError) -> SecureBytes {
        var bytes = try open(Array(sealed), table: table, tag: tag)
        defer { wipe(&bytes) }
        return SecureBytes(copying: bytes)
    }

    private static func binding(_ table: String, _ tag: [UInt8]) -> [UInt8] {
        checkValue + [UInt8(table.utf8.count)] + Array(table.utf8) + tag
    }

    // MARK: Errors

    /// Runs a store operation, turning SQLite failures into `damagedStore` with the path.
    func run<T>(_ body: () throws -> T) throws(ClientError) -> T {
        do { return try body() } catch let error as ClientError { throw error } catch {
            throw Self.failure(error, path: path)
        }
    }

    /// What a SQLite failure means for the user: a damaged file, or a store that cannot be
    /// written right now (which must never be answered by moving the store aside).
    static func failure(_ error: any Error, path: String) -> ClientError {
        guard let error = error as? DatabaseError else { return .damagedStore(path: path, reason: "\(error)") }
        switch error.resultCode {
        case .SQLITE_NOTADB: return .damagedStore(path: path, reason: "it is not a SQLite database (damaged or replaced)")
        case .SQLITE_CORRUPT: return .damagedStore(path: path, reason: "the database file is corrupt")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .storeUnavailable(path: path, reason: "another caucus process holds it locked")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN: return .storeUnavailable(path: path, reason: "it cannot be opened for writing (permissions?)")
        case .SQLITE_FULL: return .storeUnavailable(path: path, reason: "the disk is full")
        default:
            // SQLite reports a write that found no space while growing its shared-memory or
            // journal files as a plain I/O error: ask the file system.
            if error.resultCode == .SQLITE_IOERR, isFull(directoryOf: path) { return .storeUnavailable(path: path, reason: "the disk is full") }
            return .storeUnavailable(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// Whether the file system holding `path` has less than 64 KiB left for this user.
    static func isFull(directoryOf path: String) -> Bool {
        var stats = statvfs()
        guard statvfs((path as NSString).deletingLastPathComponent, &stats) == 0 else { return false }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize) < 64 << 10
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
