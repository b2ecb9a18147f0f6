import Foundation
import GRDB

/// Why an operator's command did not open a SQLite store (`SQLiteRelayStore.OpenMode.existing`).
public enum SQLiteStoreOpenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No relay store at the path.
    case noStore(String)
    /// The store lacks migrations this version has: the relay of this version upgrades it when it starts.
    case schemaOutdated(String)
    /// The store was migrated by a newer relay.
    case schemaTooNew(String)

    public var description: String {
        switch self {
        case .noStore(let path):
            "no relay store at \(path) (is --data-dir the relay's data directory?); nothing was created"
        case .schemaOutdated(let path):
            "the store at \(path) has an older schema than this caucus-relay's: start this version of the relay on it "
                + "once (it upgrades the store), then run the command again"
        case .schemaTooNew(let path):
            "the store at \(path) was upgraded by a newer caucus-relay: run that version (or restore a backup "
                + "taken before the upgrade)"
        }
    }
}

/// The bans and the operator's commands on the SQLite store.
extension SQLiteRelayStore: RelayAdminStore {
    public func isBanned(_ device: Data) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM bans WHERE key = ?)"), arguments: [device]) ?? false
        }
    }

    public func bannedDevices() async throws -> [DeviceBan] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT key, banned_at FROM bans ORDER BY banned_at, key").map { row in
                DeviceBan(key: row[0], bannedAt: row[1])
            }
        }
    }

    public func ban(_ device: Data, at: Int64) async throws -> (ban: DeviceBan, new: Bool) {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO bans (key, banned_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                           arguments: [device, at])
            let new = db.changesCount > 0
            let since = try Int64.fetchOne(db, sql: "SELECT banned_at FROM bans WHERE key = ?", arguments: [device]) ?? at
            return (DeviceBan(key: device, bannedAt: since), new)
        }
    }

    public func unban(_ device: Data) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM bans WHERE key = ?", arguments: [device])
            return db.changesCount > 0
        }
    }

    public func deleteCardInboxes(_ inboxKeys: [Data]) async throws -> [Int] {
        try await pool.write { db in
            var counts: [Int] = []
            for key in inboxKeys {
                try db.execute(sql: "DELETE FROM card_items WHERE inbox = ?", arguments: [key])
                // Thrown inside the write: the transaction rolls back, and no inbox is deleted.
                guard db.changesCount > 0 else { throw StoreAdminError.noSuchCardInbox(key) }
                counts.append(db.changesCount)
            }
            return counts
        }
    }

    public func statistics() async throws -> StoreStatistics {
        var statistics = try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: StoreStatistics.countsSQL) else { return StoreStatistics() }
            return StoreStatistics(row: row)
        }
        let files = FileManager.default
        for suffix in ["", "-wal", "-shm"] {
            let size = (try? files.attributesOfItem(atPath: path + suffix))?[.size] as? Int64
            statistics.storeBytes += size ?? 0
        }
        return statistics
    }
}

extension StoreStatistics {
    /// From a row of `countsSQL`.
    init(row: Row) {
        self.init()
        devices = row[0]
        mailboxes = row[1]
        deliveries = row[2]
        messages = row[3]
        oldestUndeliveredAt = row[4]
        groups = row[5]
        blobs = row[6]
        blobBytes = row[7]
        cardInboxes = row[8]
        cardItems = row[9]
        bannedDevices = row[10]
    }
}
