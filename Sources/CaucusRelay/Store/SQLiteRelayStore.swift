import CaucusProtocol
import Foundation
import GRDB
import GRDBSQLite

/// The embedded store: one SQLite file in WAL mode with `synchronous = FULL` on the writer, so the
/// WAL is synced before a commit returns and a commit that returned survives an OS crash or a
/// power cut, not only a killed process. Writes are serialised by SQLite; the relay batches
/// message accepts and acknowledgements into one transaction (`commit`), which shares the sync.
public final class SQLiteRelayStore: BlockingCommitStore {
    let pool: DatabasePool
    private let limits: StoreLimits
    /// The per-message statements, prepared on the writer connection.
    private let statements: SQLiteWriterStatements
    /// The remembered message ids and their rows, kept by the writer in memory.
    private let ids: SQLiteMessageIDs
    /// Checkpoints the log off the writer's thread.
    private let checkpointer: SQLiteCheckpointer
    /// The database file.
    public let path: String

    /// Makes an empty file at `path` readable and writable by its owner only (0600), unless one
    /// exists. SQLite opens an empty file as an empty database and gives its -wal, -shm and
    /// journal files the database file's mode, so everything of that database stays private.
    static func createOwnerOnly(_ path: String) {
        let created = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if created >= 0 { Glibc.close(created) }
    }

