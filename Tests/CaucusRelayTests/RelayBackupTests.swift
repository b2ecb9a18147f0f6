import CaucusCrypto
import CaucusRelay
import Foundation
import GRDB
import Testing

/// `SQLiteRelayBackup`, which `caucus-relay backup` runs: a copy of a store that a running relay
/// keeps writing to.
@Suite("Relay: backup of the SQLite store", .timeLimit(.minutes(10)))
struct RelayBackupTests {
    @Test("A backup taken while the relay accepts messages holds every message accepted before it and passes its check")
    func backupWhileWriting() async throws {
        let relay = try await TestRelay.start()
        let sender = Device(), recipient = Device()
        let s = try await relay.connect(sender.key)
        for _ in 0..<50 { try await s.send(Data("before".utf8), to: [recipient.id]) }
        // Sends keep going while the copy is taken.
        let writing = Task {
            for _ in 0..<200 { try await s.send(Data("during".utf8), to: [recipient.id]) }
        }
        let destination = relay.directory.file("copy.sqlite")
        let report = try SQLiteRelayBackup.backup(from: relay.databasePath, to: destination)
        try await writing.value
        #expect(report.destination == destination && report.pages > 0 && report.bytes > 0)
        // The copy carries no WAL: its main file is complete.
        #expect(!FileManager.default.fileExists(atPath: destination + "-wal"))
        // Only its owner may read it, as the store itself.
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: destination)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600, "the copy's mode is \(String(mode & 0o777, radix: 8))")
        let copied = try countRows(destination, "SELECT COUNT(*) FROM messages")
        #expect(copied >= 50 && copied <= 250, "\(copied) messages in the copy")
        #expect(try SQLiteInspector.scalar(path: destination, sql: "SELECT COUNT(*) FROM deliveries") == copied)
        await s.close()
        await relay.stop()
    }

    @Test("An existing destination is refused unless overwriting is asked for, and a missing store is named")
    func refusals() async throws {
        let relay = try await TestRelay.start()
        let destination = relay.directory.file("copy.sqlite")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: destination))
        #expect(throws: SQLiteRelayBackup.Failure.destinationExists(destination)) {
            try SQLiteRelayBackup.backup(from: relay.databasePath, to: destination)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: destination)) == Data("keep me".utf8))
        _ = try SQLiteRelayBackup.backup(from: relay.databasePath, to: destination, overwrite: true)
        #expect(try countRows(destination, "SELECT COUNT(*) FROM groups") == 0)

        let nowhere = relay.directory.file("no-such-dir/relay.sqlite")
        #expect(throws: SQLiteRelayBackup.Failure.noStore(nowhere)) {
            try SQLiteRelayBackup.backup(from: nowhere, to: relay.directory.file("other.sqlite"))
        }
        await relay.stop()
    }
}

/// Stores written by an older relay (or backups of one) open with the current schema.
@Suite("Relay: SQLite schema upgrades", .timeLimit(.minutes(10)))
struct RelaySchemaUpgradeTests {
    @Test("A store from before payloads had their own table opens with every undelivered payload intact and its id remembered")
    func payloadsMoveToTheirTable() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let path = directory.file("old.sqlite")
        let recipient = Data(repeating: 7, count: 32), messageID = Data(repeating: 9, count: 16)
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteRelayStore.migrator.migrate(old, upTo: "v1")
            try await old.write { db in
                try db.execute(sql: "INSERT INTO devices (id, key, pending) VALUES (1, ?, 1)", arguments: [recipient])
                try db.execute(sql: """
                    INSERT INTO messages (id, message_id, payload, accepted_at, expires_at, remaining)
                    VALUES (1, ?, ?, 1, 32503680000000, 1)
                    """, arguments: [messageID, Data("kept".utf8)])
                try db.execute(sql: "INSERT INTO deliveries (device, message) VALUES (1, 1)")
            }
            try old.close()
        }
        let store = try SQLiteRelayStore(path: path)
        let waiting = try await store.pendingDeliveries(recipient: recipient, afterSequence: 0, limit: 10)
        #expect(waiting.map(\.payload) == [Data("kept".utf8)])
        #expect(waiting.map(\.messageID) == [messageID])
        // Its id is remembered: the copy of the messages table lost no row.
        let resent = try await store.commit(WriteBatch(messages: [NewMessage(
            messageID: messageID, target: .devices([recipient]), payload: Data("again".utf8),
            acceptedAt: 2, expiresAt: 32503680000000)]))
        #expect(resent.outcomes == [.duplicate])
        try await store.close()
        #expect(try countRows(path, "SELECT COUNT(*) FROM payloads") == 1)
    }
}
