@testable import CaucusClient
@testable import CaucusCrypto
import CaucusLock
import CaucusPayloads
import CaucusRelayClient
import Foundation
import Testing

/// A person whose client is from before KEM prekeys (Protocol.md §6 without the hybrid start),
/// written here with the crypto core and the relay client: it publishes a signed prekey whose id
/// lacks the bit that announces KEM prekeys and no KEM prekey, ignores the KEM prekeys of others'
/// bundles and their signed prekey ids' bit, and starts sessions with X3DH alone. It opens what
/// arrives with the sessions it has or a classical start, and reads text payloads.
private final class ClassicalPeer: Sendable {
    let key = Ed25519.PrivateKey()
    let client: RelayClient
    private let signed: SignedPrekey
    private let oneTime: OneTimePrekey
    private let state = Locked<(sessions: [Ed25519.PublicKey: Session], deliveries: [Delivery])>(([:], []))
    private let listener: Task<Void, Never>

    init(relay: TestRelay) async throws {
        signed = SignedPrekey(id: 1, identity: key)
        oneTime = OneTimePrekey(id: 1)
        client = try await relay.connect(key)
        let pushes = client.pushes, state = state
        listener = Task {
            for await push in pushes {
                if case .delivery(let delivery) = push { state.withLock { $0.deliveries.append(delivery) } }
            }
        }
        _ = try await client.publishPrekeys(
            signedPrekey: Data(signed.publishedBytes),
            oneTime: [OneTimePrekeyUpload(id: oneTime.id, publicKey: Data(oneTime.privateKey.publicKey.rawRepresentation))])
    }

    var identity: Ed25519.PublicKey { key.publicKey }

    func session(with device: Ed25519.PublicKey) -> Session? { state.withLock { $0.sessions[device] } }

    /// Waits for deliveries and returns the texts of those that hold one, in order, with their sender.
    func texts(count: Int) async throws -> [(from: Ed25519.PublicKey, text: String)] {
        var texts: [(from: Ed25519.PublicKey, text: String)] = []
        try await eventually("\(count) text(s) for the classical peer") {
            for delivery in state.withLock({ list in defer { list.deliveries = [] }; return list.deliveries }) {
                let envelope = try PairwiseEnvelope(parsing: Array(delivery.payload))
                let sender = try envelope.sender(openedWith: key)
                let opened = try state.withLock { list throws -> DecryptedMessage in
                    if var session = list.sessions[sender.device], let opened = try? session.decrypt(envelope.sessionMessage) {
                        list.sessions[sender.device] = session
                        return opened
                    }
                    let (session, opened) = try Session.respond(
                        to: envelope.sessionMessage, identity: key, signedPrekey: { $0 == signed.id ? signed : nil },
                        oneTimePrekey: { $0 == oneTime.id ? oneTime : nil })
                    list.sessions[sender.device] = session
                    return opened
                }
                if case .text(_, let text) = try Payload(decoding: opened.plaintext) { texts.append((sender.identity, text)) }
                _ = try await client.acknowledge([delivery.messageID])
            }
            return texts.count >= count
        }
        return texts
    }

    /// Writes `text` to `device` of `person`, starting a classical session from its bundle if needed.
    func send(_ text: String, to person: Ed25519.PublicKey, device: Ed25519.PublicKey) async throws {
        if session(with: device) == nil {
            let fetched = try await client.fetchPrekeys(owner: DeviceKey(device))
            // Such a client reads only the fields it knows: the KEM prekey is an unknown field to it.
            let bundle = try PrekeyBundle(identity: device.rawRepresentation, publishedSignedPrekey: Array(fetched.signedPrekey),
                                          oneTimePrekey: fetched.oneTimePrekey.map { ($0.id, Array($0.publicKey)) })
            let started = try Session.initiate(identity: key, bundle: bundle, asBeforeKEM: true)
            state.withLock { $0.sessions[device] = started }
        }
        let stamp = MessageStamp(id: Random.bytes(16), sentAt: UInt64(Date().timeIntervalSince1970 * 1000), expirySeconds: 0)
        let message = state.withLock { $0.sessions[device]!.encrypt(Payload.text(stamp, text).encoded()) }
        let envelope = try PairwiseEnvelope(sessionMessage: message, from: .init(identity: identity, device: identity), to: device)
        _ = try await client.send(OutgoingMessage(messageID: MessageID(stamp.id), recipients: [DeviceKey(device)],
                                                  payload: Data(envelope.encoded()), ttlSeconds: 0))
    }

