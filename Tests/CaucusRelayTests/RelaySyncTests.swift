import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// Protocol.md §7.12: a request is answered only after the commit that holds it was synced. A
/// SIGKILL test cannot show this (the page cache survives a killed process), so these tests read
/// the store's setting and count the relay process's syncs under strace.
@Suite("Relay: every answered commit was synced first", .serialized, .timeLimit(.minutes(10)))
struct RelaySyncTests {
    @Test("The SQLite store's writing connection runs with synchronous = FULL, not GRDB's WAL default")
    func writerIsFull() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let store = try SQLiteRelayStore(path: directory.file("relay.sqlite"))
        #expect(try await store.writerSynchronous() == 2, "PRAGMA synchronous on the writer is not FULL (2)")
        try await store.close()
    }

    @Test("Sends and acknowledgements one at a time: a sync of the relay's comes between each request and its answer")
    func syncedBeforeAnswered() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let trace = SyncTrace(output: directory.file("syncs.trace"))
        let relay = try await RelayProcess.start(dataDirectory: directory.file("relay"), launcher: try trace.launcher())
        let alice = Device(), bob = Device()
        let sender = try await RelayClient.connect(url: relay.url, deviceKey: alice.key, timeout: processConnectTimeout)
        let receiver = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, timeout: processConnectTimeout)

        // Each request waits for the answer to the one before, so no two share a commit.
        var answered: [AnsweredRequest] = []
        for round in 0..<40 {
            answered.append(try await AnsweredRequest.timed("SendMessage \(round)") {
                try await sender.send(Data(repeating: 0x5A, count: 1024), to: [bob.id])
            })
            let delivery = try #require(try await receiver.deliveries(1).first)
            var removed: UInt32 = 0
            answered.append(try await AnsweredRequest.timed("AckMessages \(round)") {
                removed = try await receiver.ack([delivery.messageID.data])
            })
            #expect(removed == 1)
        }
        await sender.close()
        await receiver.close()
        // SIGTERM reaches strace and the relay: strace writes out what it holds and exits.
        _ = try await relay.terminate()

        let syncs = try trace.syncStarts()
        let unsynced = answered.filter { !$0.wasSynced(by: syncs) }
        #expect(unsynced.isEmpty, """
            \(unsynced.count) of \(answered.count) requests were answered with no fsync/fdatasync of the relay's \
            between the request and its answer (\(syncs.count) syncs in the whole run): \(unsynced.prefix(6))
            """)
    }
}
