import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// After a real encrypted conversation through the relay, its database file holds none of the
/// plaintexts, display names or group names used.
@Suite("Relay: stores ciphertext only", .timeLimit(.minutes(10)))
struct RelaySeesCiphertextTests {
    static func bundle(_ reply: WirePrekeyBundle) throws -> PrekeyBundle {
        try PrekeyBundle(
            identity: Array(reply.owner), publishedSignedPrekey: Array(reply.signedPrekey),
            oneTimePrekey: reply.hasOneTimePrekey ? (reply.oneTimePrekey.id, Array(reply.oneTimePrekey.publicKey)) : nil,
            publishedKEMPrekey: reply.kemPrekey.isEmpty ? nil : Array(reply.kemPrekey))
    }

    @Test("A conversation over X3DH and the ratchet leaves no plaintext, name or group name in the relay's file")
    func noPlaintextAtRest() async throws {
        let relay = try await TestRelay.start()
        let alice = Device(), bob = Device()
        let displayNames = ["Rosa Delgado-Marchetti", "Tomasz Wieczorek"]
        let groupName = "Warehouse Seven Organizing Committee"
        let plaintexts = [
            "Hi Tomasz, it's Rosa Delgado-Marchetti. Meeting for the Warehouse Seven Organizing Committee is Thursday.",
            "Thanks Rosa! Tomasz Wieczorek here, I'll bring the sign-up sheets for the committee.",
            "Please keep the list of names away from the break room.",
        ]

        // Bob publishes prekeys; Alice fetches a bundle through the relay.
        let b = try await relay.connect(bob.key)
        let signed = SignedPrekey(id: 7, identity: bob.key)
        let oneTime = OneTimePrekey(id: 1)
        _ = try await b.request(.publishPrekeys(WirePublishPrekeys.with {
            $0.signedPrekey = Data(signed.publishedBytes)
            $0.oneTimePrekeys = [WireOneTimePrekey.with { $0.id = 1; $0.publicKey = Data(oneTime.privateKey.publicKey.rawRepresentation) }]
        }))
        let a = try await relay.connect(alice.key)
        guard case .prekeyBundle(let reply) = try await a.request(.fetchPrekeys(WireFetchPrekeys.with { $0.owner = bob.id })) else {
            Issue.record("no bundle"); return
        }
        let bundle = try Self.bundle(reply)
        #expect(bundle.hasValidSignature)

        // A group route for the committee (the relay learns only a random id).
        let group = Data(Random.bytes(32))
        try await a.updateRoute(group: group, serial: 1, signer: Ed25519.PrivateKey(), add: [alice.id, bob.id])

        var aliceSession = try Session.initiate(identity: alice.key, bundle: bundle)
        try await a.sendToGroup(Data(aliceSession.encrypt(Array(plaintexts[0].utf8))), group: group)
        let first = try await b.deliveries(1)[0]
        var (bobSession, opened) = try Session.respond(
            to: Array(first.payload), identity: bob.key,
            signedPrekey: { $0 == 7 ? signed : nil }, oneTimePrekey: { $0 == 1 ? oneTime : nil })
        #expect(String(decoding: opened.plaintext, as: UTF8.self) == plaintexts[0])

        try await b.send(Data(bobSession.encrypt(Array(plaintexts[1].utf8))), to: [alice.id])
        let second = try await a.deliveries(1)[0]
        #expect(String(decoding: try aliceSession.decrypt(Array(second.payload)).plaintext, as: UTF8.self) == plaintexts[1])
        // The last message stays undelivered, so its ciphertext is still in the file.
        await b.close()
        try await a.send(Data(aliceSession.encrypt(Array(plaintexts[2].utf8))), to: [bob.id])
        try await a.ack([second.messageID.data])
        await a.close()
        await relay.running.stop()

        var raw = Data()
        for suffix in ["", "-wal", "-shm"] {
            if let data = FileManager.default.contents(atPath: relay.databasePath + suffix) { raw.append(data) }
        }
        // The reading works: the file does hold what the relay must know (Bob's device key).
        #expect(raw.range(of: bob.id) != nil)
        for secret in plaintexts + displayNames + [groupName] + plaintexts.flatMap({ $0.split(separator: " ").filter { $0.count > 8 }.map(String.init) }) {
            #expect(raw.range(of: Data(secret.utf8)) == nil, "found \"\(secret)\" in the relay's file")
        }
        try? await relay.store.close()
        relay.directory.remove()
    }
}
