import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// The admin commands with `--store postgres://…`, on the database a running `caucus-relay` uses.
@Suite("Relay: admin commands on a running relay's PostgreSQL store", .timeLimit(.minutes(10)))
struct RelayAdminPostgresTests {
    @Test("stats, prune --card-inbox, ban and unban act on the database a relay process is serving from")
    func commandsOnPostgres() async throws {
        guard TestPostgres.isConfigured || TestPostgres.isRequired else {
            print(TestPostgres.skipMessage)
            return
        }
        let database = try await TestPostgres.database()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let store = ["--store", database.urlText]
        let relay = try await RelayProcess.start(dataDirectory: directory.path,
                                                 extra: store + ["--store-connections", "4", "--store-connect-timeout", "60"])
        let alice = Device(), bob = Device()
        let a = try await RelayClient.connect(url: relay.url, deviceKey: alice.key, timeout: processConnectTimeout)
        for _ in 0..<2 { try await a.send(Data("for bob".utf8), to: [bob.id]) }
        let inbox = Data(Random.bytes(32))
        for _ in 0..<3 { try await a.postCard(inbox: inbox) }
        try await a.putBlob(Data(repeating: 2, count: 500))

        let stats = try await adminCommand(["stats", "--json"] + store)
        #expect(stats.status == 0, "\(stats)")
        let report = try jsonObject(stats)
        #expect(report["store"] as? String == "postgresql")
        #expect(report["location"] as? String == database.url.description)
        #expect(!stats.stdout.contains(database.url.password ?? "no password"), "the password in: \(stats)")
        #expect(report["devices"] as? Int == 2)
        #expect(report["mailboxes"] as? Int == 1)
        #expect(report["deliveries_waiting"] as? Int == 2)
        #expect(report["messages_waiting"] as? Int == 2)
        #expect(report["oldest_undelivered_age_seconds"] as? Int != nil)
        #expect(report["blob_bytes"] as? Int == 500)
        #expect(report["card_inboxes"] as? Int == 1 && report["card_items"] as? Int == 3)
        #expect((report["store_bytes"] as? Int ?? 0) > 0)

        let missing = Data(Random.bytes(32))
        let refused = try await adminCommand(["prune", "--card-inbox", OperatorKeyText.hex(inbox),
                                              "--card-inbox", OperatorKeyText.hex(missing)] + store)
        #expect(refused.status == 1 && refused.stderr.contains("no card inbox \(OperatorKeyText.hex(missing))"), "\(refused)")
        let pruned = try await adminCommand(["prune", "--card-inbox", OperatorKeyText.hex(inbox)] + store)
        #expect(pruned.status == 0 && pruned.stdout.contains("deleted card inbox \(OperatorKeyText.hex(inbox)) with its 3 items"),
                "\(pruned)")

        // Banned while connected: the relay closes the connection (its check runs every 5 s) and refuses a new login.
        let b = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, timeout: processConnectTimeout)
        let banned = try await adminCommand(["ban", OperatorKeyText.hex(bob.id)] + store)
        #expect(banned.status == 0, "\(banned)")
        try await eventually("the banned device's connection to close", within: .seconds(60)) { !b.isOpen }
        let refusal = await relayError {
            _ = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, timeout: processConnectTimeout)
        }
        #expect(refusal?.code == .forbidden, "\(String(describing: refusal))")
        let list = try await adminCommand(["bans"] + store)
        #expect(list.stdout.contains(OperatorKeyText.hex(bob.id)), "\(list)")
        let unbanned = try await adminCommand(["unban", OperatorKeyText.hex(bob.id)] + store)
        #expect(unbanned.status == 0, "\(unbanned)")
        let back = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, timeout: processConnectTimeout)
        #expect(try await back.deliveries(2).count == 2)

        await back.close()
        await a.close()
        #expect(try await relay.terminate() == 0)
    }
}
