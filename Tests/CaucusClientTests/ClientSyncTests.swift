@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import Foundation
import GRDB
import Testing

/// Protocol.md §9.9: the local store syncs its WAL at every commit, so a delivery is acknowledged
/// only once what it showed would survive an operating-system crash, not only a killed `caucus`.
@Suite("Client store: synced at every commit", .serialized, .timeLimit(.minutes(10)))
struct ClientSyncTests {
    @Test("The store's connection runs with synchronous = FULL, not GRDB's WAL default")
    func storeIsFull() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let store = try ClientStore(path: directory.file(ClientStore.fileName), identity: Ed25519.PrivateKey())
        let level = try await store.queue.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == 2, "PRAGMA synchronous on the client store is not FULL (2)")
    }

    @Test("caucus read under strace syncs its store at least once for every delivery it stores and acknowledges")
    func readSyncsEachDelivery() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            // Rosa takes in what the group set-up left for her, so the traced read holds only these.
            _ = try await rosa.json("read")
            let texts = (1...10).map { "synced \($0)" }
            for text in texts { try await tomasz.succeed("send", CLIWorker.group, text) }

            let trace = SyncTrace(output: directory.file("rosa-read.trace"))
            let command = try trace.launcher() + [try BuiltBinaries.caucus(), "read", "--json", "--home", rosa.home]
            let outcome = try await ChildProcess(command[0], Array(command.dropFirst()), environment: CLIWorker.environment())
                .finish(within: .seconds(90))
            try #require(outcome.status == 0, "\(outcome)")
            let lines = try #require(outcome.json as? [[String: Any]], "\(outcome)")
            #expect(Set(lines.compactMap { $0["text"] as? String }) == Set(texts))

            let syncs = try trace.syncStarts()
            #expect(syncs.count >= texts.count, """
                caucus read stored and acknowledged \(texts.count) deliveries with only \(syncs.count) fsync/fdatasync calls: \
                its store does not sync each commit
                """)
        }
    }
}
