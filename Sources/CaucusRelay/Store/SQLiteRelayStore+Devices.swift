import Foundation
import GRDB

/// Device chains (Protocol.md §2.2, §7.8): the entries as published, and on each device row its
/// owner, kind and revocation, which group fan-out, authentication and direct sends read.
extension SQLiteRelayStore {
    public func publishDevices(_ chain: PublishedDeviceChain) async throws -> DevicesPublication {
        try await pool.write { db in
            let identity = try self.deviceID(chain.identity)
            let stored = try Data.fetchAll(db, sql: "SELECT entry FROM device_chains WHERE identity = ? ORDER BY seq",
                                           arguments: [identity])
            try StoreRules.checkExtension(stored: stored, published: chain.entries)
            guard stored.count < chain.entries.count else { return DevicesPublication(entries: stored.count, revoked: []) }
            var revoked: [Data] = []
            for device in chain.devices {
                let row = try self.deviceID(device.key)
                let current = try Row.fetchOne(db, sql: "SELECT owner, revoked FROM devices WHERE id = ?", arguments: [row])!
                let owner: Int64? = current[0]
                guard owner == nil || owner == identity else { throw StoreRules.deviceOfAnotherIdentity }
                let wasRevoked: Bool = current[1]
                if device.revoked && !wasRevoked { revoked.append(device.key) }
                try db.execute(sql: "UPDATE devices SET owner = ?, kind = ?, revoked = ? WHERE id = ?",
                               arguments: [identity, Int64(device.kind), device.revoked, row])
            }
            try db.execute(sql: "UPDATE devices SET chained = 1 WHERE id = ?", arguments: [identity])
            let insert = try db.cachedStatement(sql: "INSERT INTO device_chains (identity, seq, entry) VALUES (?, ?, ?)")
            for (sequence, entry) in chain.entries.enumerated().dropFirst(stored.count) {
                try insert.execute(arguments: [identity, sequence, entry])
            }
            // A revoked paper key opens nothing more.
            for key in revoked {
                try db.execute(sql: "DELETE FROM recovery_boxes WHERE paper = ?", arguments: [try self.deviceID(key)])
            }
            return DevicesPublication(entries: chain.entries.count, revoked: revoked)
        }
    }

    public func deviceChain(identity: Data) async throws -> [Data] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: """
                SELECT c.entry FROM devices d JOIN device_chains c ON c.identity = d.id WHERE d.key = ? ORDER BY c.seq
                """, arguments: [identity])
        }
    }

    public func deviceStatus(_ device: Data) async throws -> DeviceStatus? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT o.key, d.kind, d.revoked FROM devices d JOIN devices o ON o.id = d.owner WHERE d.key = ?
                """, arguments: [device]).map { row in
                    let kind: Int64 = row[1]
                    return DeviceStatus(identity: row[0], kind: UInt8(truncatingIfNeeded: kind), revoked: row[2])
                }
        }
    }

    public func revokedDevices(among devices: [Data]) async throws -> Set<Data> {
        guard !devices.isEmpty else { return [] }
        return try await pool.read { db in
            var revoked = Set<Data>()
            // SQLite binds at most 32,766 parameters per statement.
            for start in stride(from: 0, to: devices.count, by: 1_000) {
                let part = Array(devices[start..<min(start + 1_000, devices.count)])
                let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
                revoked.formUnion(try Data.fetchAll(db, sql: "SELECT key FROM devices WHERE revoked = 1 AND key IN (\(marks))",
                                                    arguments: StatementArguments(part)))
            }
            return revoked
        }
    }

    public func putRecoveryBox(paperKey: Data, sealed: Data, at: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO recovery_boxes (paper, sealed, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (paper) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
                """, arguments: [try self.deviceID(paperKey), sealed, at])
        }
    }

    public func recoveryBox(paperKey: Data) async throws -> Data? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: """
                SELECT r.sealed FROM recovery_boxes r JOIN devices d ON d.id = r.paper WHERE d.key = ?
                """, arguments: [paperKey])
        }
    }
}
