@testable import CaucusClient
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation
import GRDB
import NIOSSL
import Testing

/// What a user is told when the relay drops messages, and that the client works over wss://.
@Suite("Client: hostile relay and transport", .timeLimit(.minutes(10)))
struct HostileRelayTests {
    @Test("A send the relay answers with the wrong kind of frame stays queued, and goes once when it answers properly")
    func wrongReplyKeepsTheMessageQueued() async throws {
        let proxy = try StallingProxy()
        defer { proxy.stop() }
        let relay = try await TestRelay.start { $0.publicAddresses = [proxy.url] }
        proxy.forward(to: relay.running.port)
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, _) = try await GroupFlowTests.warehouse(directory, relay)
        _ = try await tomasz.read()
        proxy.behave(.answerSendsWithPong)
        let (outcome, queued) = try await rosa.run { account in
            (try await account.send("kept", to: try await account.resolve("Warehouse 5")), try await account.queuedCount())
        }
        guard case .queued = outcome else { Issue.record("expected the message to stay queued: \(outcome)"); return }
        // It, and whatever was queued behind it: nothing answered wrongly is taken for sent.
        #expect(queued >= 1)
        proxy.behave(.passThrough)
        let left = try await rosa.run { account in
            try await account.sync()
            return try await account.queuedCount()
        }
        #expect(left == 0)
        #expect(Worker.texts(try await tomasz.read()) == ["kept"])
        await relay.stop()
    }

    /// Has the hostile relay drop the `index`-th message waiting for `worker` when it next serves it.
    static func drop(_ index: Int, for worker: Worker, on relay: TestRelay) async throws {
        let key = try await worker.run { $0.did.publicKey }
        let waiting = try await relay.store.pendingDeliveries(recipient: Data(key.rawRepresentation), afterSequence: 0, limit: 1_000)
        try #require(waiting.count > index, "only \(waiting.count) deliveries wait")
        try #require(relay.hostile).attack { $0.drop = [waiting[index].messageID] }
    }

    @Test func droppedMessagesAreReported() async throws {
        let relay = try await TestRelay.start(hostile: true)
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [rosa, tomasz, amira] { _ = try await worker.read() }
        // Warm up past a newcomer's quiet start, then let the relay drop one group message.
        for index in 0..<10 {
            try await tomasz.run { account in _ = try await account.send("warm-up \(index)", to: try await account.resolve("Warehouse 5")) }
        }
        _ = try await amira.read()
        _ = try await rosa.read()
        try await rosa.run { account in
            let group = try await account.resolve("Warehouse 5")
            for text in ["one", "two", "three"] { _ = try await account.send(text, to: group) }
        }
        try await Self.drop(1, for: amira, on: relay)
        let lines = try await amira.read()
        #expect(Worker.texts(lines) == ["one", "three"])
        let warnings = lines.filter { $0.message.kind == .warning }.map(\.message.text)
        #expect(warnings.contains("1 earlier message(s) from Rosa have not arrived (yet)"))
        #expect(warnings.contains { $0.contains("Rosa had seen 1 message(s) you have not received") })

        // One to one: the ratchet notices the gap too.
        try await rosa.run { account in
            let amiraChat = try await account.resolve("Amira")
            for text in ["a", "b", "c"] { _ = try await account.send(text, to: amiraChat) }
        }
        try await Self.drop(1, for: amira, on: relay)
        let direct = try await amira.read()
        #expect(Worker.texts(direct) == ["a", "c"])
        #expect(direct.contains { $0.message.text == "1 earlier message(s) from Rosa have not arrived (yet)" })
        await relay.stop()
    }

    @Test func newcomerMessagesBeforeTheMembershipChangeAreHeld() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: nil)
        let amira = try await Worker.make("Amira", in: directory, relay: nil)
        _ = try await rosa.run { try await $0.createGroup(name: "Warehouse 5") }
        for joiner in [tomasz, amira] {
            let code = try await rosa.run { try await $0.createInvite(group: "Warehouse 5") }
            _ = try await joiner.run { try await $0.join(code, wait: .zero) }
            try await rosa.run { try await $0.sync() }
            _ = try await joiner.run { try await $0.join(code, wait: .seconds(60)) }
            if joiner.name == "Tomasz" { _ = try await tomasz.read() }
        }
        try await amira.run { account in _ = try await account.send("hello all", to: try await account.resolve("Warehouse 5")) }
        // The relay hands Tomasz the newcomer's messages before the change that admitted her.
        let key = try await tomasz.run { $0.did.publicKey }
        let waiting = try await relay.store.pendingDeliveries(recipient: Data(key.rawRepresentation), afterSequence: 0, limit: 10)
        #expect(waiting.count >= 3)
        let lines = try await tomasz.run { account in
            for item in waiting.reversed() {
                try await account.receive(Delivery(messageID: MessageID(item.messageID), sequence: 0, payload: item.payload,
                                                     groupID: item.groupID.map(GroupID.init), acceptedAtMs: 0, expiresAtMs: 0))
            }
            return try await account.unread()
        }
        #expect(Worker.texts(lines) == ["hello all"])
        #expect(lines.first { $0.message.text == "hello all" }?.senderName == "Amira")
        await relay.stop()
    }

    @Test func worksOverWSS() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (relay, trusting) = try await TestRelay.startTLS(in: directory)
        let homes = ["rosa", "tomasz"].map { ClientHome(explicit: directory.file($0)) }
        let rosa = try await Account.create(home: homes[0], passphrase: Worker.passphrase, displayName: "Rosa", parameters: .interactive, tls: trusting)
        let tomasz = try await Account.create(home: homes[1], passphrase: Worker.passphrase, displayName: "Tomasz", parameters: .interactive, tls: trusting)
        try await rosa.addRelay(relay.url)
        try await tomasz.addRelay(relay.url)
        try await tomasz.sync()
        #expect(try await rosa.send("over wss", to: .direct(tomasz.did.publicKey)) == .sent)
        try await tomasz.sync()
        #expect(Worker.texts(try await tomasz.unread()) == ["over wss"])

        // Without trusting the certificate, the client refuses the relay.
        let stranger = try await Account.create(home: ClientHome(explicit: directory.file("x")), passphrase: Worker.passphrase,
                                          displayName: "X", parameters: .interactive)
        try await stranger.addRelay(relay.url)
        guard case .relayUnreachable? = await clientError({ try await stranger.sync() }) else {
            Issue.record("an untrusted certificate was accepted")
            return
        }
        for account in [rosa, tomasz, stranger] { await account.close() }
        await relay.stop()
    }
}
