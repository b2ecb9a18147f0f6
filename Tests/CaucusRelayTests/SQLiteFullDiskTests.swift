import CaucusCrypto
import CaucusRelay
import CaucusTestSupport
import Foundation
import Testing

/// The SQLite store keeps the message ids it remembers in memory (`SQLiteMessageIDs`); a commit
/// the disk refuses must leave nothing behind there that a later send would be answered from.
@Suite("Relay: SQLite store on a full disk", .enabled(if: SmallDisk.canMount), .timeLimit(.minutes(10)))
struct SQLiteFullDiskTests {
    @Test("A commit the full disk refuses stores nothing and remembers no id: the same send succeeds once there is room")
    func refusedCommitForgetsItsIDs() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let disk = try SmallDisk(at: directory.file("disk"), bytes: 2 << 20)
        defer { disk.unmount() }
        let store = try SQLiteRelayStore(path: (disk.path as NSString).appendingPathComponent("relay.sqlite"))
        let bob = Data(Random.bytes(32)), id = Data(Random.bytes(16))
        func send(_ payload: Data) -> WriteBatch {
            WriteBatch(messages: [NewMessage(messageID: id, target: .devices([bob]), payload: payload,
                                             acceptedAt: 1_800_000_000_000, expiresAt: 1_900_000_000_000)])
        }

        try disk.fill()
        // Larger than the log holds already, so the commit needs space the disk does not have.
        await #expect(throws: (any Error).self) { try await store.commit(send(Data(count: 512 << 10))) }
        disk.emptyFiller()

        let retried = try await store.commit(send(Data("after".utf8)))
        guard case .stored(let recipients, _) = retried.outcomes[0] else { Issue.record("\(retried.outcomes)"); return }
        #expect(recipients.map(\.key) == [bob])
        let waiting = try await store.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 10)
        #expect(waiting.map(\.messageID) == [id] && waiting.map(\.payload) == [Data("after".utf8)])
        #expect(try await store.commit(send(Data("again".utf8))).outcomes == [.duplicate])
        try await store.close()
    }
}
