import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// Bob after upgrading: a signed prekey whose id announces KEM prekeys, a one-time prekey and an
/// ML-KEM-768 prekey, all signed by his device key.
private struct HybridPair {
    let alice = Ed25519.PrivateKey()
    let bob = Ed25519.PrivateKey()
    let signed: SignedPrekey
    let oneTime = OneTimePrekey(id: 42)
    let kem: KEMPrekey

    init() {
        signed = SignedPrekey(id: SignedPrekey.announcesKEMPrekeys | 7, identity: bob)
        kem = KEMPrekey(id: 3, identity: bob)
    }

    var bundle: PrekeyBundle { PrekeyBundle(identity: bob.publicKey, signedPrekey: signed, oneTimePrekey: oneTime, kemPrekey: kem) }

    func accept(_ message: [UInt8], kemPrekeys: [KEMPrekey]? = nil) throws(SessionError) -> (Session, DecryptedMessage) {
        try Session.respond(
            to: message, identity: bob,
            signedPrekey: { $0 == signed.id ? signed : nil },
            oneTimePrekey: { $0 == oneTime.id ? oneTime : nil },
            kemPrekey: { id in (kemPrekeys ?? [kem]).first { $0.id == id } })
    }
}

@Suite("Hybrid session starts (X3DH with ML-KEM-768)")
struct HybridSessionTests {
    @Test("A bundle with a KEM prekey starts a hybrid session: type 0x03 with the ciphertext, chat both ways, state survives storage")
    func hybridByDefault() throws {
        let pair = HybridPair()
        var alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        #expect(alice.isPostQuantum)
        let first = alice.encrypt(text("hello"))
        #expect(first.first == 0x03)
        #expect(Session.startPrekeys(first)! == (pair.signed.id, 42, 3))
        // type, IK_A, EK_A, SPK id, has_OPK, OPK id, KEM id, ciphertext, header, body
        #expect(first.count == 1 + 32 + 32 + 4 + 1 + 4 + 4 + MLKEM.ciphertextByteCount + 40 + 24 + 64 + 16)
        var (bob, opened) = try pair.accept(first)
        #expect(opened.plaintext == text("hello") && bob.isPostQuantum)
        #expect(try alice.decrypt(bob.encrypt(text("hi"))).plaintext == text("hi"))
        #expect(try bob.decrypt(alice.encrypt(text("after"))).plaintext == text("after"))

        var restored = try Session(serialized: alice.serialized())
        #expect(restored.isPostQuantum && restored.serialized().withUnsafeBytes(Array.init) == alice.serialized().withUnsafeBytes(Array.init))
        #expect(try bob.decrypt(restored.encrypt(text("restored"))).plaintext == text("restored"))
    }

    @Test("Starts repeat the same hybrid fields until the reply; a start with another ciphertext is a different session")
    func repeatedStarts() throws {
        let pair = HybridPair()
        var alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        let first = alice.encrypt(text("one")), second = alice.encrypt(text("two"))
        let startLength = 78 + MLKEM.ciphertextByteCount
        #expect(first.prefix(startLength) == second.prefix(startLength))
        var (bob, _) = try pair.accept(first)
        #expect(try bob.decrypt(second).plaintext == text("two"))
        var otherSession = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        let other = otherSession.encrypt(text("other"))
        #expect(throws: SessionError.differentSession) { try bob.decrypt(other) }
        // The same start with one ciphertext byte changed is refused by the kept session too.
        var altered = second
        altered[startLength - 10] ^= 1
        #expect(throws: SessionError.differentSession) { try bob.decrypt(altered) }
    }

    @Test("An altered ciphertext gives another secret (implicit rejection): the first message does not open, no session")
    func alteredCiphertext() throws {
        let pair = HybridPair()
        var alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        var first = alice.encrypt(text("hello"))
        first[1 + 32 + 32 + 4 + 1 + 4 + 4 + 100] ^= 0x40
        #expect(throws: SessionError.authenticationFailed) { try pair.accept(first) }
    }

