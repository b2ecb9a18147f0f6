@testable import CaucusClient
import CaucusCrypto
import CaucusPayloads
import CaucusRelayClient
import Foundation
import Testing

/// Linking a second computer to an identity over a real relay (Protocol.md §9.13), and one-to-one
/// messages between a worker with two devices and one with one.
@Suite("Device link: a second computer over a real relay", .timeLimit(.minutes(10)))
struct DeviceLinkFlowTests {
    /// Runs `device add` on `worker`'s first device and `device link` on a new home, together.
    static func link(_ worker: Worker, as name: String, home: ClientHome) async throws -> Account {
        let (codes, continuation) = AsyncStream.makeStream(of: LinkCode.self)
        let adding = Task {
            // A `device add` that fails before showing a code ends the stream, so the wait below ends too.
            defer { continuation.finish() }
            return try await worker.run { account in
                try await account.addDevice { progress in
                    if case .code(let code) = progress { continuation.yield(code) }
                }
            }
        }
        defer { adding.cancel() }
        var iterator = codes.makeAsyncIterator()
        let code = try #require(await iterator.next())
        let linked = try await Account.link(home: home, passphrase: Worker.passphrase, code: code, name: name, parameters: .interactive)
        #expect(try await adding.value.name == name)
        return linked
    }