    func close() async {
        listener.cancel()
        await client.close()
    }
}

@Suite("Client: hybrid (post-quantum) session starts, and peers from before them", .timeLimit(.minutes(10)))
struct HybridSessionFlowTests {
    /// The sessions `worker` keeps with `device`, newest used first.
    static func sessions(_ worker: Worker, with device: Ed25519.PublicKey) async throws -> [Session] {
        try await worker.run { account in try await account.read { tx in try account.sessions(tx, peer: device) } }
    }

    @Test("Two clients that publish KEM prekeys start hybrid sessions by default, both ways")
    func hybridByDefault() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: relay)
        let rosaKey = try await rosa.run { $0.did.publicKey }, tomaszKey = try await tomasz.run { $0.did.publicKey }
        _ = try await tomasz.read()  // publishes Tomasz's prekeys
        try await rosa.run { account in _ = try await account.send("hello Tomasz", to: .direct(tomaszKey)) }
        #expect(try await Self.sessions(rosa, with: tomaszKey).map(\.isPostQuantum) == [true])
        #expect(Worker.texts(try await tomasz.read()) == ["hello Tomasz"])
        #expect(try await Self.sessions(tomasz, with: rosaKey).map(\.isPostQuantum) == [true])
        try await tomasz.run { account in _ = try await account.send("hello Rosa", to: .direct(rosaKey)) }
        #expect(Worker.texts(try await rosa.read()) == ["hello Rosa"])
        // The KEM prekey Rosa's start named was a one-time one (it is no last-resort one of
        // Tomasz's), and Tomasz's client deleted it with the session it made; the others stay.
        let used = try #require(try await Self.sessions(rosa, with: tomaszKey).first?.start.kem?.prekeyID)
        let kept = try await tomasz.run { account in
            try await account.read { tx in
                (try tx.prekey(.kemOneTime, id: used), try tx.prekey(.kemLastResort, id: used), try tx.newestPrekeyID(.kemOneTime))
            }
        }
        #expect(kept.0 == nil && kept.1 == nil && kept.2 != nil)
        await relay.stop()
    }

    @Test("A peer from before KEM prekeys still works: classical sessions in both directions")
    func classicalPeerStillWorks() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let rosaKey = try await rosa.run { $0.did.publicKey }
        _ = try await rosa.read()
        let olga = try await ClassicalPeer(relay: relay)

        // Rosa writes first: Olga's bundle has no KEM prekey and its signed prekey does not
        // announce one, so Rosa's client starts with X3DH alone, and Olga (who knows nothing else) opens it.
        try await rosa.run { account in _ = try await account.send("hello Olga", to: .direct(olga.identity)) }
        #expect(try await Self.sessions(rosa, with: olga.identity).map(\.isPostQuantum) == [false])
        #expect(try await olga.texts(count: 1).map(\.text) == ["hello Olga"])
        try await olga.send("hello Rosa", to: rosaKey, device: rosaKey)
        #expect(Worker.texts(try await rosa.read()) == ["hello Rosa"])

        // Olga writes first to Tomasz, whose bundle announces and carries a KEM prekey she ignores:
        // his client takes her classical start.
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: relay)
        let tomaszKey = try await tomasz.run { $0.did.publicKey }
        _ = try await tomasz.read()
        try await olga.send("hello Tomasz", to: tomaszKey, device: tomaszKey)
        #expect(olga.session(with: tomaszKey)?.isPostQuantum == false)
        #expect(Worker.texts(try await tomasz.read()) == ["hello Tomasz"])
        try await tomasz.run { account in _ = try await account.send("hi Olga", to: .direct(olga.identity)) }
        #expect(try await olga.texts(count: 1).map(\.text) == ["hi Olga"])
        await olga.close()
        await relay.stop()
    }
}
