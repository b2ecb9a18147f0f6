import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

@Suite("Canonical signing")
struct SigningTests {
    let key = Ed25519.PrivateKey()
    static let card = SigningContext("caucus/test-card/v1")
    static let other = SigningContext("caucus/test-other/v1")

    @Test("the encoding is the tag and each field, each behind a 4-byte big-endian length")
    func layout() {
        let message = CanonicalMessage(Self.card, fields: [.text("ab"), .bytes([]), .uint64(258)])
        let expected: [UInt8] = [0, 0, 0, 19] + Array("caucus/test-card/v1".utf8)
            + [0, 0, 0, 2, 0x61, 0x62]
            + [0, 0, 0, 0]
            + [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2]
        #expect(message.bytes == expected)
    }

    @Test("sign and verify; a different tag, field split or key does not verify")
    func verify() {
        let message = CanonicalMessage(Self.card, fields: [.text("Ada"), .text("Lovelace")])
        let signature = key.signature(for: message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        let otherTag = CanonicalMessage(Self.other, fields: [.text("Ada"), .text("Lovelace")])
        #expect(!key.publicKey.isValidSignature(signature, for: otherTag))
        // Same concatenated text, different field boundaries: different bytes, so no match.
        let resplit = CanonicalMessage(Self.card, fields: [.text("AdaL"), .text("ovelace")])
        #expect(resplit.bytes != message.bytes)
        #expect(!key.publicKey.isValidSignature(signature, for: resplit))
        #expect(!Ed25519.PrivateKey().publicKey.isValidSignature(signature, for: message))
    }

    @Test("a flipped bit anywhere in the signature fails verification")
    func tamperedSignature() throws {
        let message = CanonicalMessage(Self.card, fields: [.publicKey(key.publicKey)])
        let good = key.signature(for: message).rawRepresentation
        for index in stride(from: 0, to: 64, by: 7) {
            var bad = good
            bad[index] ^= 0x01
            #expect(!key.publicKey.isValidSignature(try Ed25519.Signature(rawRepresentation: bad), for: message))
        }
    }

    @Test("tags must look like caucus/<name>/v<digits>")
    func tagSyntax() {
        #expect(SigningContext.isWellFormed("caucus/card/v1"))
        #expect(SigningContext.isWellFormed("caucus/relay-auth/v12"))
        for bad in ["", "caucus/card", "caucus//v1", "caucus/Card/v1", "other/card/v1", "caucus/card/1", "caucus/card/v", "caucus/card/v1/x"] {
            #expect(!SigningContext.isWellFormed(bad), "\(bad)")
        }
    }

    @Test("seeded keys are deterministic and expose the same seed")
    func seeded() throws {
        let seed = SecureBytes(randomCount: 32)
        let a = try Ed25519.PrivateKey(seed: seed)
        let b = try Ed25519.PrivateKey(seed: a.seed)
        #expect(a.publicKey == b.publicKey)
        #expect(throws: CryptoError.invalidLength(what: "Ed25519 seed", expected: 32, actual: 31)) {
            try Ed25519.PrivateKey(seed: SecureBytes(randomCount: 31))
        }
    }
}

@Suite("Safety numbers")
struct SafetyNumberTests {
    @Test("both sides compute the same 60 digits, in 12 groups of 5")
    func symmetric() {
        let alice = Ed25519.PrivateKey().publicKey
        let bob = Ed25519.PrivateKey().publicKey
        let ab = SafetyNumber(alice, bob)
        #expect(ab == SafetyNumber(bob, alice))
        #expect(ab.digits.count == 60 && ab.digits.allSatisfy(\.isNumber))
        let groups = ab.description.split(separator: " ")
        #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 })
        #expect(SafetyNumber(DID(publicKey: alice), DID(publicKey: bob)) == ab)
    }

    @Test("a different key changes the number")
    func differs() {
        let alice = Ed25519.PrivateKey().publicKey
        #expect(SafetyNumber(alice, Ed25519.PrivateKey().publicKey) != SafetyNumber(alice, Ed25519.PrivateKey().publicKey))
    }

    @Test("the derivation is pinned: RFC 8032 test 1's key gives a fixed fingerprint")
    func pinned() throws {
        // Computed independently with Python hashlib from the algorithm in Protocol.md.
        let key = try Ed25519.PublicKey(rawRepresentation: Hex.decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")!)
        #expect(SafetyNumber.fingerprint(key) == SafetyNumberTests.rfc8032Test1Fingerprint)
    }

    static let rfc8032Test1Fingerprint = "809498449434834494608677794146"
}