    /// How `init` treats the file at its path.
    public enum OpenMode: Sendable {
        /// Creates the store if there is none and brings its schema up to date (the relay).
        case createOrUpgrade
        /// Opens the store a relay made, as it is, beside a relay that may be running on it (the
        /// operator's commands): refuses a missing store, and a schema other than this version's.
        case existing
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date. A new
    /// store is created readable and writable by its owner only (`createOwnerOnly`). With
    /// `.existing`, throws `SQLiteStoreOpenError` instead of creating or upgrading anything.
    public init(path: String, limits: StoreLimits = StoreLimits(), mode: OpenMode = .createOrUpgrade) throws {
        switch mode {
        case .createOrUpgrade: Self.createOwnerOnly(path)
        case .existing: guard FileManager.default.fileExists(atPath: path) else { throw SQLiteStoreOpenError.noStore(path) }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        self.pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB's WAL set-up runs `PRAGMA synchronous = NORMAL` on the writer after
        // `prepareDatabase`, so FULL is set here, once the pool is open (the writer connection
        // lives as long as the pool), and read back.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                throw DatabaseError(message: "SQLite refused synchronous = FULL on \(path)")
            }
        }
        self.limits = limits
        self.path = path
        switch mode {
        case .createOrUpgrade:
            // A store a newer relay upgraded holds what this version does not know: refused
            // rather than written by code that does not understand it.
            if try pool.read({ try Self.migrator.hasBeenSuperseded($0) }) {
                throw SQLiteStoreOpenError.schemaTooNew(path)
            }
            try Self.migrator.migrate(pool)
        case .existing: try Self.checkSchema(pool, path: path)
        }
        // Every commit appends to the message, payload and delivery tables and deletes near their
        // old ends; SQLite's default 2 MiB page cache makes the writer read pages back from the
        // file at every commit.
        let statements = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(SQLiteCheckpointer.backstopPages)")
            return try SQLiteWriterStatements(db)
        }
        self.statements = statements
        ids = try pool.writeWithoutTransaction { _ in try SQLiteMessageIDs(statements: statements) }
        checkpointer = try SQLiteCheckpointer(path: path)
    }

    /// The writer connection's page cache, in KiB.
    static let writerCacheKiB = 65_536

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE devices (
                    id INTEGER PRIMARY KEY,
                    key BLOB NOT NULL UNIQUE,
                    pending INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    message_id BLOB NOT NULL UNIQUE,
                    payload BLOB,
                    group_id BLOB,
                    accepted_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    remaining INTEGER NOT NULL
                );
                CREATE INDEX messages_expiry ON messages(expires_at);
                CREATE TABLE deliveries (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    device INTEGER NOT NULL REFERENCES devices(id),
                    message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE
                );
                CREATE UNIQUE INDEX deliveries_device ON deliveries(device, seq);
                CREATE UNIQUE INDEX deliveries_message ON deliveries(message, device);
                CREATE TABLE groups (
                    id INTEGER PRIMARY KEY,
                    group_id BLOB NOT NULL UNIQUE,
                    serial INTEGER NOT NULL,
                    admin_key BLOB NOT NULL
                );
                CREATE TABLE group_members (
                    grp INTEGER NOT NULL REFERENCES groups(id),
                    device INTEGER NOT NULL REFERENCES devices(id),
                    PRIMARY KEY (grp, device)
                ) WITHOUT ROWID;
                CREATE TABLE signed_prekeys (
                    owner INTEGER PRIMARY KEY REFERENCES devices(id),
                    data BLOB NOT NULL
                );
                CREATE TABLE one_time_prekeys (
                    owner INTEGER NOT NULL REFERENCES devices(id),
                    key_id INTEGER NOT NULL,
                    public_key BLOB NOT NULL,
                    PRIMARY KEY (owner, key_id)
                ) WITHOUT ROWID;
                CREATE TABLE blobs (
                    id INTEGER PRIMARY KEY,
                    blob_id BLOB NOT NULL UNIQUE,
                    owner INTEGER NOT NULL REFERENCES devices(id),
                    size INTEGER NOT NULL,
                    complete INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                CREATE INDEX blobs_owner ON blobs(owner);
                CREATE INDEX blobs_expiry ON blobs(expires_at);
                CREATE TABLE blob_chunks (
                    blob INTEGER NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
                    offset INTEGER NOT NULL,
                    length INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (blob, offset)
                ) WITHOUT ROWID;
                CREATE TABLE card_items (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    inbox BLOB NOT NULL,
                    item_id BLOB NOT NULL,
                    sealed BLOB NOT NULL,
                    posted_at INTEGER NOT NULL,
                    UNIQUE (inbox, item_id)
                );
                CREATE INDEX card_items_inbox ON card_items(inbox, seq);
                """)
        }
        // Payloads live in a table of their own, deleted with the last acknowledgement: nulling
        // a column in place left the message rows' pages half empty for good (rows are appended
        // by row id, so new ones never filled them), and the file grew with every message until
        // expiry. A message's row stays until expiry for its id (duplicates are recognised).
        // `remaining` is no longer counted down: a payload goes when no delivery of its message
        // is left, and the column keeps the number of recipients at acceptance.
        migrator.registerMigration("v2-payloads") { db in
            try db.execute(sql: """
                CREATE TABLE payloads (
                    message INTEGER PRIMARY KEY,
                    data BLOB NOT NULL
                );
                INSERT INTO payloads (message, data) SELECT id, payload FROM messages WHERE payload IS NOT NULL;
                ALTER TABLE messages DROP COLUMN payload;
                """)
        }
        // The unique index over message ids goes: ids are random, so it took one random page per
        // message at every commit. The writer remembers them in memory (`SQLiteMessageIDs`).
        // SQLite cannot drop a constraint's index, so the table is copied (foreign keys are off
        // during migrations, and the deliveries' reference names the table, which keeps its name).
        migrator.registerMigration("v3-ids-in-memory") { db in
            try db.execute(sql: """
                CREATE TABLE messages_new (
                    id INTEGER PRIMARY KEY,
                    message_id BLOB NOT NULL,
                    group_id BLOB,
                    accepted_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    remaining INTEGER NOT NULL
                );
                INSERT INTO messages_new (id, message_id, group_id, accepted_at, expires_at, remaining)
                    SELECT id, message_id, group_id, accepted_at, expires_at, remaining FROM messages;
                DROP TABLE messages;
                ALTER TABLE messages_new RENAME TO messages;
                CREATE INDEX messages_expiry ON messages(expires_at);
                """)
        }
        // Devices the operator banned (`caucus-relay ban`): a key, not a device row, so that a key
        // never seen yet can be banned; the relay reads it at every authentication.
        migrator.registerMigration("v4-bans") { db in
            try db.execute(sql: """
                CREATE TABLE bans (
                    key BLOB PRIMARY KEY,
                    banned_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        // Device chains (Protocol.md §2.2, §7.8): each identity's entries as published, and on
        // every device row its owner's row (NULL: no chain lists it), its kind and whether it is
        // revoked; `chained` marks an identity that has published a chain.
        migrator.registerMigration("v5-devices") { db in
            try db.execute(sql: """
                ALTER TABLE devices ADD COLUMN owner INTEGER REFERENCES devices(id);
                ALTER TABLE devices ADD COLUMN kind INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE devices ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE devices ADD COLUMN chained INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX devices_owner ON devices(owner) WHERE owner IS NOT NULL;
                CREATE TABLE device_chains (
                    identity INTEGER NOT NULL REFERENCES devices(id),
                    seq INTEGER NOT NULL,
                    entry BLOB NOT NULL,
                    PRIMARY KEY (identity, seq)
                ) WITHOUT ROWID;
                """)
        }
        // Recovery boxes (Protocol.md §7.8): what each paper key opens, sealed by its owner's client.
        migrator.registerMigration("v6-recovery-boxes") { db in
            try db.execute(sql: """
                CREATE TABLE recovery_boxes (
                    paper INTEGER PRIMARY KEY REFERENCES devices(id),
                    sealed BLOB NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        // KEM prekeys (Protocol.md §7.5), opaque: each device's last-resort one, and its one-time
        // ones in the order they came (a new row's id is above every row's in the table, so the
        // oldest of a device has its lowest `seq`).
        migrator.registerMigration("v7-kem-prekeys") { db in
            try db.execute(sql: """
                CREATE TABLE kem_last_resort_prekeys (
                    owner INTEGER PRIMARY KEY REFERENCES devices(id),
                    data BLOB NOT NULL
                );
                CREATE TABLE kem_one_time_prekeys (
                    seq INTEGER PRIMARY KEY,
                    owner INTEGER NOT NULL REFERENCES devices(id),
                    data BLOB NOT NULL
                );
                CREATE INDEX kem_one_time_prekeys_owner ON kem_one_time_prekeys(owner, seq);
                """)
        }
        return migrator
    }

    /// Refuses a file that is not a relay store, or whose schema is not this version's: an
    /// operator's command never upgrades a store under a relay that may be running an older one.
    private static func checkSchema(_ pool: DatabasePool, path: String) throws {
        let migrator = Self.migrator
        let (applied, complete, superseded) = try pool.read { db in
            (try migrator.appliedIdentifiers(db), try migrator.hasCompletedMigrations(db), try migrator.hasBeenSuperseded(db))
        }
        guard !applied.isEmpty else { throw SQLiteStoreOpenError.noStore(path) }
        if superseded { throw SQLiteStoreOpenError.schemaTooNew(path) }
        if !complete { throw SQLiteStoreOpenError.schemaOutdated(path) }
    }

    // MARK: Messages

    public func commit(_ batch: WriteBatch) async throws -> WriteBatchResult {
        let limits = self.limits, statements = self.statements, ids = self.ids
        return try await pool.write { db in try Self.commit(batch, limits: limits, statements: statements, ids: ids, db: db) }
    }

    public func commitBlocking(_ batch: WriteBatch) throws -> WriteBatchResult {
        try pool.write { db in try Self.commit(batch, limits: limits, statements: statements, ids: ids, db: db) }
    }

    private static func commit(_ batch: WriteBatch, limits: StoreLimits, statements: SQLiteWriterStatements,
                               ids: SQLiteMessageIDs, db: Database) throws -> WriteBatchResult {
        var mailboxes = SQLiteMailboxes(statements)
        var outcomes: [AcceptOutcome] = []
        outcomes.reserveCapacity(batch.messages.count)
        for message in batch.messages {
            outcomes.append(try Self.accept(message, limits: limits, mailboxes: &mailboxes, statements: statements,
                                            ids: ids, db: db))
        }
        var removed: [Int] = []
        removed.reserveCapacity(batch.acknowledgements.count)
        for ack in batch.acknowledgements {
            removed.append(try Self.acknowledge(ack, mailboxes: &mailboxes, statements: statements, ids: ids))
        }
        try mailboxes.save()
        return WriteBatchResult(outcomes: outcomes, removed: removed)
    }

    private static func accept(_ message: NewMessage, limits: StoreLimits, mailboxes: inout SQLiteMailboxes,
                               statements: SQLiteWriterStatements, ids: SQLiteMessageIDs,
                               db: Database) throws -> AcceptOutcome {
        // A message id already stored is a duplicate, whatever else would refuse it now.
        guard try ids.row(of: message.messageID) == nil else { return .duplicate }
        func refusal(_ error: RelayError) -> AcceptOutcome { .refused(error) }

        var recipients: [StoreRules.Recipient] = []
        var groupID: Data?
        switch message.target {
        case .devices(let keys):
            for key in StoreRules.unique(keys) {
                let device = try mailboxes.device(key)
                // A revoked device gets nothing more (Protocol.md §7.8).
                if device.revoked { continue }
                recipients.append(StoreRules.Recipient(id: device.id, key: key, pending: device.pending))
            }
        case .group(let id, let sender):
            guard let group = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM groups WHERE group_id = ?"), arguments: [id])
            else { return refusal(StoreRules.noSuchGroup) }
            let members = try Row.fetchAll(db.cachedStatement(sql: Self.groupRecipientsSQL), arguments: [group]).map { row in
                    let id: Int64 = row[0], key: Data = row[1]
                    return StoreRules.Recipient(id: id, key: key, pending: mailboxes.pending(id: id, key: key, stored: row[2]))
                }
            switch StoreRules.groupRecipients(members: members, sender: sender) {
            case .success(let others): recipients = others
            case .failure(let error): return refusal(error)
            }
            groupID = id
        }
        let accepting: [StoreRules.Recipient], full: [Data]
        switch StoreRules.split(recipients, limits: limits) {
        case .success(let split): (accepting, full) = split
        case .failure(let error): return refusal(error)
        }
        try statements.execute(statements.insertMessage, [
            .blob(message.messageID), .optionalBlob(groupID),
            .integer(message.acceptedAt), .integer(message.expiresAt), .integer(Int64(accepting.count)),
        ])
        let messageRow = statements.lastInsertedRowID
        ids.insert(message.messageID, row: messageRow)
        if !accepting.isEmpty {
            try statements.execute(statements.insertPayload, [.integer(messageRow), .blob(message.payload)])
        }
        var stored: [(key: Data, sequence: Int64)] = []
        stored.reserveCapacity(accepting.count)
        for recipient in accepting {
            try statements.execute(statements.insertDelivery, [.integer(recipient.id), .integer(messageRow)])
            stored.append((recipient.key, statements.lastInsertedRowID))
            mailboxes.add(1, to: recipient.key)
        }
        return .stored(recipients: stored, mailboxFull: full)
    }

    /// The devices a group's messages go to (Protocol.md §7.6): every active computer of each
    /// routed identity's device chain, and each routed key that no chain lists and that has
    /// published no chain of its own (a device that is its own identity).
    static let groupRecipientsSQL = """
        SELECT d.id, d.key, d.pending FROM group_members m JOIN devices d ON d.owner = m.device
        WHERE m.grp = ?1 AND d.kind = 1 AND d.revoked = 0
        UNION ALL
        SELECT d.id, d.key, d.pending FROM group_members m JOIN devices d ON d.id = m.device
        WHERE m.grp = ?1 AND d.owner IS NULL AND d.chained = 0
        """

    private static func acknowledge(_ ack: Acknowledgement, mailboxes: inout SQLiteMailboxes,
                                    statements: SQLiteWriterStatements, ids: SQLiteMessageIDs) throws -> Int {
        guard let device = try mailboxes.existingDevice(ack.recipient) else { return 0 }
        var removed = 0
        for id in ack.messageIDs {
            // The delivery is removed through the first of the id's possible rows that holds it.
            func removeDelivery(_ row: Int64?) throws -> Int64? {
                guard let row else { return nil }
                return try statements.execute(statements.acknowledge, [.integer(device), .integer(row), .blob(id)]) > 0 ? row : nil
            }
            let (first, second) = ids.unconfirmedRows(of: id)
            guard let message = try removeDelivery(first) ?? removeDelivery(second) else { continue }
            try statements.execute(statements.deletePayload, [.integer(message)])
            removed += 1
        }
        mailboxes.add(-removed, to: ack.recipient)
        return removed
    }

    /// The row id of a device key, inserting the key the first time it is seen.
    func deviceID(_ key: Data) throws -> Int64 {
        var mailboxes = SQLiteMailboxes(statements)
        return try mailboxes.device(key).id
    }

    public func pendingDeliveries(recipient: Data, afterSequence: Int64, limit: Int) async throws -> [StoredDelivery] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT q.seq, m.message_id, p.data, m.group_id, m.accepted_at, m.expires_at
                FROM devices d JOIN deliveries q ON q.device = d.id JOIN messages m ON m.id = q.message
                LEFT JOIN payloads p ON p.message = m.id
                WHERE d.key = ? AND q.seq > ? ORDER BY q.seq LIMIT ?
                """), arguments: [recipient, afterSequence, limit])
            return rows.map { row in
                StoredDelivery(sequence: row[0], messageID: row[1], payload: row[2] ?? Data(),
                               groupID: row[3], acceptedAt: row[4], expiresAt: row[5])
            }
        }
    }

    public func pendingCount(recipient: Data) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT pending FROM devices WHERE key = ?", arguments: [recipient]) ?? 0
        }
    }

    // MARK: Group routes

    public func groupRoute(_ groupID: Data) async throws -> GroupRoute? {
        try await pool.read { db in try Self.route(groupID, db: db) }
    }

    private static func route(_ groupID: Data, db: Database) throws -> GroupRoute? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT g.serial, g.admin_key, (SELECT COUNT(*) FROM group_members m WHERE m.grp = g.id)
            FROM groups g WHERE g.group_id = ?
            """, arguments: [groupID])
        else { return nil }
        let serial: Int64 = row[0]
        return GroupRoute(groupID: groupID, serial: UInt64(serial), adminKey: row[1], deviceCount: row[2])
    }

    public func groupDevices(_ groupID: Data) async throws -> [Data] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: """
                SELECT d.key FROM groups g JOIN group_members m ON m.grp = g.id JOIN devices d ON d.id = m.device
                WHERE g.group_id = ?
                """, arguments: [groupID])
        }
    }

    public func updateGroupRoute(_ update: GroupRouteUpdate) async throws -> GroupRoute {
        try await pool.write { db in
            let current = try Row.fetchOne(db, sql: "SELECT id, serial FROM groups WHERE group_id = ?",
                                           arguments: [update.groupID])
            let currentSerial: Int64 = current?[1] ?? 0
            try StoreRules.checkSerial(update.serial, current: UInt64(currentSerial))
            let group: Int64
            if let current {
                group = current[0]
                try db.execute(sql: "UPDATE groups SET serial = ?, admin_key = ? WHERE id = ?",
                               arguments: [Int64(update.serial), update.adminKey, group])
            } else {
                try db.execute(sql: "INSERT INTO groups (group_id, serial, admin_key) VALUES (?, ?, ?)",
                               arguments: [update.groupID, Int64(update.serial), update.adminKey])
                group = db.lastInsertedRowID
            }
            let remove = try db.cachedStatement(sql: """
                DELETE FROM group_members WHERE grp = ? AND device = (SELECT id FROM devices WHERE key = ?)
                """)
            for key in update.remove { try remove.execute(arguments: [group, key]) }
            let add = try db.cachedStatement(sql: "INSERT OR IGNORE INTO group_members (grp, device) VALUES (?, ?)")
            for key in update.add { try add.execute(arguments: [group, try self.deviceID(key)]) }
            var route = try Self.route(update.groupID, db: db)!
            route.previousSerial = UInt64(currentSerial)
            return route
        }
    }

    // MARK: Prekeys

    public func publishPrekeys(owner: Data, signedPrekey: Data?, oneTime: [OneTimePrekeyRecord],
                               kemLastResort: Data?, kemOneTime: [Data]) async throws -> PrekeyCounts {
        let limits = self.limits
        return try await pool.write { db in
            let device = try self.deviceID(owner)
            if let signedPrekey {
                try db.execute(sql: "INSERT OR REPLACE INTO signed_prekeys (owner, data) VALUES (?, ?)",
                               arguments: [device, signedPrekey])
            }
            let insert = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO one_time_prekeys (owner, key_id, public_key) VALUES (?, ?, ?)
                """)
            for key in oneTime {
                try insert.execute(arguments: [device, Int64(key.id), key.publicKey])
            }
            var counts = try Self.prekeyCounts(device: device, db: db)
            try StoreRules.checkPrekeys(count: counts.oneTime, limits: limits)
            try StoreRules.checkKEMPrekeys(lastResort: kemLastResort, oneTime: kemOneTime, limits: limits)
            if let kemLastResort {
                try db.execute(sql: "INSERT OR REPLACE INTO kem_last_resort_prekeys (owner, data) VALUES (?, ?)",
                               arguments: [device, kemLastResort])
            }
            let insertKEM = try db.cachedStatement(sql: "INSERT INTO kem_one_time_prekeys (owner, data) VALUES (?, ?)")
            for key in kemOneTime { try insertKEM.execute(arguments: [device, key]) }
            counts.kemOneTime += kemOneTime.count
            try StoreRules.checkKEMPrekeyQuota(count: counts.kemOneTime, limits: limits)
            return counts
        }
    }

    public func takePrekeyBundle(owner: Data) async throws -> PrekeyBundleRecord? {
        try await pool.write { db in
            guard let device = try Int64.fetchOne(db, sql: "SELECT id FROM devices WHERE key = ?", arguments: [owner]),
                  let signed = try Data.fetchOne(db, sql: "SELECT data FROM signed_prekeys WHERE owner = ?",
                                                 arguments: [device])
            else { return nil }
            var oneTime: OneTimePrekeyRecord?
            if let row = try Row.fetchOne(db, sql: """
                SELECT key_id, public_key FROM one_time_prekeys WHERE owner = ? ORDER BY key_id LIMIT 1
                """, arguments: [device]) {
                let id: Int64 = row[0]
                oneTime = OneTimePrekeyRecord(id: UInt32(id), publicKey: row[1])
                try db.execute(sql: "DELETE FROM one_time_prekeys WHERE owner = ? AND key_id = ?",
                               arguments: [device, id])
            }
            var kemPrekey: Data?
            if let row = try Row.fetchOne(db, sql: """
                SELECT seq, data FROM kem_one_time_prekeys WHERE owner = ? ORDER BY seq LIMIT 1
                """, arguments: [device]) {
                let seq: Int64 = row[0]
                kemPrekey = row[1]
                try db.execute(sql: "DELETE FROM kem_one_time_prekeys WHERE seq = ?", arguments: [seq])
            }
            let lastResort = kemPrekey == nil
                ? try Data.fetchOne(db, sql: "SELECT data FROM kem_last_resort_prekeys WHERE owner = ?", arguments: [device])
                : nil
            let counts = try Self.prekeyCounts(device: device, db: db)
            return PrekeyBundleRecord(signedPrekey: signed, oneTime: oneTime, remaining: counts.oneTime,
                                      kemPrekey: kemPrekey ?? lastResort, kemPrekeyIsOneTime: kemPrekey != nil,
                                      kemRemaining: counts.kemOneTime)
        }
    }

    public func prekeyCounts(owner: Data) async throws -> PrekeyCounts {
        try await pool.read { db in
            guard let device = try Int64.fetchOne(db, sql: "SELECT id FROM devices WHERE key = ?", arguments: [owner]) else {
                return PrekeyCounts(oneTime: 0, kemOneTime: 0)
            }
            return try Self.prekeyCounts(device: device, db: db)
        }
    }

    private static func prekeyCounts(device: Int64, db: Database) throws -> PrekeyCounts {
        let row = try Row.fetchOne(db, sql: """
            SELECT (SELECT COUNT(*) FROM one_time_prekeys WHERE owner = ?1),
                   (SELECT COUNT(*) FROM kem_one_time_prekeys WHERE owner = ?1)
            """, arguments: [device])!
        return PrekeyCounts(oneTime: row[0], kemOneTime: row[1])
    }

    // MARK: Blobs

    public func putBlobChunk(_ chunk: BlobChunkWrite) async throws -> BlobState {
        let limits = self.limits
        return try await pool.write { db in
            let owner = try self.deviceID(chunk.owner)
            let existing = try Row.fetchOne(db, sql: "SELECT id, owner, size, complete FROM blobs WHERE blob_id = ?",
                                            arguments: [chunk.blobID])
            let length = UInt64(chunk.data.count)
            let stored = existing.map { row -> StoreRules.StoredBlob in
                let blobOwner: Int64 = row[1], size: Int64 = row[2]
                return StoreRules.StoredBlob(sameOwner: blobOwner == owner, size: UInt64(size), complete: row[3])
            }
            switch try StoreRules.plan(chunk, stored: stored) {
            case .resend(let state):
                let blob: Int64 = existing![0]
                try StoreRules.checkResend(chunk, stored: try Self.blobBytes(db, blob: blob, from: chunk.offset, to: chunk.offset + length))
                return state
            case .create:
                try Self.checkBlobLimits(owner: owner, adding: length, total: length, limits: limits, db: db)
                try db.execute(sql: """
                    INSERT INTO blobs (blob_id, owner, size, complete, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [chunk.blobID, owner, Int64(length), chunk.last, chunk.createdAt, chunk.expiresAt])
                let blob = db.lastInsertedRowID
                if length > 0 {
                    try db.execute(sql: "INSERT INTO blob_chunks (blob, offset, length, data) VALUES (?, 0, ?, ?)",
                                   arguments: [blob, Int64(length), chunk.data])
                }
                return BlobState(size: length, complete: chunk.last)
            case .append:
                let blob: Int64 = existing![0]
                let size = stored!.size
                try Self.checkBlobLimits(owner: owner, adding: length, total: size + length, limits: limits, db: db)
                if length > 0 {
                    try db.execute(sql: "INSERT INTO blob_chunks (blob, offset, length, data) VALUES (?, ?, ?, ?)",
                                   arguments: [blob, Int64(size), Int64(length), chunk.data])
                }
                try db.execute(sql: "UPDATE blobs SET size = ?, complete = ? WHERE id = ?",
                               arguments: [Int64(size + length), chunk.last, blob])
                return BlobState(size: size + length, complete: chunk.last)
            }
        }
    }

    private static func checkBlobLimits(owner: Int64, adding: UInt64, total: UInt64, limits: StoreLimits, db: Database) throws {
        let used = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE owner = ?",
                                      arguments: [owner]) ?? 0
        try StoreRules.checkBlob(total: total, used: UInt64(used), adding: adding, limits: limits)
    }

    public func readBlob(blobID: Data, offset: UInt64, length: Int) async throws -> BlobRead {
        try await pool.read { db in
            guard let blob = try Row.fetchOne(db, sql: "SELECT id, size, complete FROM blobs WHERE blob_id = ?",
                                              arguments: [blobID])
            else { throw RelayError(.notFound, "no such blob") }
            let id: Int64 = blob[0]
            let sizeValue: Int64 = blob[1]
            let size = UInt64(sizeValue)
            let complete: Bool = blob[2]
            guard complete else { throw RelayError(.notFound, "the blob is not complete yet") }
            guard offset <= size else { throw RelayError(.invalidArgument, "offset past the end of the blob") }
            return BlobRead(data: try Self.blobBytes(db, blob: id, from: offset, to: min(size, offset + UInt64(length))),
                            totalSize: size)
        }
    }

    /// Bytes `start..<end` of a stored blob (all within its size).
    private static func blobBytes(_ db: Database, blob: Int64, from start: UInt64, to end: UInt64) throws -> Data {
        var out = Data()
        out.reserveCapacity(Int(end - start))
        // Start at the stored chunk holding `start` (found through the primary key), not at
        // the blob's beginning: reading a blob piece by piece stays linear, not quadratic.
        let rows = try Row.fetchCursor(db, sql: """
            SELECT offset, data FROM blob_chunks
            WHERE blob = ?1 AND offset < ?2 AND offset + length > ?3
              AND offset >= COALESCE((SELECT MAX(offset) FROM blob_chunks WHERE blob = ?1 AND offset <= ?3), 0)
            ORDER BY offset
            """, arguments: [blob, Int64(end), Int64(start)])
        while let row = try rows.next() {
            let chunkOffsetValue: Int64 = row[0]
            let chunkOffset = UInt64(chunkOffsetValue)
            let data: Data = row[1]
            let from = Int(max(start, chunkOffset) - chunkOffset)
            let to = Int(min(end, chunkOffset + UInt64(data.count)) - chunkOffset)
            out.append(data[data.startIndex + from ..< data.startIndex + to])
        }
        return out
    }

    // MARK: Card inboxes

    public func postCard(inboxKey: Data, itemID: Data, sealed: Data, postedAt: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO card_items (inbox, item_id, sealed, posted_at) VALUES (?, ?, ?, ?)
                """, arguments: [inboxKey, itemID, sealed, postedAt])
            return db.changesCount > 0
        }
    }

    public func readCards(inboxKey: Data, afterSequence: Int64, limit: Int) async throws -> (items: [CardRecord], more: Bool) {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT seq, item_id, sealed, posted_at FROM card_items WHERE inbox = ? AND seq > ?
                ORDER BY seq LIMIT ?
                """, arguments: [inboxKey, afterSequence, limit + 1])
            let items = rows.prefix(limit).map { row in
                CardRecord(sequence: row[0], itemID: row[1], sealed: row[2], postedAt: row[3])
            }
            return (Array(items), rows.count > limit)
        }
    }

    public func cardCount(inboxKey: Data) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM card_items WHERE inbox = ?", arguments: [inboxKey]) ?? 0
        }
    }

    // MARK: Expiry

    public func expire(now: Int64) async throws -> ExpiryCounts {
        let ids = self.ids
        // Another process (`caucus-relay prune`) may expire rows while a relay runs: the relay's
        // in-memory ids then keep entries for rows that are gone, which every lookup confirms
        // against the row (`SQLiteMessageIDs`), so they are never taken for a remembered id.
        return try await pool.write { db in
            var counts = ExpiryCounts()
            // Mailbox counters of the devices that lose deliveries.
            try db.execute(sql: """
                UPDATE devices SET pending = pending - (
                    SELECT COUNT(*) FROM deliveries q JOIN messages m ON m.id = q.message
                    WHERE q.device = devices.id AND m.expires_at <= ?)
                WHERE id IN (SELECT q.device FROM deliveries q JOIN messages m ON m.id = q.message
                             WHERE m.expires_at <= ?)
                """, arguments: [now, now])
            try db.execute(sql: """
                DELETE FROM deliveries WHERE message IN (SELECT id FROM messages WHERE expires_at <= ?)
                """, arguments: [now])
            counts.deliveries = db.changesCount
            try db.execute(sql: """
                DELETE FROM payloads WHERE message IN (SELECT id FROM messages WHERE expires_at <= ?)
                """, arguments: [now])
            let gone = try Row.fetchCursor(db, sql: "DELETE FROM messages WHERE expires_at <= ? RETURNING id, message_id",
                                           arguments: [now])
            while let row = try gone.next() {
                ids.remove(row[1], row: row[0])
                counts.messages += 1
            }
            try db.execute(sql: """
                DELETE FROM blob_chunks WHERE blob IN (SELECT id FROM blobs WHERE expires_at <= ?)
                """, arguments: [now])
            try db.execute(sql: "DELETE FROM blobs WHERE expires_at <= ?", arguments: [now])
            counts.blobs = db.changesCount
            return counts
        }
    }

    /// `PRAGMA synchronous` on the writer connection (2 is FULL), for tests of the durability promise.
    package func writerSynchronous() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func close() async throws {
        try checkpointer.stop()
        let statements = self.statements
        try await pool.writeWithoutTransaction { _ in statements.finalize() }
        try pool.close()
    }

    deinit {
        // A store dropped without `close`: the pool closes its connections as it goes, which
        // SQLite refuses while statements are left unfinalized. Nothing else can be using the
        // writer connection now.
        statements.finalize()
        checkpointer.cancel()
    }
}