    /// Rosa and Tomasz, each on one device, Tomasz online once (his keys on the relay), and Rosa's
    /// first message to him read.
    static func talking(on relay: TestRelay, in directory: TempDirectory, first text: String) async throws -> (Worker, Worker, DID) {
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: relay)
        let tomaszDID = try await tomasz.run { account in
            try await account.sync()
            return account.did
        }
        try await rosa.run { account in _ = try await account.send(text, to: .direct(tomaszDID.publicKey)) }
        #expect(Worker.texts(try await tomasz.read()) == [text])
        return (rosa, tomasz, tomaszDID)
    }

    @Test("A linked laptop gets the identity; what it writes reaches the other worker as the same person, and the reply reaches both devices")
    func linkAndChat() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, tomaszDID) = try await Self.talking(on: relay, in: directory, first: "hello from the phone")

        let laptopHome = ClientHome(explicit: directory.file("rosa-laptop"))
        let laptop = try await Self.link(rosa, as: "laptop", home: laptopHome)
        let rosaDID = try await rosa.run { $0.did }
        #expect(laptop.did == rosaDID)
        let devices = try await laptop.deviceList()
        #expect(devices.map(\.name) == ["first device", "laptop"] && devices.map(\.isThisDevice) == [false, true])
        #expect(try await laptop.displayName() == "Rosa")
        #expect(try await laptop.contacts().contains { $0.did == tomaszDID })
        await laptop.close()
        let rosaLaptop = Worker(name: "Rosa's laptop", home: laptopHome)

        // Tomasz is told at once, and writes to both of Rosa's computers.
        let told = try await tomasz.read()
        #expect(told.contains { $0.message.text.contains("added a device") && $0.conversation == .direct(rosaDID.publicKey) }, "\(told.map(\.message.text))")
        try await tomasz.run { account in _ = try await account.send("welcome, laptop", to: .direct(rosaDID.publicKey)) }
        #expect(Worker.texts(try await rosa.read()) == ["welcome, laptop"])
        #expect(Worker.texts(try await rosaLaptop.read()) == ["welcome, laptop"])
        // What the phone writes appears on the laptop as Rosa's own line.
        try await rosa.run { account in _ = try await account.send("sent from the phone", to: .direct(tomaszDID.publicKey)) }
        // (A line this identity wrote is never unread: the conversation's history shows it.)
        _ = try await rosaLaptop.read()
        let history = try await rosaLaptop.run { account in try await account.history(.direct(tomaszDID.publicKey)) }
        let copied = history.filter { $0.message.text == "sent from the phone" }
        #expect(copied.count == 1 && copied.first?.author?.did == rosaDID, "\(history.map(\.message.text))")

        try await rosaLaptop.run { account in _ = try await account.send("hello from the laptop", to: .direct(tomaszDID.publicKey)) }
        let fromLaptop = try await tomasz.read()
        #expect(Worker.texts(fromLaptop) == ["sent from the phone", "hello from the laptop"])
        #expect(fromLaptop.allSatisfy { $0.author?.did == rosaDID && $0.conversation == .direct(rosaDID.publicKey) })

        try await tomasz.run { account in _ = try await account.send("both of you?", to: .direct(rosaDID.publicKey)) }
        #expect(Worker.texts(try await rosa.read()) == ["both of you?"])
        #expect(Worker.texts(try await rosaLaptop.read()) == ["both of you?"])
    }

    @Test("A device that the person's chain does not certify cannot write as them: its messages are refused and reported, never shown")
    func uncertifiedDevice() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, tomaszDID) = try await Self.talking(on: relay, in: directory, first: "hello")
        let tomaszKey = tomaszDID.publicKey
        let rosaKey = try await rosa.run { $0.did.publicKey }
        // Someone with a device key of their own, which Rosa never certified, writes to Tomasz as Rosa.
        let intruder = Ed25519.PrivateKey()
        let client = try await relay.connect(intruder)
        let fetched = try await client.fetchPrekeys(owner: DeviceKey(tomaszKey))
        let bundle = try PrekeyBundle(identity: tomaszKey.rawRepresentation, publishedSignedPrekey: Array(fetched.signedPrekey),
                                      oneTimePrekey: fetched.oneTimePrekey.map { ($0.id, Array($0.publicKey)) },
                                      publishedKEMPrekey: fetched.kemPrekey.map(Array.init))
        var session = try Session.initiate(identity: intruder, bundle: bundle)
        let stamp = MessageStamp(id: Random.bytes(16), sentAt: UInt64(Date().timeIntervalSince1970 * 1000), expirySeconds: 0)
        let forged = try PairwiseEnvelope(sessionMessage: session.encrypt(Payload.text(stamp, "the meeting is cancelled").encoded()),
                                          from: PairwiseEnvelope.Sender(identity: rosaKey, device: intruder.publicKey), to: tomaszKey)
        _ = try await client.send(OutgoingMessage(messageID: MessageID(stamp.id), recipients: [DeviceKey(tomaszKey)],
                                                  payload: Data(forged.encoded()), ttlSeconds: 0))
        await client.close()
        // Each sync gets the copy again until the third, which is dropped with a warning in the
        // conversation with Rosa (and, as for any session start claiming her that does not open,
        // Rosa is asked over a new session to send again whatever she wrote).
        var lines: [MessageView] = []
        for _ in 0..<10 where !lines.contains(where: { $0.message.text.contains("could not be opened (in 3 deliveries)") }) {
            lines += try await tomasz.read()
        }
        #expect(!lines.contains { $0.message.text.contains("cancelled") })
        let warning = try #require(lines.first { $0.message.text.contains("could not be opened (in 3 deliveries)") })
        #expect(warning.conversation == .direct(rosaKey) && warning.message.text.contains("is not one of the devices")
                && warning.message.text.contains("never added, or revoked"), "\(warning.message.text)")
    }

    @Test("A code works once, only before it expires, and only for the identity it names")
    func codeRefusals() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let rosaAccount = try await Account.open(home: rosa.home, passphrase: Worker.passphrase)
        let expired = LinkCode(identity: rosaAccount.did.publicKey, device: rosaAccount.did.publicKey, secret: Random.bytes(32),
                               expiresAt: Date().addingTimeInterval(-1), relay: relay.url)
        await rosaAccount.close()
        let refusal = await clientError {
            _ = try await Account.link(home: ClientHome(explicit: directory.file("late")), passphrase: Worker.passphrase, code: expired,
                                       name: "late", parameters: .interactive)
        }
        #expect(refusal?.description.contains("expired") == true, "\(String(describing: refusal))")
        #expect(!FileManager.default.fileExists(atPath: ClientHome(explicit: directory.file("late")).keystorePath))
        // A home that already holds an identity is never overwritten.
        let taken = await clientError {
            _ = try await Account.link(home: rosa.home, passphrase: Worker.passphrase, code: expired, name: "x", parameters: .interactive)
        }
        #expect(taken != nil)
    }
}
