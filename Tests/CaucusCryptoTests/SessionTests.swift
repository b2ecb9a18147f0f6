import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// Two people with prekeys published, as a relay would hold them.
struct Pair {
    let alice = Ed25519.PrivateKey()
    let bob = Ed25519.PrivateKey()
    let bobSigned: SignedPrekey
    let bobOneTime: OneTimePrekey

    init() {
        bobSigned = SignedPrekey(id: 7, identity: bob)
        bobOneTime = OneTimePrekey(id: 42)
    }

    var bundle: PrekeyBundle { PrekeyBundle(identity: bob.publicKey, signedPrekey: bobSigned, oneTimePrekey: bobOneTime) }

    /// Alice starts a session and Bob accepts her first message.
    func connect() throws -> (Session, Session) {
        var a = try Session.initiate(identity: alice, bundle: bundle)
        let first = a.encrypt(Array("hello".utf8))
        let (b, decrypted) = try accept(first)
        #expect(decrypted.plaintext == Array("hello".utf8))
        return (a, b)
    }

    func accept(_ message: [UInt8]) throws -> (Session, DecryptedMessage) {
        try Session.respond(
            to: message, identity: bob,
            signedPrekey: { $0 == bobSigned.id ? bobSigned : nil },
            oneTimePrekey: { $0 == bobOneTime.id ? bobOneTime : nil })
    }
}

