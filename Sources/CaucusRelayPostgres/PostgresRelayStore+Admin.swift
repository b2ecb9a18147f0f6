import CaucusRelay
import Foundation
import PostgresNIO

/// The bans and the operator's commands on the PostgreSQL store.
extension PostgresRelayStore: RelayAdminStore {
    public func isBanned(_ device: Data) async throws -> Bool {
        try await scalar("SELECT EXISTS (SELECT 1 FROM bans WHERE key = \(device))") ?? false
    }

    public func bannedDevices() async throws -> [DeviceBan] {
        try await withConnection { connection in
            try await Self.rows("SELECT key, banned_at FROM bans ORDER BY banned_at, key", on: connection, logger: self.logger,
                                as: (Data, Int64).self).map { DeviceBan(key: $0.0, bannedAt: $0.1) }
        }
    }

    public func ban(_ device: Data, at: Int64) async throws -> (ban: DeviceBan, new: Bool) {
        let logger = self.logger
        return try await transaction { connection in
            let inserted = try await Self.rows("""
                INSERT INTO bans (key, banned_at) VALUES (\(device), \(at)) ON CONFLICT (key) DO NOTHING RETURNING banned_at
                """, on: connection, logger: logger, as: Int64.self)
            if let since = inserted.first { return (DeviceBan(key: device, bannedAt: since), true) }
            let since = try await Self.rows("SELECT banned_at FROM bans WHERE key = \(device)", on: connection, logger: logger,
                                            as: Int64.self).first ?? at
            return (DeviceBan(key: device, bannedAt: since), false)
        }
    }

    public func unban(_ device: Data) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in
            try await !Self.rows("DELETE FROM bans WHERE key = \(device) RETURNING key", on: connection, logger: logger,
                                 as: Data.self).isEmpty
        }
    }

    /// Takes each inbox's advisory lock first (in byte order), as `postCard` does, so that no post
    /// lands in an inbox half deleted.
    public func deleteCardInboxes(_ inboxKeys: [Data]) async throws -> [Int] {
        let logger = self.logger
        return try await transaction { connection in
            for key in StoreRules.unique(inboxKeys).sorted(by: Self.byteOrder) {
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.inboxLockClass), \(Self.lockKey(key)))",
                                           logger: logger)
            }
            var counts: [Int] = []
            for key in inboxKeys {
                let removed = try await Self.rows("""
                    WITH gone AS (DELETE FROM card_items WHERE inbox = \(key) RETURNING 1) SELECT COUNT(*) FROM gone
                    """, on: connection, logger: logger, as: Int.self).first ?? 0
                // Thrown inside the transaction: it rolls back, and no inbox is deleted.
                guard removed > 0 else { throw StoreAdminError.noSuchCardInbox(key) }
                counts.append(removed)
            }
            return counts
        }
    }

    public func statistics() async throws -> StoreStatistics {
        try await withConnection { connection in
            var statistics = StoreStatistics()
            let query = PostgresQuery(unsafeSQL: StoreStatistics.countsSQL)
            typealias Counts = (Int, Int, Int, Int, Int64?, Int, Int, Int64, Int, Int, Int)
            if let row = try await Self.rows(query, on: connection, logger: self.logger, as: Counts.self).first {
                (statistics.devices, statistics.mailboxes, statistics.deliveries, statistics.messages,
                 statistics.oldestUndeliveredAt, statistics.groups, statistics.blobs, statistics.blobBytes,
                 statistics.cardInboxes, statistics.cardItems, statistics.bannedDevices) = row
            }
            statistics.storeBytes = try await Self.rows("SELECT pg_database_size(current_database())", on: connection,
                                                        logger: self.logger, as: Int64.self).first ?? 0
            return statistics
        }
    }
}
