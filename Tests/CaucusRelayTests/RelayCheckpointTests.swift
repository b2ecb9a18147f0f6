import CaucusCrypto
import CaucusRelay
import CaucusTestSupport
import Foundation
import Testing

/// `SQLiteCheckpointer` (Protocol.md §7.11): the SQLite store's log is copied into the database
/// file once it has grown by the policy's number of pages, or once the writer has been quiet for
/// the policy's delay, and the writer copies it itself inside a commit if the log reaches the
/// backstop. Each test turns the other two triggers off, and sees the copy as the database file
/// growing (pages live only in the log until a checkpoint copies them).
@Suite("Relay: the SQLite log is checkpointed by size, when quiet, and by the writer's backstop", .timeLimit(.minutes(2)))
struct RelayCheckpointTests {
    /// Effectively never.
    private static let never = SQLiteCheckpointPolicy(logPages: Int.max, idleDelay: .seconds(86_400), backstopPages: Int(Int32.max))

    @Test("A log that grew by the policy's pages is checkpointed while the writer keeps going")
    func bySize() async throws {
        var policy = Self.never
        policy.logPages = 64
        // About 200 pages of payloads and index: well past 64.
        try await expectCheckpoint(policy, afterCommitting: 600, waiting: true)
    }

    @Test("A shorter log is checkpointed once the writer has been quiet for the policy's delay")
    func whenQuiet() async throws {
        var policy = Self.never
        policy.idleDelay = .milliseconds(200)
        try await expectCheckpoint(policy, afterCommitting: 5, waiting: true)
    }

    @Test("The writer checkpoints itself inside the commit that takes the log to the backstop")
    func backstop() async throws {
        var policy = Self.never
        policy.backstopPages = 64
        // No waiting: the commit that reached the backstop copied the log before it returned.
        try await expectCheckpoint(policy, afterCommitting: 600, waiting: false)
    }

    // MARK: Helpers

    /// Commits `count` messages to a fresh store with `policy`, then expects its database file to
    /// grow: at once, or (`waiting`) within a generous bound.
    private func expectCheckpoint(_ policy: SQLiteCheckpointPolicy, afterCommitting count: Int, waiting: Bool) async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let path = directory.file("relay.sqlite")
        let store = try SQLiteRelayStore(path: path, checkpointing: policy)
        do {
            let before = try fileSize(path)
            try await commitMessages(store, count: count)
            let grew = waiting ? try await grows(path, beyond: before) : try fileSize(path) > before
            #expect(grew, "the database file stayed at \(before) bytes: no checkpoint")
        } catch {
            try await store.close()
            throw error
        }
        try await store.close()
    }

    private func commitMessages(_ store: SQLiteRelayStore, count: Int) async throws {
        let recipient = Data(Random.bytes(32))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let messages = (0..<count).map { _ in
            NewMessage(messageID: Data(Random.bytes(16)), target: .devices([recipient]),
                       payload: Data(Random.bytes(1024)), acceptedAt: now, expiresAt: now + 86_400_000)
        }
        let result = try await store.commit(WriteBatch(messages: messages))
        #expect(result.outcomes.count == count)
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// Whether the file grows past `size` within a generous bound, looked at every 20 ms.
    private func grows(_ path: String, beyond size: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try fileSize(path) > size { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