func text(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("One-to-one sessions")
struct SessionTests {
    @Test("A signed prekey published as 100 bytes comes back as the same bundle; other lengths are refused")
    func publishedPrekeyRoundTrip() throws {
        let identity = Ed25519.PrivateKey()
        let signed = SignedPrekey(id: 0x0102_0304, identity: identity)
        let oneTime = OneTimePrekey(id: 9)
        let bytes = signed.publishedBytes
        #expect(bytes.count == 100 && Array(bytes.prefix(4)) == [1, 2, 3, 4])
        let bundle = try PrekeyBundle(identity: identity.publicKey.rawRepresentation, publishedSignedPrekey: bytes,
                                      oneTimePrekey: (9, oneTime.privateKey.publicKey.rawRepresentation))
        #expect(bundle == PrekeyBundle(identity: identity.publicKey, signedPrekey: signed, oneTimePrekey: oneTime))
        #expect(bundle.hasValidSignature)
        #expect(throws: SessionError.self) {
            try PrekeyBundle(identity: identity.publicKey.rawRepresentation, publishedSignedPrekey: Array(bytes.dropLast()), oneTimePrekey: nil)
        }
        var tampered = bytes
        tampered[10] ^= 1
        let altered = try PrekeyBundle(identity: identity.publicKey.rawRepresentation, publishedSignedPrekey: tampered, oneTimePrekey: nil)
        #expect(!altered.hasValidSignature)
    }

    @Test("X3DH then messages both ways, over several ratchet turns")
    func conversation() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        #expect(b.peerIdentity == pair.alice.publicKey && a.peerIdentity == pair.bob.publicKey)
        for round in 0..<5 {
            for i in 0..<3 {
                let m = a.encrypt(text("a\(round).\(i)"))
                #expect(try b.decrypt(m).plaintext == text("a\(round).\(i)"))
            }
            let r = b.encrypt(text("b\(round)"))
            #expect(try a.decrypt(r) == DecryptedMessage(plaintext: text("b\(round)"), events: []))
        }
    }

    @Test("the initiator repeats the session start until the first reply, then stops")
    func startRepeated() throws {
        let pair = Pair()
        var a = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        let m1 = a.encrypt(text("1")), m2 = a.encrypt(text("2"))
        #expect(m1[0] == WireMessage.typeStart && m2[0] == WireMessage.typeStart)
        #expect(Session.isStartMessage(m1) && Session.isStartMessage(m2))
        var (b, _) = try pair.accept(m1)
        #expect(try b.decrypt(m2).plaintext == text("2"))
        let reply = b.encrypt(text("reply"))
        #expect(!Session.isStartMessage(reply) && !Session.isStartMessage([]))
        _ = try a.decrypt(reply)
        let m3 = a.encrypt(text("3"))
        #expect(m3[0] == WireMessage.typeNormal && !Session.isStartMessage(m3))
    }

    @Test("a bundle whose prekey signature does not verify is refused")
    func badBundle() throws {
        let pair = Pair()
        let forged = PrekeyBundle(
            identity: pair.bob.publicKey, signedPrekeyID: 7, signedPrekey: X25519.PrivateKey().publicKey,
            signedPrekeySignature: pair.bundle.signedPrekeySignature, oneTimePrekey: nil)
        #expect(throws: SessionError.invalidPrekeySignature) { try Session.initiate(identity: pair.alice, bundle: forged) }
    }

    @Test("a start naming a used-up one-time prekey is refused")
    func unknownPrekey() throws {
        let pair = Pair()
        var a = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        let first = a.encrypt(text("hi"))
        #expect(throws: SessionError.unknownPrekey(42)) {
            try Session.respond(to: first, identity: pair.bob, signedPrekey: { _ in pair.bobSigned }, oneTimePrekey: { _ in nil })
        }
    }

    @Test("out-of-order delivery reports the gap, then the late arrival")
    func outOfOrder() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        let m = (0..<5).map { a.encrypt(text("m\($0)")) }
        #expect(try b.decrypt(m[3]) == DecryptedMessage(plaintext: text("m3"), events: [.gap(missing: 3)]))
        #expect(try b.decrypt(m[1]) == DecryptedMessage(plaintext: text("m1"), events: [.lateArrival]))
        #expect(try b.decrypt(m[4]).events == [])
        #expect(try b.decrypt(m[0]).events == [.lateArrival])
        #expect(try b.decrypt(m[2]).events == [.lateArrival])
        // Across a ratchet turn: a message of Alice's old chain arrives after her new chain started.
        let old = a.encrypt(text("old chain"))
        _ = try a.decrypt(b.encrypt(text("turn")))
        let new = a.encrypt(text("new chain"))
        #expect(try b.decrypt(new).events == [.gap(missing: 1)])
        #expect(try b.decrypt(old) == DecryptedMessage(plaintext: text("old chain"), events: [.lateArrival]))
    }

    @Test("a replay is reported as a duplicate and changes nothing")
    func replay() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        let m1 = a.encrypt(text("once"))
        _ = try b.decrypt(m1)
        #expect(throws: SessionError.duplicate) { try b.decrypt(m1) }
        // A replay from a chain that has since been replaced.
        _ = try a.decrypt(b.encrypt(text("turn")))
        #expect(try b.decrypt(a.encrypt(text("new"))).plaintext == text("new"))
        #expect(throws: SessionError.duplicate) { try b.decrypt(m1) }
        // The replayed first message (a session start) is a duplicate too.
        var a2 = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        let start = a2.encrypt(text("start"))
        var (b2, _) = try pair.accept(start)
        #expect(throws: SessionError.duplicate) { try b2.decrypt(start) }
        #expect(try b2.decrypt(a2.encrypt(text("after"))).plaintext == text("after"))
    }

    @Test("tampered, truncated and foreign messages are refused and leave the session intact")
    func tampering() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        let m = a.encrypt(text("pay rise"))
        for index in [0, 1, 33, 37, 41, 50, m.count - 1] {
            var bad = m
            bad[index] ^= 0x04
            #expect(throws: SessionError.self) { try b.decrypt(bad) }
        }
        #expect(throws: SessionError.malformed("truncated")) { try b.decrypt(Array(m.prefix(20))) }
        #expect(throws: SessionError.malformed("message body too short")) { try b.decrypt(Array(m.prefix(114 + 50))) }
        #expect(throws: SessionError.unsupportedVersion(9)) { try b.decrypt([9] + m.dropFirst()) }
        var (other, _) = try Pair().connect()
        #expect(throws: SessionError.self) { try b.decrypt(other.encrypt(text("not for bob"))) }
        #expect(try b.decrypt(m).plaintext == text("pay rise"))
    }

    @Test("a gap larger than the cap is refused; the skipped-key store never exceeds its bound")
    func skipCap() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        var messages = [[UInt8]]()
        for i in 0...(Session.maximumSkipPerChain + 1) { messages.append(a.encrypt(text("\(i)"))) }
        #expect(throws: SessionError.tooManySkipped(Session.maximumSkipPerChain + 1)) { try b.decrypt(messages.last!) }
        #expect(try b.decrypt(messages[Session.maximumSkipPerChain]).events == [.gap(missing: Session.maximumSkipPerChain)])
        // Three full gaps in three chains: only the newest 2,000 keys are kept.
        for _ in 0..<2 {
            _ = try a.decrypt(b.encrypt(text("turn")))
            var chain = [[UInt8]]()
            for i in 0...Session.maximumSkipPerChain { chain.append(a.encrypt(text("\(i)"))) }
            _ = try b.decrypt(chain.last!)
        }
        #expect(b.skipped.count == Session.maximumSkippedKeys)
        #expect(throws: SessionError.duplicate) { try b.decrypt(messages[0]) }
    }

    @Test("state survives serialisation mid-conversation, skipped keys included")
    func serialization() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        let m = (0..<4).map { a.encrypt(text("m\($0)")) }
        _ = try b.decrypt(m[2])
        var restoredB = try Session(serialized: b.serialized())
        var restoredA = try Session(serialized: a.serialized())
        #expect(try restoredB.decrypt(m[0]).events == [.lateArrival])
        #expect(try restoredB.decrypt(m[3]).plaintext == text("m3"))
        #expect(try restoredA.decrypt(restoredB.encrypt(text("back"))).plaintext == text("back"))
        let state = b.serialized().withUnsafeBytes { Array($0) }
        for cut in [0, 4, 5, 40, state.count - 1] {
            #expect(throws: SessionError.self) { try Session(serialized: SecureBytes(copying: state.prefix(cut))) }
        }
        #expect(throws: SessionError.self) { try Session(serialized: SecureBytes(copying: state + [0])) }
    }

    @Test("forward secrecy: state captured later holds no key that opens earlier messages")
    func forwardSecrecy() throws {
        let pair = Pair()
        var (a, b) = try pair.connect()
        let chainBefore = a.sendingChain
        let m1 = a.encrypt(text("secret plan"))
        let key1 = Session.chainStep(chainBefore).messageKey.withUnsafeBytes { Array($0) }
        _ = try b.decrypt(m1)
        _ = try a.decrypt(b.encrypt(text("ok")))
        let captured = b.serialized().withUnsafeBytes { Array($0) }
        // Neither the message key nor anything that derives it is in the captured state.
        #expect(!captured.contains(subsequence: key1))
        #expect(!captured.contains(subsequence: chainBefore.withUnsafeBytes { Array($0) }))
        var thief = try Session(serialized: SecureBytes(copying: captured))
        #expect(throws: SessionError.duplicate) { try thief.decrypt(m1) }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs anywhere in the array.
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
