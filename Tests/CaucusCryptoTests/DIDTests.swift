import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

@Suite("did:key")
struct DIDTests {
    let did = DID(publicKey: Ed25519.PrivateKey().publicKey)

    @Test("a fresh identity's DID round-trips and starts with z6Mk")
    func roundTrip() throws {
        #expect(did.description.hasPrefix("did:key:z6Mk"))
        #expect(try DID(parsing: did.description) == did)
        #expect(DID(did.description) == did)
        #expect(try did.keyAgreementIdentifier().hasPrefix("z6LS"))
    }

    @Test("every DID is 56 characters, as Protocol.md says")
    func length() {
        for _ in 0..<500 {
            #expect(DID(publicKey: Ed25519.PrivateKey().publicKey).description.count == 56)
        }
    }

    @Test("wrong prefix")
    func wrongPrefix() {
        for text in ["", "did:web:example.org", "did:key", "DID:KEY:" + did.identifier, did.identifier] {
            #expect(throws: DIDError.wrongPrefix) { try DID(parsing: text) }
        }
    }

    @Test("multibase other than base58btc")
    func multibase() {
        let hexForm = "did:key:f" + Hex.encode([0xed, 0x01] + did.publicKey.rawRepresentation)
        #expect(throws: DIDError.unsupportedMultibase("f")) { try DID(parsing: hexForm) }
    }

    @Test("characters outside the base58 alphabet, with their position")
    func badBase58() {
        var text = did.description
        text.replaceSubrange(text.index(text.startIndex, offsetBy: 20)...text.index(text.startIndex, offsetBy: 20), with: "0")
        #expect(throws: DIDError.badBase58(offset: 20, character: "0")) { try DID(parsing: text) }
        #expect(throws: DIDError.badBase58(offset: 12, character: "l")) { try DID(parsing: "did:key:z6Mkl") }
        #expect(throws: DIDError.badBase58(offset: 9, character: "#")) { try DID(parsing: "did:key:z#abc") }
        #expect(throws: DIDError.badBase58(offset: 11, character: "é")) { try DID(parsing: "did:key:z6Mé") }
    }

    @Test("an X25519 did:key or another codec is refused as unknown codec")
    func unknownCodec() throws {
        let x25519 = "did:key:z" + Base58.encode([0xec, 0x01] + [UInt8](repeating: 9, count: 32))
        #expect(throws: DIDError.unknownCodec(0xec)) { try DID(parsing: x25519) }
        let secp = "did:key:z" + Base58.encode([0xe7, 0x01] + [UInt8](repeating: 2, count: 33))
        #expect(throws: DIDError.unknownCodec(0xe7)) { try DID(parsing: secp) }
        // 0xed encoded in three varint bytes instead of two: same number, not the canonical string.
        let padded = "did:key:z" + Base58.encode([0xed, 0x81, 0x00] + did.publicKey.rawRepresentation)
        #expect(throws: DIDError.unknownCodec(0xed)) { try DID(parsing: padded) }
    }

    @Test("keys of the wrong length")
    func wrongLength() {
        let key = did.publicKey.rawRepresentation
        for bytes in [Array(key.dropLast()), key + [0], []] {
            let text = "did:key:z" + Base58.encode([0xed, 0x01] + bytes)
            #expect(throws: DIDError.wrongLength(byteCount: bytes.count)) { try DID(parsing: text) }
        }
        #expect(throws: DIDError.wrongLength(byteCount: 0)) { try DID(parsing: "did:key:") }
        let huge = "did:key:z" + String(repeating: "2", count: 5000)
        #expect(throws: DIDError.wrongLength(byteCount: nil)) { try DID(parsing: huge) }
    }

    @Test("a low-order point is not an identity key")
    func invalidKey() {
        // The identity point (0, 1) encodes as 0x01 followed by 31 zero bytes.
        let identity = [UInt8(1)] + [UInt8](repeating: 0, count: 31)
        let text = "did:key:z" + Base58.encode([0xed, 0x01] + identity)
        #expect(throws: DIDError.invalidKey) { try DID(parsing: text) }
    }

    @Test("every error says what is wrong in words")
    func errorText() {
        #expect(DIDError.unknownCodec(0xec).description.contains("X25519"))
        #expect(DIDError.badBase58(offset: 3, character: "0").description.contains("position 3"))
    }

    @Test("base58 keeps leading zero bytes and rejects nothing valid")
    func base58() throws {
        for bytes: [UInt8] in [[], [0], [0, 0, 1], [255, 254], Random.bytes(34)] {
            #expect(try Base58.decode(Base58.encode(bytes)).get() == bytes)
        }
        #expect(Base58.encode([0, 0, 0x28, 0x7f, 0xb4, 0xcd]) == "11233QC4")
    }
}
