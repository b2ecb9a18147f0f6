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
        #expect(try parsed.sender(openedWith: tomasz) == rosa.publicKey)
        #expect(throws: (any Error).self) { try parsed.sender(openedWith: employer) }
        let start = try PairwiseEnvelope(sessionMessage: [0x01, 9, 9], from: rosa.publicKey, to: tomasz.publicKey)
        #expect(try PairwiseEnvelope(parsing: start.encoded()).isSessionStart)
    }

    @Test("Bytes that are not an envelope of version 1 are refused before anything is opened")
    func refusals() throws {
        let envelope = try PairwiseEnvelope(sessionMessage: [0x02, 1], from: Ed25519.PrivateKey().publicKey,
                                            to: Ed25519.PrivateKey().publicKey).encoded()
        #expect(throws: PayloadError.truncated) { try PairwiseEnvelope(parsing: []) }
        #expect(throws: PayloadError.truncated) { try PairwiseEnvelope(parsing: Array(envelope.prefix(81))) }
        #expect(throws: PayloadError.unsupportedVersion(2)) { try PairwiseEnvelope(parsing: [2] + envelope.dropFirst()) }
    }
}

extension Array {
    /// Every run of `count` consecutive elements.
    func windows(ofCount count: Int) -> [ArraySlice<Element>] {
        guard count <= self.count else { return [] }
        return (0...(self.count - count)).map { self[$0..<($0 + count)] }
    }
}
