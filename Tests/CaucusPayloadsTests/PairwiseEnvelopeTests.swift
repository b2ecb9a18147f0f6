import CaucusCrypto
import CaucusPayloads
import Testing

/// The pairwise envelope of Protocol.md §9.2.
@Suite("Pairwise envelope (§9.2)")
struct PairwiseEnvelopeTests {
    @Test("Only the recipient learns the sender from the seal; the bytes are version, seal, session message")
    func sealAndOpen() throws {
        let rosa = Ed25519.PrivateKey(), tomasz = Ed25519.PrivateKey(), employer = Ed25519.PrivateKey()
        let message: [UInt8] = [0x02] + Array(repeating: 7, count: 40)
        let envelope = try PairwiseEnvelope(sessionMessage: message, from: rosa.publicKey, to: tomasz.publicKey)
        let bytes = envelope.encoded()
        #expect(bytes.count == 1 + 80 + message.count && bytes[0] == 1 && Array(bytes[81...]) == message)
        #expect(!bytes.windows(ofCount: 32).contains { Array($0) == rosa.publicKey.rawRepresentation })
        let parsed = try PairwiseEnvelope(parsing: bytes)
        #expect(parsed == envelope && !parsed.isSessionStart)
        #expect(try parsed.sender(openedWith: tomasz) == PairwiseEnvelope.Sender(firstDeviceOf: rosa.publicKey))
        #expect(throws: (any Error).self) { try parsed.sender(openedWith: employer) }
        let start = try PairwiseEnvelope(sessionMessage: [0x01, 9, 9], from: rosa.publicKey, to: tomasz.publicKey)
        #expect(try PairwiseEnvelope(parsing: start.encoded()).isSessionStart)
    }

    @Test("A later device seals its identity and its own key (version 2); only the recipient device opens it")
    func laterDevice() throws {
        let rosa = Ed25519.PrivateKey(), laptop = Ed25519.PrivateKey(), tomaszPhone = Ed25519.PrivateKey()
        let sender = PairwiseEnvelope.Sender(identity: rosa.publicKey, device: laptop.publicKey)
        let message: [UInt8] = [0x02] + Array(repeating: 7, count: 40)
        let envelope = try PairwiseEnvelope(sessionMessage: message, from: sender, to: tomaszPhone.publicKey)
        let bytes = envelope.encoded()
        #expect(bytes.count == 1 + 112 + message.count && bytes[0] == 2 && Array(bytes[113...]) == message)
        #expect(!bytes.windows(ofCount: 32).contains { Array($0) == laptop.publicKey.rawRepresentation })
        let parsed = try PairwiseEnvelope(parsing: bytes)
        #expect(parsed == envelope && parsed.version == 2)
        #expect(try parsed.sender(openedWith: tomaszPhone) == sender)
        #expect(throws: (any Error).self) { try parsed.sender(openedWith: rosa) }
        // A version 2 seal that names the identity key as the device is what version 1 says: refused.
        let confused = PairwiseEnvelope.Sender(identity: rosa.publicKey, device: rosa.publicKey)
        let sealed = SealedBox.seal(rosa.publicKey.rawRepresentation + rosa.publicKey.rawRepresentation,
                                    to: try X25519.PublicKey(converting: tomaszPhone.publicKey))
        #expect(throws: PayloadError.self) { try PairwiseEnvelope(parsing: [2] + sealed + message).sender(openedWith: tomaszPhone) }
        #expect(confused.isFirstDevice)
    }

    @Test("Bytes that are not an envelope of version 1 or 2 are refused before anything is opened")
    func refusals() throws {
        let envelope = try PairwiseEnvelope(sessionMessage: [0x02, 1], from: Ed25519.PrivateKey().publicKey,
                                            to: Ed25519.PrivateKey().publicKey).encoded()
        #expect(throws: PayloadError.truncated) { try PairwiseEnvelope(parsing: []) }
        #expect(throws: PayloadError.truncated) { try PairwiseEnvelope(parsing: Array(envelope.prefix(81))) }
        #expect(throws: PayloadError.truncated) { try PairwiseEnvelope(parsing: [2] + envelope.dropFirst()) }
        #expect(throws: PayloadError.unsupportedVersion(3)) { try PairwiseEnvelope(parsing: [3] + envelope.dropFirst()) }
    }
}

extension Array {
    /// Every run of `count` consecutive elements.
    func windows(ofCount count: Int) -> [ArraySlice<Element>] {
        guard count <= self.count else { return [] }
        return (0...(self.count - count)).map { self[$0..<($0 + count)] }
    }
}
