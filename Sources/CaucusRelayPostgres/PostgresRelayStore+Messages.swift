import CaucusProtocol
import CaucusRelay
import Foundation
import NIOCore
import PostgresNIO

extension PostgresRelayStore {
    /// A message planned for storing in `commit`, before its row exists.
    private struct PlannedMessage {
        let index: Int
        let message: NewMessage
        let groupID: Data?
        let recipients: [StoreRules.Recipient]
    }

    /// One transaction for the whole batch, in a fixed number of statements whatever its size:
    /// read known ids and group members, create and lock the devices involved (by id), decide
    /// each message in Swift as the SQLite store does, insert messages (ordered by id) and
    /// deliveries, settle acknowledgements, and NOTIFY the other instances.
    public func commit(_ batch: WriteBatch) async throws -> WriteBatchResult {
        let limits = self.limits
        let logger = self.logger
        let instance = self.instance
        return try await transaction { connection in
            let ids = StoreRules.unique(batch.messages.map(\.messageID))
            var known = Set<Data>()
            if !ids.isEmpty {
                let rows: [Data] = try await Self.rows("SELECT message_id FROM messages WHERE message_id = ANY(\(byteaArray(ids)))",
                                                       on: connection, logger: logger, as: Data.self)
                known.formUnion(rows)
            }

            // The devices each group's messages go to, by group id (Protocol.md §7.6: every active
            // computer of each routed identity's chain, and each routed key that no chain lists and
            // that published none); a group without any maps to an empty list.
            let groupIDs = StoreRules.unique(batch.messages.compactMap { message -> Data? in
                if case .group(let id, _) = message.target { id } else { nil }
            })
            var members: [Data: [Int64]] = [:]
            if !groupIDs.isEmpty {
                for (group, device) in try await Self.rows("""
                    SELECT g.group_id, r.device FROM groups g LEFT JOIN (
                        SELECT m.grp, d.id AS device FROM group_members m JOIN devices d ON d.owner = m.device
                        WHERE d.kind = 1 AND NOT d.revoked
                        UNION ALL
                        SELECT m.grp, d.id FROM group_members m JOIN devices d ON d.id = m.device
                        WHERE d.owner IS NULL AND NOT d.chained
                    ) r ON r.grp = g.id
                    WHERE g.group_id = ANY(\(byteaArray(groupIDs)))
                    """, on: connection, logger: logger, as: (Data, Int64?).self) {
                    members[group, default: []].append(contentsOf: device.map { [$0] } ?? [])
                }
            }

            // Devices named directly get rows; then every device involved is locked, in id order.
            let named = StoreRules.unique(batch.messages.flatMap { message -> [Data] in
                if case .devices(let keys) = message.target { keys } else { [] }
            })
            if !named.isEmpty {
                try await connection.query("""
                    INSERT INTO devices (key) SELECT k FROM unnest(\(byteaArray(named.sorted(by: Self.byteOrder)))::bytea[]) AS k
                    ON CONFLICT (key) DO NOTHING
                    """, logger: logger)
            }
            let lockKeys = named + batch.acknowledgements.map(\.recipient)
            let lockIDs = members.values.flatMap { $0 }
            var devices: [Data: StoreRules.Recipient] = [:]
            var keyOfID: [Int64: Data] = [:]
            var revoked = Set<Data>()
            if !lockKeys.isEmpty || !lockIDs.isEmpty {
                for (id, key, pending, isRevoked) in try await Self.rows("""
                    SELECT id, key, pending, revoked FROM devices
                    WHERE key = ANY(\(byteaArray(lockKeys))) OR id = ANY(\(lockIDs))
                    ORDER BY id FOR NO KEY UPDATE
                    """, on: connection, logger: logger, as: (Int64, Data, Int, Bool).self) {
                    devices[key] = StoreRules.Recipient(id: id, key: key, pending: pending)
                    keyOfID[id] = key
                    if isRevoked { revoked.insert(key) }
                }
            }

            // Decide each message in order, counting what earlier ones in the batch add.
            var outcomes: [AcceptOutcome] = []
            var planned: [PlannedMessage] = []
            var stored = known
            for (index, message) in batch.messages.enumerated() {
                if stored.contains(message.messageID) { outcomes.append(.duplicate); continue }
                var recipients: [StoreRules.Recipient]
                var groupID: Data?
                switch message.target {
                case .devices(let keys):
                    // A revoked device gets nothing more (Protocol.md §7.8).
                    recipients = StoreRules.unique(keys).filter { !revoked.contains($0) }.map { devices[$0]! }
                case .group(let id, let sender):
                    guard let ids = members[id] else { outcomes.append(.refused(StoreRules.noSuchGroup)); continue }
                    switch StoreRules.groupRecipients(members: ids.map { devices[keyOfID[$0]!]! }, sender: sender) {
                    case .success(let others): recipients = others
                    case .failure(let error): outcomes.append(.refused(error)); continue
                    }
                    groupID = id
                }
                switch StoreRules.split(recipients, limits: limits) {
                case .failure(let error):
                    outcomes.append(.refused(error))
                case .success(let split):
                    for recipient in split.accepting { devices[recipient.key]!.pending += 1 }
                    stored.insert(message.messageID)
                    planned.append(PlannedMessage(index: index, message: message, groupID: groupID, recipients: split.accepting))
                    outcomes.append(.stored(recipients: [], mailboxFull: split.full))
                }
            }

            if !planned.isEmpty {
                let sequences = try await Self.insert(planned, on: connection, logger: logger)
                for plan in planned {
                    guard case .stored(_, let full) = outcomes[plan.index] else { continue }
                    outcomes[plan.index] = .stored(recipients: plan.recipients.enumerated().map { offset, recipient in
                        (recipient.key, sequences[plan.index]![offset])
                    }, mailboxFull: full)
                }
            }
            let removed = try await Self.acknowledge(batch.acknowledgements, devices: devices, on: connection, logger: logger)

            // Pending counts of every device whose mailbox changed.
            var change: [Int64: Int] = [:]
            for plan in planned { for recipient in plan.recipients { change[recipient.id, default: 0] += 1 } }
            for (ack, count) in zip(batch.acknowledgements, removed) where count > 0 {
                change[devices[ack.recipient]!.id, default: 0] -= count
            }
            change = change.filter { $0.value != 0 }
            if !change.isEmpty {
                try await connection.query("""
                    UPDATE devices SET pending = pending + c.n
                    FROM unnest(\(Array(change.keys))::int8[], \(change.values.map(Int64.init))::int8[]) AS c(id, n)
                    WHERE devices.id = c.id
                    """, logger: logger)
            }
            let notified = StoreRules.unique(planned.flatMap { $0.recipients.map(\.key) })
            if !notified.isEmpty {
                try await connection.query("""
                    SELECT pg_notify(\(Self.deliveryChannel), p) FROM unnest(\(Self.notices(notified, from: instance))::text[]) AS p
                    """, logger: logger)
            }
            return WriteBatchResult(outcomes: outcomes, removed: removed)
        }
    }

