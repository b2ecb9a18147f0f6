@testable import CaucusClient
import Foundation
import Testing

/// Protocol.md §7.9 and §9.6: every request counts against the relay's rate limit, so a client
/// acknowledges a backlog in batches, never with one `AckMessages` per delivery.
@Suite("Acknowledgements in batches", .timeLimit(.minutes(10)))
struct AckBatchingTests {
    @Test("Taking in a backlog of 150 group messages costs far fewer requests than deliveries, and each is acknowledged")
    func backlogIsAcknowledgedInBatches() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [rosa, tomasz, amira] { _ = try await worker.read() }
        let tomaszDevice = Data(try await tomasz.run { await $0.identity.publicKey }.rawRepresentation)
        let texts = (1...150).map { "backlog \($0)" }
        try await amira.run { account in
            let group = try await account.resolve("Warehouse 5")
            for text in texts { _ = try await account.send(text, to: group) }
            try await account.sync()
        }
        #expect(try await relay.store.pendingCount(recipient: tomaszDevice) >= texts.count)

        let before = Self.framesReceived(relay)
        let lines = try await tomasz.read()
        let requests = Self.framesReceived(relay) - before
        #expect(Worker.texts(lines).filter { $0.hasPrefix("backlog ") }.count == texts.count)
        // Every delivery was acknowledged: nothing is left for Tomasz on the relay.
        #expect(try await relay.store.pendingCount(recipient: tomaszDevice) == 0)
        print("AckBatching: \(texts.count) deliveries taken in with \(requests) requests")
        #expect(requests * 2 <= texts.count, "\(requests) requests for \(texts.count) deliveries")
    }

    @Test("A relay that never answers an acknowledgement does not hold a read: it ends, and what it showed is not shown again")
    func unansweredAcknowledgementIsBounded() async throws {
        let relay = try await TestRelay.start(hostile: true)
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, _) = try await GroupFlowTests.warehouse(directory, relay)
        _ = try await tomasz.read()
        try await rosa.run { account in _ = try await account.send("ack never answered", to: try await account.resolve("Warehouse 5")) }
        try #require(relay.hostile).attack { $0.stallAcknowledgements = true }
        // Without a bound on the wait for its acknowledgement this read never returns (the suite's time limit fails it).
        #expect(Worker.texts(try await tomasz.read()) == ["ack never answered"])
        try #require(relay.hostile).behave()
        // Redelivered on the next connection, recognised, acknowledged, not shown twice.
        #expect(Worker.texts(try await tomasz.read()).isEmpty)
        await relay.stop()
    }

    /// `caucus_relay_frames_received_total` on the relay's metrics page.
    static func framesReceived(_ relay: TestRelay) -> Int {
        let line = relay.relay.metricsText().split(separator: "\n")
            .first { $0.hasPrefix("caucus_relay_frames_received_total") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }
}
