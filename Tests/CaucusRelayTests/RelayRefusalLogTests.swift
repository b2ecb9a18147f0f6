import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Logging
import Testing

/// The lines an operator looks for in the relay's log: failed authentications, conflicts and
/// refusals, at info, naming devices by their 4-byte tag only.
@Suite("Relay: refusals in the log", .timeLimit(.minutes(10)))
struct RelayRefusalLogTests {
    /// The relay's log as JSON lines, decoded.
    final class Collected: Sendable {
        let lines = Locked<[String]>([])

        var logger: Logger {
            let handler = JSONLogHandler(label: "caucus.relay") { line in self.lines.withLock { $0.append(line) } }
            return Logger(label: "caucus.relay") { _ in handler }
        }

        /// The entries whose message is `message`, as objects.
        func entries(_ message: String) -> [[String: Any]] {
            lines.withLock { $0 }.compactMap { line in
                try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            }.filter { $0["message"] as? String == message }
        }

        /// Whether an entry with `message` has metadata `code` and (when given) `device`.
        func has(_ message: String, code: String, device: Data? = nil) -> Bool {
            entries(message).contains { entry in
                guard entry["level"] as? String == "info", let metadata = entry["metadata"] as? [String: Any] else { return false }
                return metadata["code"] as? String == code && (device.map { metadata["device"] as? String == logTag($0) } ?? true)
            }
        }
    }

    @Test("Failed authentications, conflicts, quota, rate-limit, connection-limit and ban refusals are logged at info without a full key")
    func refusalsAreLogged() async throws {
        let log = Collected()
        let relay = try await TestRelay.start(logger: log.logger) {
            $0.storeLimits.blobQuotaBytes = 100
            $0.rateLimitPerSecond = 0.01
            $0.rateLimitBurst = 20
            $0.maxConnections = 4
            $0.banCheckSeconds = 0.2
        }
        defer { Task { await relay.stop() } }
        let alice = Device(), bob = Device(), mallory = Device()

        // A signature that does not verify.
        let raw = try await RelayClient.open(url: relay.url, timeout: TestRelay.clientTimeout)
        try await raw.hello()
        var forged = raw.authenticationRequest(deviceKey: bob.key)
        forged.signature = Data(repeating: 7, count: 64)
        let badSignature = await relayError { _ = try await raw.request(.authenticate(forged)) }
        #expect(badSignature?.code == .badSignature)

        let a = try await relay.connect(alice.key)
        // A route change below the route's serial: CONFLICT.
        let group = Data(Random.bytes(RelayProtocol.groupIDLength)), admin = Ed25519.PrivateKey()
        try await a.updateRoute(group: group, serial: 1, signer: admin, add: [alice.id])
        try await a.updateRoute(group: group, serial: 2, signer: admin, add: [bob.id])
        let conflict = await relayError { try await a.updateRoute(group: group, serial: 1, signer: admin, add: [mallory.id]) }
        #expect(conflict?.code == .conflict)
        // A blob past the quota.
        let quota = await relayError { try await a.putBlob(Data(repeating: 1, count: 200)) }
        #expect(quota?.code == .quotaExceeded)
        // Past the burst, requests are refused; the run of refusals is logged once.
        var limited = 0
        for _ in 0..<30 where await relayError({ try await a.send(Data("x".utf8), to: [bob.id]) })?.code == .rateLimited {
            limited += 1
        }
        #expect(limited >= 2)
        #expect(log.entries("requests refused: rate limit reached").count == 1)

        // A banned device: refused at login, and closed when banned while connected.
        let m = try await relay.connect(mallory.key)
        _ = try await relay.store.ban(mallory.id, at: 1)
        try await eventually("the banned device's connection to close") { !m.isOpen }
        let banned = await relayError { _ = try await relay.connect(mallory.key) }
        #expect(banned?.code == .forbidden)

        // Past the connection limit of 4 (the raw connection and Alice's are open; closed ones may
        // take a moment to go).
        var extra: [RelayClient] = []
        var limit: RelayError?
        for _ in 0..<8 where limit == nil {
            let client = try await RelayClient.open(url: relay.url, timeout: TestRelay.clientTimeout)
            extra.append(client)
            limit = await relayError { try await client.hello() }
        }
        #expect(limit?.code == .connectionLimit, "\(String(describing: limit))")

        #expect(log.has("authentication refused", code: "BAD_SIGNATURE", device: bob.id))
        #expect(log.has("request refused", code: "CONFLICT", device: alice.id))
        #expect(log.has("request refused", code: "QUOTA_EXCEEDED", device: alice.id))
        #expect(log.has("requests refused: rate limit reached", code: "RATE_LIMITED", device: alice.id))
        #expect(log.has("connection closed: device banned", code: "FORBIDDEN", device: mallory.id))
        #expect(log.has("authentication refused", code: "FORBIDDEN", device: mallory.id))
        #expect(log.has("connection refused: connection limit reached", code: "CONNECTION_LIMIT"))
        let everything = log.lines.withLock { $0.joined() }
        for key in [alice.id, bob.id, mallory.id, Data(admin.publicKey.rawRepresentation)] {
            #expect(!everything.contains(OperatorKeyText.hex(key)) && !everything.contains(key.base64EncodedString()),
                    "a full key in the log: \(everything)")
            #expect(!everything.contains(OperatorKeyText.hex(key.prefix(5))), "more than 4 bytes of a key in the log")
        }
        for client in [raw, a] + extra { await client.close() }
    }
}