    /// Inserts planned messages (in message-id order, so that concurrent batches lock the same
    /// ids in the same order) and their deliveries (in batch order, so each device's sequences
    /// grow as in the batch). Returns each planned message's delivery sequences by batch index.
    /// A message id another instance stored meanwhile restarts the transaction.
    private static func insert(_ planned: [PlannedMessage], on connection: PostgresConnection,
                               logger: Logger) async throws -> [Int: [Int64]] {
        let messages = planned.map(\.message)
        let rows = try await rows("""
            INSERT INTO messages (message_id, payload, group_id, accepted_at, expires_at, remaining)
            SELECT id, CASE WHEN n > 0 THEN payload END, NULLIF(grp, ''::bytea), accepted, expires, n
            FROM unnest(\(byteaArray(messages.map(\.messageID)))::bytea[], \(byteaArray(messages.map(\.payload)))::bytea[],
                        \(byteaArray(planned.map { $0.groupID ?? Data() }))::bytea[],
                        \(messages.map(\.acceptedAt))::int8[], \(messages.map(\.expiresAt))::int8[],
                        \(planned.map { Int64($0.recipients.count) })::int8[])
                 AS t(id, payload, grp, accepted, expires, n)
            ORDER BY id
            ON CONFLICT (message_id) DO NOTHING
            RETURNING id, message_id
            """, on: connection, logger: logger, as: (Int64, Data).self)
        guard rows.count == planned.count else { throw Retry() }
        let rowOf = Dictionary(uniqueKeysWithValues: rows.map { ($0.1, $0.0) })

        var deviceColumn: [Int64] = [], messageColumn: [Int64] = []
        for plan in planned {
            for recipient in plan.recipients {
                deviceColumn.append(recipient.id)
                messageColumn.append(rowOf[plan.message.messageID]!)
            }
        }
        var sequence: [Pair: Int64] = [:]
        if !deviceColumn.isEmpty {
            for (seq, device, message) in try await Self.rows("""
                INSERT INTO deliveries (device, message)
                SELECT d, m FROM unnest(\(deviceColumn)::int8[], \(messageColumn)::int8[]) WITH ORDINALITY AS t(d, m, n)
                ORDER BY n
                RETURNING seq, device, message
                """, on: connection, logger: logger, as: (Int64, Int64, Int64).self) {
                sequence[Pair(device: device, message: message)] = seq
            }
        }
        var out: [Int: [Int64]] = [:]
        for plan in planned {
            let row = rowOf[plan.message.messageID]!
            out[plan.index] = plan.recipients.map { sequence[Pair(device: $0.id, message: row)]! }
        }
        return out
    }

