import CaucusRelay
import Foundation
import PostgresNIO

/// Device chains (Protocol.md §2.2, §7.8), as the SQLite store keeps them: the entries as
/// published, and on each device row its owner, kind and revocation.
extension PostgresRelayStore {
    public func publishDevices(_ chain: PublishedDeviceChain) async throws -> DevicesPublication {
        let logger = self.logger
        return try await transaction { connection in
            // The identity's row is locked first, so two instances publishing for it take turns.
            let identity = try await Self.lockedDevice(chain.identity, on: connection, logger: logger)
            let stored = try await Self.rows("SELECT entry FROM device_chains WHERE identity = \(identity) ORDER BY seq",
                                             on: connection, logger: logger, as: Data.self)
            try StoreRules.checkExtension(stored: stored, published: chain.entries)
            guard stored.count < chain.entries.count else { return DevicesPublication(entries: stored.count, revoked: []) }
            let ids = try await Self.deviceIDs(chain.devices.map(\.key), on: connection, logger: logger)
            var current: [Int64: (owner: Int64?, revoked: Bool)] = [:]
            for (id, owner, revoked) in try await Self.rows("""
                SELECT id, owner, revoked FROM devices WHERE id = ANY(\(ids.values.sorted())) ORDER BY id FOR NO KEY UPDATE
                """, on: connection, logger: logger, as: (Int64, Int64?, Bool).self) {
                current[id] = (owner, revoked)
            }
            var revoked: [Data] = []
            for device in chain.devices {
                let id = ids[device.key]!
                let (owner, wasRevoked) = current[id]!
                guard owner == nil || owner == identity else { throw StoreRules.deviceOfAnotherIdentity }
                if device.revoked && !wasRevoked { revoked.append(device.key) }
                try await connection.query("""
                    UPDATE devices SET owner = \(identity), kind = \(Int16(device.kind)), revoked = \(device.revoked) WHERE id = \(id)
                    """, logger: logger)
            }
            try await connection.query("UPDATE devices SET chained = true WHERE id = \(identity)", logger: logger)
            let fresh = Array(chain.entries.dropFirst(stored.count))
            try await connection.query("""
                INSERT INTO device_chains (identity, seq, entry)
                SELECT \(identity), \(stored.count) + n - 1, e FROM unnest(\(byteaArray(fresh))::bytea[]) WITH ORDINALITY AS t(e, n)
                """, logger: logger)
            // A revoked paper key opens nothing more.
            if !revoked.isEmpty {
                try await connection.query("DELETE FROM recovery_boxes WHERE paper = ANY(\(revoked.map { ids[$0]! }))", logger: logger)
            }
            return DevicesPublication(entries: chain.entries.count, revoked: revoked)
        }
    }

    public func deviceChain(identity: Data) async throws -> [Data] {
        try await withConnection { connection in
            try await Self.rows("""
                SELECT c.entry FROM devices d JOIN device_chains c ON c.identity = d.id WHERE d.key = \(identity) ORDER BY c.seq
                """, on: connection, logger: self.logger, as: Data.self)
        }
    }

    public func deviceStatus(_ device: Data) async throws -> DeviceStatus? {
        try await withConnection { connection in
            try await Self.rows("""
                SELECT o.key, d.kind, d.revoked FROM devices d JOIN devices o ON o.id = d.owner WHERE d.key = \(device)
                """, on: connection, logger: self.logger, as: (Data, Int16, Bool).self).first.map { identity, kind, revoked in
                    DeviceStatus(identity: identity, kind: UInt8(truncatingIfNeeded: kind), revoked: revoked)
                }
        }
    }

    public func revokedDevices(among devices: [Data]) async throws -> Set<Data> {
        guard !devices.isEmpty else { return [] }
        return try await withConnection { connection in
            Set(try await Self.rows("SELECT key FROM devices WHERE revoked AND key = ANY(\(byteaArray(devices)))",
                                    on: connection, logger: self.logger, as: Data.self))
        }
    }

    public func putRecoveryBox(paperKey: Data, sealed: Data, at: Int64) async throws {
        let logger = self.logger
        try await transaction { connection in
            let paper = try await Self.deviceIDs([paperKey], on: connection, logger: logger)[paperKey]!
            try await connection.query("""
                INSERT INTO recovery_boxes (paper, sealed, updated_at) VALUES (\(paper), \(sealed), \(at))
                ON CONFLICT (paper) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
                """, logger: logger)
        }
    }

    public func recoveryBox(paperKey: Data) async throws -> Data? {
        try await withConnection { connection in
            try await Self.rows("""
                SELECT r.sealed FROM recovery_boxes r JOIN devices d ON d.id = r.paper WHERE d.key = \(paperKey)
                """, on: connection, logger: self.logger, as: Data.self).first
        }
    }
}
