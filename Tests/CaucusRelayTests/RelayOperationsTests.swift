import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// What operators see: health, metrics, expiry.
@Suite("Relay: operations", .timeLimit(.minutes(10)))
struct RelayOperationsTests {
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("/healthz answers ok; /metrics, on the operators' listener only, counts traffic without naming anyone")
    func healthAndMetrics() async throws {
        let relay = try await TestRelay.start {
            $0.metricsPort = 0
            $0.storeStatisticsSeconds = 0
        }
        let base = "http://127.0.0.1:\(relay.running.port)"
        let operators = "http://127.0.0.1:\(try #require(relay.running.metricsPort))"
        #expect(relay.running.metricsPort != relay.running.port)
        for address in [base, operators] {
            let health = try await Self.get(address + "/healthz")
            #expect(health.status == 200 && health.body == "ok\n")
        }
        // The clients' port is the public one: it does not show the relay's traffic to the world.
        #expect(try await Self.get(base + "/metrics").status == 404)
        #expect(try await Self.get(operators + "/v1/ws").status == 404)

        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        let b = try await relay.connect(bob.key)
        for _ in 0..<3 { try await a.send(Data("x".utf8), to: [bob.id]) }
        let got = try await b.deliveries(3)
        try await b.ack(got.map(\.messageID.data))
        _ = await relayError { try await a.send(Data("x".utf8), to: [Data([1])]) }
        // One message waits for a device that never connects.
        try await a.send(Data("waits".utf8), to: [Device().id])

        let metrics = try await Self.get(operators + "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("caucus_relay_messages_accepted_total 4"))
        // The store's figures, read for the scrape.
        func value(_ name: String) -> Double? {
            metrics.body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        #expect(value("caucus_relay_store_deliveries_waiting") == 1)
        #expect(value("caucus_relay_store_mailboxes_waiting") == 1)
        #expect(value("caucus_relay_store_devices") == 2)  // bob and the device that never connects: recipients
        #expect((value("caucus_relay_store_bytes") ?? 0) > 0)
        #expect((value("caucus_relay_store_oldest_waiting_seconds") ?? -1) >= 0)
        #expect(value("caucus_relay_store_banned_devices") == 0)
        #expect(metrics.body.contains("caucus_relay_deliveries_acknowledged_total 3"))
        #expect(metrics.body.contains("caucus_relay_authentications_total 2"))
        #expect(metrics.body.contains("caucus_relay_errors_total{code=\"INVALID_ARGUMENT\"} 1"))
        #expect(metrics.body.contains("caucus_relay_connections 2"))
        #expect(metrics.body.contains("caucus_relay_commit_duration"))
        #expect(metrics.body.contains("caucus_relay_commit_batch_size"))
        for key in [alice.id, bob.id] {
            let hex = key.map { String(format: "%02x", $0) }.joined()
            #expect(!metrics.body.contains(String(hex.prefix(8))))
        }
        await a.close(); await b.close()
        await relay.stop()
    }

    @Test("A relay whose port was taken between choosing and binding says so instead of waiting forever")
    func portTakenBeforeBinding() async throws {
        let held = try HeldLoopbackPort()
        defer { held.release() }
        do {
            let relay = try await TestRelay.start { $0.port = held.port }
            Issue.record("a second listener on port \(held.port) started")
            await relay.stop()
        } catch {
            #expect("\(error)".contains("in use") || "\(error)".contains("Address already in use"), "\(error)")
        }
    }

    @Test("Undelivered messages and blobs expire at their time and are not delivered afterwards")
    func expiry() async throws {
        let relay = try await TestRelay.start { $0.expirySweepSeconds = 0.2 }
        let bob = Device()
        let a = try await relay.connect(Device().key)
        try await a.send(Data("short-lived".utf8), to: [bob.id], ttl: 1)
        try await a.send(Data("kept".utf8), to: [bob.id])
        let blobID = Data(Random.bytes(16))
        _ = try await a.request(.putBlobChunk(WirePutBlobChunk.with {
            $0.blobID = blobID; $0.data = Data("file".utf8); $0.last = true; $0.ttlSeconds = 1
        }))
        try await Task.sleep(for: .milliseconds(1_600))
        let b = try await relay.connect(bob.key)
        let got = try await b.deliveries(1)
        #expect(got.map(\.payload) == [Data("kept".utf8)])
        #expect(try await relay.store.pendingCount(recipient: bob.id) == 1)
        let gone = await relayError {
            _ = try await a.request(.getBlobChunk(WireGetBlobChunk.with { $0.blobID = blobID; $0.length = 10 }))
        }
        #expect(gone?.code == .notFound)
        await a.close(); await b.close()
        await relay.stop()
    }
}