    private struct Pair: Hashable {
        let device: Int64
        let message: Int64
    }

    /// Deletes acknowledged deliveries and settles their messages (the payload goes with the last
    /// delivery). Returns how many each acknowledgement removed; the caller fixes pending counts.
    private static func acknowledge(_ acks: [Acknowledgement], devices: [Data: StoreRules.Recipient],
                                    on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        var deviceColumn: [Int64] = [], idColumn: [Data] = []
        for ack in acks {
            guard let device = devices[ack.recipient] else { continue }
            for id in ack.messageIDs {
                deviceColumn.append(device.id)
                idColumn.append(id)
            }
        }
        guard !deviceColumn.isEmpty else { return acks.map { _ in 0 } }
        var gone = Set<DeliveryKey>()
        var settled: [Int64: Int64] = [:]
        for (device, messageID, message) in try await rows("""
            DELETE FROM deliveries q USING unnest(\(deviceColumn)::int8[], \(byteaArray(idColumn))::bytea[]) AS a(device, mid), messages m
            WHERE m.message_id = a.mid AND q.message = m.id AND q.device = a.device
            RETURNING q.device, m.message_id, m.id
            """, on: connection, logger: logger, as: (Int64, Data, Int64).self) {
            gone.insert(DeliveryKey(device: device, messageID: messageID))
            settled[message, default: 0] += 1
        }
        if !settled.isEmpty {
            let ids = settled.keys.sorted()
            try await connection.query("SELECT 1 FROM messages WHERE id = ANY(\(ids)) ORDER BY id FOR NO KEY UPDATE",
                                       logger: logger)
            try await connection.query("""
                UPDATE messages SET remaining = remaining - c.n,
                    payload = CASE WHEN remaining - c.n <= 0 THEN NULL ELSE payload END
                FROM unnest(\(ids)::int8[], \(ids.map { settled[$0]! })::int8[]) AS c(id, n)
                WHERE messages.id = c.id
                """, logger: logger)
        }
        // Each removed delivery counts for the first acknowledgement that names it.
        return acks.map { ack in
            guard let device = devices[ack.recipient] else { return 0 }
            return ack.messageIDs.reduce(0) { count, id in
                gone.remove(DeliveryKey(device: device.id, messageID: id)) == nil ? count : count + 1
            }
        }
    }

    private struct DeliveryKey: Hashable {
        let device: Int64
        let messageID: Data
    }

    public func pendingDeliveries(recipient: Data, afterSequence: Int64, limit: Int) async throws -> [StoredDelivery] {
        try await withConnection { connection in
            try await Self.rows("""
                SELECT q.seq, m.message_id, m.payload, m.group_id, m.accepted_at, m.expires_at
                FROM devices d JOIN deliveries q ON q.device = d.id JOIN messages m ON m.id = q.message
                WHERE d.key = \(recipient) AND q.seq > \(afterSequence) ORDER BY q.seq LIMIT \(limit)
                """, on: connection, logger: self.logger, as: (Int64, Data, Data?, Data?, Int64, Int64).self)
        }.map { seq, id, payload, group, accepted, expires in
            StoredDelivery(sequence: seq, messageID: id, payload: payload ?? Data(), groupID: group,
                           acceptedAt: accepted, expiresAt: expires)
        }
    }

    public func pendingCount(recipient: Data) async throws -> Int {
        try await scalar("SELECT pending FROM devices WHERE key = \(recipient)") ?? 0
    }

    /// The first column of the first row, if any.
    func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        try await withConnection { connection in
            try await Self.rows(query, on: connection, logger: self.logger, as: T.self).first
        }
    }

    /// Byte-wise order of keys: rows are created in this order by every instance.
    static func byteOrder(_ a: Data, _ b: Data) -> Bool { a.lexicographicallyPrecedes(b) }
}