    @Test("A stripped bundle (the signed prekey announces KEM prekeys, none came) is refused; so is a KEM prekey with a bad signature")
    func strippedAndForged() throws {
        let pair = HybridPair()
        let stripped = PrekeyBundle(identity: pair.bob.publicKey, signedPrekey: pair.signed, oneTimePrekey: pair.oneTime)
        #expect(stripped.isStripped)
        #expect(throws: SessionError.strippedKEMPrekey) { try Session.initiate(identity: pair.alice, bundle: stripped) }
        // The relay cannot clear the bit: the signature covers the id.
        let cleared = PrekeyBundle(
            identity: pair.bob.publicKey, signedPrekeyID: pair.signed.id & ~SignedPrekey.announcesKEMPrekeys,
            signedPrekey: pair.signed.privateKey.publicKey, signedPrekeySignature: pair.signed.signature, oneTimePrekey: nil)
        #expect(throws: SessionError.invalidPrekeySignature) { try Session.initiate(identity: pair.alice, bundle: cleared) }
        // A KEM prekey someone else made, or with its id changed, is refused.
        let mallory = KEMPrekey(id: 3, identity: Ed25519.PrivateKey())
        let forged = PrekeyBundle(identity: pair.bob.publicKey, signedPrekey: pair.signed, oneTimePrekey: nil, kemPrekey: mallory)
        #expect(throws: SessionError.invalidPrekeySignature) { try Session.initiate(identity: pair.alice, bundle: forged) }
        var published = pair.kem.publishedBytes
        published[3] ^= 1
        let renumbered = try PrekeyBundle(
            identity: pair.bob.publicKey.rawRepresentation, publishedSignedPrekey: pair.signed.publishedBytes, oneTimePrekey: nil,
            publishedKEMPrekey: published)
        #expect(!renumbered.hasValidSignature)
    }

    @Test("Published KEM prekeys: 1,252 bytes, parsed back to the same bundle; other lengths and unreduced keys refused")
    func publishedKEMPrekey() throws {
        let pair = HybridPair()
        let bytes = pair.kem.publishedBytes
        #expect(bytes.count == 1_252 && Array(bytes.prefix(4)) == [0, 0, 0, 3])
        let bundle = try PrekeyBundle(
            identity: pair.bob.publicKey.rawRepresentation, publishedSignedPrekey: pair.signed.publishedBytes,
            oneTimePrekey: (42, pair.oneTime.privateKey.publicKey.rawRepresentation), publishedKEMPrekey: bytes)
        #expect(bundle == pair.bundle && bundle.hasValidSignature && !bundle.isStripped)
        #expect(throws: SessionError.self) {
            try PrekeyBundle(identity: pair.bob.publicKey.rawRepresentation, publishedSignedPrekey: pair.signed.publishedBytes,
                             oneTimePrekey: nil, publishedKEMPrekey: Array(bytes.dropLast()))
        }
        // All-ones coefficients are ≥ q: FIPS 203's modulus check refuses the key.
        var unreduced = bytes
        for index in 4..<(4 + 384) { unreduced[index] = 0xff }
        #expect(throws: SessionError.invalidKey) {
            try PrekeyBundle(identity: pair.bob.publicKey.rawRepresentation, publishedSignedPrekey: pair.signed.publishedBytes,
                             oneTimePrekey: nil, publishedKEMPrekey: unreduced)
        }
    }

    @Test("A start naming a KEM prekey the responder no longer has is unknownPrekey; a KEM prekey's stored form round-trips")
    func unknownAndStored() throws {
        let pair = HybridPair()
        var alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        #expect(throws: SessionError.unknownPrekey(3)) { try pair.accept(alice.encrypt(text("x")), kemPrekeys: []) }
        let stored = try KEMPrekey(serialized: pair.kem.serialized())
        #expect(stored.id == 3 && stored.publishedBytes == pair.kem.publishedBytes)
        #expect(throws: SessionError.self) { try KEMPrekey(serialized: SecureBytes(copying: [UInt8](repeating: 1, count: 131))) }
    }

    @Test("Classical peers still work: a bundle without the bit or a KEM prekey starts X3DH, and a hybrid-capable responder accepts it")
    func classicalPeer() throws {
        let pair = Pair()
        var alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle)
        #expect(!alice.isPostQuantum)
        let first = alice.encrypt(text("old style"))
        #expect(first.first == 0x01)
        let (bob, opened) = try Session.respond(
            to: first, identity: pair.bob, signedPrekey: { $0 == pair.bobSigned.id ? pair.bobSigned : nil },
            oneTimePrekey: { $0 == pair.bobOneTime.id ? pair.bobOneTime : nil }, kemPrekey: { _ in nil })
        #expect(opened.plaintext == text("old style") && !bob.isPostQuantum)
    }
}
