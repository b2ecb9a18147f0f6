import CaucusProtocol
import CaucusRelay
import Foundation
import NIOCore
import PostgresNIO

extension PostgresRelayStore {
    /// Gives rows to the device keys that have none (in byte order, as every instance does) and
    /// returns the id of each key.
    static func deviceIDs(_ keys: [Data], on connection: PostgresConnection, logger: Logger) async throws -> [Data: Int64] {
        guard !keys.isEmpty else { return [:] }
        let sorted = StoreRules.unique(keys).sorted(by: byteOrder)
        try await connection.query("""
            INSERT INTO devices (key) SELECT k FROM unnest(\(byteaArray(sorted))::bytea[]) AS k ON CONFLICT (key) DO NOTHING
            """, logger: logger)
        let rows = try await rows("SELECT key, id FROM devices WHERE key = ANY(\(byteaArray(sorted)))",
                                  on: connection, logger: logger, as: (Data, Int64).self)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1) })
    }

    /// The id of a device key (a row is made if needed), with the row locked for this transaction.
    static func lockedDevice(_ key: Data, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let id = try await deviceIDs([key], on: connection, logger: logger)[key]!
        try await connection.query("SELECT 1 FROM devices WHERE id = \(id) FOR NO KEY UPDATE", logger: logger)
        return id
    }

    // MARK: Group routes

    public func groupRoute(_ groupID: Data) async throws -> GroupRoute? {
        try await withConnection { connection in try await Self.route(groupID, on: connection, logger: self.logger) }
    }

    private static func route(_ groupID: Data, on connection: PostgresConnection, logger: Logger) async throws -> GroupRoute? {
        try await rows("""
            SELECT g.serial, g.admin_key, (SELECT COUNT(*) FROM group_members m WHERE m.grp = g.id)
            FROM groups g WHERE g.group_id = \(groupID)
            """, on: connection, logger: logger, as: (Int64, Data, Int).self).first.map { serial, admin, count in
            GroupRoute(groupID: groupID, serial: UInt64(serial), adminKey: admin, deviceCount: count)
        }
    }

    public func groupDevices(_ groupID: Data) async throws -> [Data] {
        try await withConnection { connection in
            try await Self.rows("""
                SELECT d.key FROM groups g JOIN group_members m ON m.grp = g.id JOIN devices d ON d.id = m.device
                WHERE g.group_id = \(groupID)
                """, on: connection, logger: self.logger, as: Data.self)
        }
    }

    public func updateGroupRoute(_ update: GroupRouteUpdate) async throws -> GroupRoute {
        let logger = self.logger
        return try await transaction { connection in
            let current = try await Self.rows("SELECT id, serial FROM groups WHERE group_id = \(update.groupID) FOR UPDATE",
                                              on: connection, logger: logger, as: (Int64, Int64).self).first
            try StoreRules.checkSerial(update.serial, current: UInt64(current?.1 ?? 0))
            let group: Int64
            if let current {
                group = current.0
                try await connection.query("""
                    UPDATE groups SET serial = \(Int64(update.serial)), admin_key = \(update.adminKey) WHERE id = \(group)
                    """, logger: logger)
            } else {
                // Another instance may create the same group at once: the retry then reads its row.
                guard let id = try await Self.rows("""
                    INSERT INTO groups (group_id, serial, admin_key) VALUES (\(update.groupID), \(Int64(update.serial)), \(update.adminKey))
                    ON CONFLICT (group_id) DO NOTHING RETURNING id
                    """, on: connection, logger: logger, as: Int64.self).first
                else { throw Retry() }
                group = id
            }
            if !update.remove.isEmpty {
                try await connection.query("""
                    DELETE FROM group_members WHERE grp = \(group)
                    AND device IN (SELECT id FROM devices WHERE key = ANY(\(byteaArray(update.remove))))
                    """, logger: logger)
            }
            if !update.add.isEmpty {
                let ids = try await Self.deviceIDs(update.add, on: connection, logger: logger)
                try await connection.query("""
                    INSERT INTO group_members (grp, device) SELECT \(group), d FROM unnest(\(ids.values.sorted())::int8[]) AS d
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            var route = try await Self.route(update.groupID, on: connection, logger: logger)!
            route.previousSerial = UInt64(current?.1 ?? 0)
            return route
        }
    }

    // MARK: Prekeys

    public func publishPrekeys(owner: Data, signedPrekey: Data?, oneTime: [OneTimePrekeyRecord],
                               kemLastResort: Data?, kemOneTime: [Data]) async throws -> PrekeyCounts {
        let (logger, limits) = (self.logger, self.limits)
        return try await transaction { connection in
            let device = try await Self.lockedDevice(owner, on: connection, logger: logger)
            if let signedPrekey {
                try await connection.query("""
                    INSERT INTO signed_prekeys (owner, data) VALUES (\(device), \(signedPrekey))
                    ON CONFLICT (owner) DO UPDATE SET data = EXCLUDED.data
                    """, logger: logger)
            }
            // A key id given twice keeps its last key, as one request replacing in order would.
            var latest: [UInt32: Data] = [:]
            for key in oneTime { latest[key.id] = key.publicKey }
            if !latest.isEmpty {
                let ids = latest.keys.sorted()
                try await connection.query("""
                    INSERT INTO one_time_prekeys (owner, key_id, public_key)
                    SELECT \(device), k, p FROM unnest(\(ids.map(Int64.init))::int8[], \(byteaArray(ids.map { latest[$0]! }))::bytea[]) AS t(k, p)
                    ON CONFLICT (owner, key_id) DO UPDATE SET public_key = EXCLUDED.public_key
                    """, logger: logger)
            }
            var counts = try await Self.prekeyCounts(device: device, on: connection, logger: logger)
            try StoreRules.checkPrekeys(count: counts.oneTime, limits: limits)
            try StoreRules.checkKEMPrekeys(lastResort: kemLastResort, oneTime: kemOneTime, limits: limits)
            if let kemLastResort {
                try await connection.query("""
                    INSERT INTO kem_last_resort_prekeys (owner, data) VALUES (\(device), \(kemLastResort))
                    ON CONFLICT (owner) DO UPDATE SET data = EXCLUDED.data
                    """, logger: logger)
            }
            if !kemOneTime.isEmpty {
                // In the request's order: each row's `seq` comes from the sequence as the sorted rows are inserted.
                try await connection.query("""
                    INSERT INTO kem_one_time_prekeys (owner, data)
                    SELECT \(device), k FROM unnest(\(byteaArray(kemOneTime))::bytea[]) WITH ORDINALITY AS t(k, n) ORDER BY n
                    """, logger: logger)
            }
            counts.kemOneTime += kemOneTime.count
            try StoreRules.checkKEMPrekeyQuota(count: counts.kemOneTime, limits: limits)
            return counts
        }
    }

    /// Takes the lowest one-time prekey and the oldest one-time KEM prekey no concurrent taker
    /// holds (`FOR UPDATE SKIP LOCKED`), so instances taking at once get different keys and none
    /// is handed out twice.
    public func takePrekeyBundle(owner: Data) async throws -> PrekeyBundleRecord? {
        let logger = self.logger
        return try await transaction { connection in
            guard let (device, signed) = try await Self.rows("""
                SELECT d.id, s.data FROM devices d JOIN signed_prekeys s ON s.owner = d.id WHERE d.key = \(owner)
                """, on: connection, logger: logger, as: (Int64, Data).self).first
            else { return nil }
            let taken = try await Self.rows("""
                DELETE FROM one_time_prekeys WHERE owner = \(device) AND key_id = (
                    SELECT key_id FROM one_time_prekeys WHERE owner = \(device) ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING key_id, public_key
                """, on: connection, logger: logger, as: (Int64, Data).self).first
            let kemTaken = try await Self.rows("""
                DELETE FROM kem_one_time_prekeys WHERE seq = (
                    SELECT seq FROM kem_one_time_prekeys WHERE owner = \(device) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING data
                """, on: connection, logger: logger, as: Data.self).first
            let lastResort = kemTaken == nil
                ? try await Self.rows("SELECT data FROM kem_last_resort_prekeys WHERE owner = \(device)",
                                      on: connection, logger: logger, as: Data.self).first
                : nil
            let counts = try await Self.prekeyCounts(device: device, on: connection, logger: logger)
            return PrekeyBundleRecord(signedPrekey: signed,
                                      oneTime: taken.map { OneTimePrekeyRecord(id: UInt32($0.0), publicKey: $0.1) },
                                      remaining: counts.oneTime,
                                      kemPrekey: kemTaken ?? lastResort, kemPrekeyIsOneTime: kemTaken != nil,
                                      kemRemaining: counts.kemOneTime)
        }
    }

    public func prekeyCounts(owner: Data) async throws -> PrekeyCounts {
        let logger = self.logger
        return try await withConnection { connection in
            guard let device = try await Self.rows("SELECT id FROM devices WHERE key = \(owner)",
                                                   on: connection, logger: logger, as: Int64.self).first
            else { return PrekeyCounts(oneTime: 0, kemOneTime: 0) }
            return try await Self.prekeyCounts(device: device, on: connection, logger: logger)
        }
    }

    private static func prekeyCounts(device: Int64, on connection: PostgresConnection, logger: Logger) async throws -> PrekeyCounts {
        let (oneTime, kem) = try await rows("""
            SELECT (SELECT COUNT(*) FROM one_time_prekeys WHERE owner = \(device)),
                   (SELECT COUNT(*) FROM kem_one_time_prekeys WHERE owner = \(device))
            """, on: connection, logger: logger, as: (Int, Int).self)[0]
        return PrekeyCounts(oneTime: oneTime, kemOneTime: kem)
    }

    // MARK: Blobs

    /// The owner's device row is locked first, so one owner's chunks (and quota) are decided one
    /// at a time across instances.
    public func putBlobChunk(_ chunk: BlobChunkWrite) async throws -> BlobState {
        let (logger, limits) = (self.logger, self.limits)
        return try await transaction { connection in
            let owner = try await Self.lockedDevice(chunk.owner, on: connection, logger: logger)
            let existing = try await Self.rows("""
                SELECT id, owner, size, complete FROM blobs WHERE blob_id = \(chunk.blobID) FOR UPDATE
                """, on: connection, logger: logger, as: (Int64, Int64, Int64, Bool).self).first
            let stored = existing.map { StoreRules.StoredBlob(sameOwner: $0.1 == owner, size: UInt64($0.2), complete: $0.3) }
            let length = UInt64(chunk.data.count)
            func checkLimits(total: UInt64) async throws {
                let used: [Int64] = try await Self.rows("SELECT COALESCE(SUM(size), 0)::int8 FROM blobs WHERE owner = \(owner)",
                                                        on: connection, logger: logger, as: Int64.self)
                try StoreRules.checkBlob(total: total, used: UInt64(used.first ?? 0), adding: length, limits: limits)
            }
            func addChunk(blob: Int64, at position: UInt64) async throws {
                guard length > 0 else { return }
                try await connection.query("""
                    INSERT INTO blob_chunks (blob, position, length, data)
                    VALUES (\(blob), \(Int64(position)), \(Int64(length)), \(chunk.data))
                    """, logger: logger)
            }
            switch try StoreRules.plan(chunk, stored: stored) {
            case .resend(let state):
                let bytes = try await Self.blobBytes(blob: existing!.0, from: chunk.offset, to: chunk.offset + length,
                                                     on: connection, logger: logger)
                try StoreRules.checkResend(chunk, stored: bytes)
                return state
            case .create:
                try await checkLimits(total: length)
                guard let blob = try await Self.rows("""
                    INSERT INTO blobs (blob_id, owner, size, complete, created_at, expires_at)
                    VALUES (\(chunk.blobID), \(owner), \(Int64(length)), \(chunk.last), \(chunk.createdAt), \(chunk.expiresAt))
                    ON CONFLICT (blob_id) DO NOTHING RETURNING id
                    """, on: connection, logger: logger, as: Int64.self).first
                else { throw Retry() }
                try await addChunk(blob: blob, at: 0)
                return BlobState(size: length, complete: chunk.last)
            case .append:
                let (blob, size) = (existing!.0, stored!.size)
                try await checkLimits(total: size + length)
                try await addChunk(blob: blob, at: size)
                try await connection.query("""
                    UPDATE blobs SET size = \(Int64(size + length)), complete = \(chunk.last) WHERE id = \(blob)
                    """, logger: logger)
                return BlobState(size: size + length, complete: chunk.last)
            }
        }
    }

    public func readBlob(blobID: Data, offset: UInt64, length: Int) async throws -> BlobRead {
        try await withConnection { connection in
            guard let (id, sizeValue, complete) = try await Self.rows(
                "SELECT id, size, complete FROM blobs WHERE blob_id = \(blobID)",
                on: connection, logger: self.logger, as: (Int64, Int64, Bool).self).first
            else { throw RelayError(.notFound, "no such blob") }
            let size = UInt64(sizeValue)
            guard complete else { throw RelayError(.notFound, "the blob is not complete yet") }
            guard offset <= size else { throw RelayError(.invalidArgument, "offset past the end of the blob") }
            let data = try await Self.blobBytes(blob: id, from: offset, to: min(size, offset + UInt64(length)),
                                                on: connection, logger: self.logger)
            return BlobRead(data: data, totalSize: size)
        }
    }

    /// Bytes `start..<end` of a stored blob (all within its size).
    private static func blobBytes(blob: Int64, from start: UInt64, to end: UInt64,
                                  on connection: PostgresConnection, logger: Logger) async throws -> Data {
        var out = Data()
        out.reserveCapacity(Int(end - start))
        // From the chunk holding `start` (found through the primary key), as the SQLite store reads.
        for (position, data) in try await rows("""
            SELECT position, data FROM blob_chunks
            WHERE blob = \(blob) AND position < \(Int64(end)) AND position + length > \(Int64(start))
              AND position >= COALESCE((SELECT MAX(position) FROM blob_chunks WHERE blob = \(blob) AND position <= \(Int64(start))), 0)
            ORDER BY position
            """, on: connection, logger: logger, as: (Int64, Data).self) {
            let chunkOffset = UInt64(position)
            let from = Int(max(start, chunkOffset) - chunkOffset)
            let to = Int(min(end, chunkOffset + UInt64(data.count)) - chunkOffset)
            out.append(data[data.startIndex + from ..< data.startIndex + to])
        }
        return out
    }

    // MARK: Card inboxes

    /// Posts to one inbox are serialised (an advisory lock keyed by the inbox), so its sequences
    /// become visible in order and a reader paging by sequence never steps over one.
    public func postCard(inboxKey: Data, itemID: Data, sealed: Data, postedAt: Int64) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.inboxLockClass), \(Self.lockKey(inboxKey)))",
                                       logger: logger)
            return try await !Self.rows("""
                INSERT INTO card_items (inbox, item_id, sealed, posted_at) VALUES (\(inboxKey), \(itemID), \(sealed), \(postedAt))
                ON CONFLICT (inbox, item_id) DO NOTHING RETURNING seq
                """, on: connection, logger: logger, as: Int64.self).isEmpty
        }
    }

    /// The advisory-lock class of card inboxes (ASCII "CAUI"; the migrations lock another).
    static let inboxLockClass: Int32 = 0x4341_5549

    /// The first four bytes of a key as an advisory-lock key (keys are random: collisions only
    /// make two inboxes wait for each other).
    static func lockKey(_ key: Data) -> Int32 {
        key.prefix(4).reduce(Int32(0)) { ($0 << 8) | Int32($1) }
    }

    public func readCards(inboxKey: Data, afterSequence: Int64, limit: Int) async throws -> (items: [CardRecord], more: Bool) {
        let rows = try await withConnection { connection in
            try await Self.rows("""
                SELECT seq, item_id, sealed, posted_at FROM card_items WHERE inbox = \(inboxKey) AND seq > \(afterSequence)
                ORDER BY seq LIMIT \(limit + 1)
                """, on: connection, logger: self.logger, as: (Int64, Data, Data, Int64).self)
        }
        let items = rows.prefix(limit).map { CardRecord(sequence: $0.0, itemID: $0.1, sealed: $0.2, postedAt: $0.3) }
        return (Array(items), rows.count > limit)
    }

    public func cardCount(inboxKey: Data) async throws -> Int {
        try await scalar("SELECT COUNT(*) FROM card_items WHERE inbox = \(inboxKey)") ?? 0
    }

    // MARK: Expiry

    /// Locks the devices that lose deliveries (in id order, as commits do) before changing them.
    public func expire(now: Int64) async throws -> ExpiryCounts {
        let logger = self.logger
        return try await transaction { connection in
            try await connection.query("""
                SELECT 1 FROM devices WHERE id IN (
                    SELECT q.device FROM deliveries q JOIN messages m ON m.id = q.message WHERE m.expires_at <= \(now))
                ORDER BY id FOR NO KEY UPDATE
                """, logger: logger)
            try await connection.query("""
                UPDATE devices SET pending = pending - c.n FROM (
                    SELECT q.device, COUNT(*) AS n FROM deliveries q JOIN messages m ON m.id = q.message
                    WHERE m.expires_at <= \(now) GROUP BY q.device) AS c
                WHERE devices.id = c.device
                """, logger: logger)
            func count(_ query: PostgresQuery) async throws -> Int {
                try await Self.rows(query, on: connection, logger: logger, as: Int.self).first ?? 0
            }
            var counts = ExpiryCounts()
            counts.deliveries = try await count("""
                WITH gone AS (DELETE FROM deliveries WHERE message IN (SELECT id FROM messages WHERE expires_at <= \(now))
                              RETURNING 1)
                SELECT COUNT(*) FROM gone
                """)
            counts.messages = try await count("""
                WITH gone AS (DELETE FROM messages WHERE expires_at <= \(now) RETURNING 1) SELECT COUNT(*) FROM gone
                """)
            counts.blobs = try await count("""
                WITH gone AS (DELETE FROM blobs WHERE expires_at <= \(now) RETURNING 1) SELECT COUNT(*) FROM gone
                """)
            return counts
        }
    }
}
