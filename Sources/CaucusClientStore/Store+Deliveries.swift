import CaucusCrypto
import Foundation
import GRDB

/// The outbox, the ids of deliveries handled or not yet opened, and group deliveries put aside.
extension StoreTransaction {
    // MARK: Outbox

    /// Queues a request for the relay.
    public func enqueue(_ kind: OutboxKind, id: [UInt8], _ body: [UInt8], at now: Int64, expiresAt: Int64?) throws {
        try db.execute(sql: "INSERT INTO outbox (id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?)", arguments: [
            Data(id), Data(store.seal([kind.rawValue] + body, table: "outbox", tag: id)), now, expiresAt,
        ])
        store.outboxCache.withLock { cache in
            // Only a shortcut: entries of transactions that rolled back are never taken out.
            if cache.count >= ClientStore.outboxCacheLimit { cache.removeAll() }
            cache[Data(id)] = (kind, body)
        }
    }

    /// The oldest request waiting.
    public func firstOutboxEntry() throws -> OutboxEntry? {
        guard let row = try Row.fetchOne(db, sql: "SELECT rowid, id FROM outbox ORDER BY rowid LIMIT 1") else { return nil }
        let position: Int64 = row[0], id: Data = row[1]
        if let (kind, body) = store.outboxCache.withLock({ $0[id] }) { return OutboxEntry(position: position, id: id, kind: kind, body: body) }
        let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM outbox WHERE rowid = ?", arguments: [position]) ?? Data()
        return try outboxEntry(position: position, id: id, sealed: sealed)
    }

    /// Every request waiting, oldest first.
    public func outboxEntries() throws -> [OutboxEntry] {
        try Row.fetchAll(db, sql: "SELECT rowid, id, sealed FROM outbox ORDER BY rowid").map { row in
            try outboxEntry(position: row[0], id: row[1], sealed: row[2])
        }
    }

    private func outboxEntry(position: Int64, id: Data, sealed: Data) throws -> OutboxEntry {
        let bytes = try store.open(Array(sealed), table: "outbox", tag: Array(id))
        guard let kind = OutboxKind(rawValue: bytes.first ?? 0) else { throw damaged("unknown outbox entry") }
        return OutboxEntry(position: position, id: id, kind: kind, body: Array(bytes.dropFirst()))
    }

    /// Takes a request out of the outbox (sent, or refused for good).
    public func removeOutboxEntry(_ entry: OutboxEntry) throws {
        try db.execute(sql: "DELETE FROM outbox WHERE rowid = ?", arguments: [entry.position])
        store.outboxCache.withLock { _ = $0.removeValue(forKey: entry.id) }
    }

    /// How many requests wait.
    public func outboxCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0
    }

    /// Whether the request `id` still waits.
    public func isQueued(_ id: Data) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT id FROM outbox WHERE id = ?", arguments: [id]) != nil
    }

    // MARK: Deliveries

    /// Whether the delivery with this relay message id was handled already.
    public func isHandled(_ id: MessageID) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT id FROM processed WHERE id = ?", arguments: [id.data]) != nil
    }

    /// Records a delivery as handled, forgetting any failed attempts to open it.
    public func markHandled(_ id: MessageID, at now: Int64) throws {
        try db.execute(sql: "DELETE FROM unopened WHERE id = ?", arguments: [id.data])
        try db.execute(sql: "INSERT INTO processed (id, at) VALUES (?, ?)", arguments: [id.data, now])
    }

    /// How many copies of a delivery failed to open so far.
    public func failedOpenings(_ id: MessageID) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT attempts FROM unopened WHERE id = ?", arguments: [id.data]) ?? 0
    }

    /// Records that `attempts` copies of a delivery failed to open.
    public func recordFailedOpenings(_ id: MessageID, attempts: Int, at now: Int64) throws {
        try db.execute(sql: """
            INSERT INTO unopened (id, attempts, at) VALUES (?1, ?2, ?3)
            ON CONFLICT (id) DO UPDATE SET attempts = ?2
            """, arguments: [id.data, attempts, now])
    }

    /// Keeps a group delivery (serialized) to try again later; one kept already stays as it is.
    public func putAside(_ id: MessageID, _ delivery: [UInt8], at now: Int64) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO deferred (id, sealed, at) VALUES (?, ?, ?)", arguments: [
            id.data, Data(store.seal(delivery, table: "deferred", tag: id.bytes)), now,
        ])
    }

    /// Takes out every delivery put aside, oldest first; those put aside before `keptSince` are dropped.
    public func takePutAside(keptSince: Int64) throws -> [[UInt8]] {
        try db.execute(sql: "DELETE FROM deferred WHERE at < ?", arguments: [keptSince])
        let rows = try Row.fetchAll(db, sql: "SELECT id, sealed FROM deferred ORDER BY rowid")
        try db.execute(sql: "DELETE FROM deferred")
        return try rows.map { row in try store.open(Array(row["sealed"] as Data), table: "deferred", tag: Array(row["id"] as Data)) }
    }
}

extension ClientStore {
    /// Entries kept in `outboxCache` at most.
    static let outboxCacheLimit = 1_000
}
