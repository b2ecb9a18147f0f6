import CaucusCrypto
import CaucusPayloads
import Testing

/// The payload codec of Protocol.md §9.1, on its own: no store, no relay.
@Suite("Payloads (§9.1)")
struct PayloadTests {
    static let stamp = MessageStamp(id: Array(0..<16), sentAt: 0x0102_0304_0506_0708, expirySeconds: 3_600)

    /// One payload of each kind that needs no group or campaign made first.
    static var payloads: [Payload] {
        let founder = Ed25519.PrivateKey()
        let (session, welcome) = try! GroupSession.found(founder: founder, members: [(Ed25519.PrivateKey().publicKey, .member)])
        return [
            .text(stamp, "on strike at 6"),
            .file(stamp, FileOffer(blobID: Array(repeating: 1, count: 16), key: Array(repeating: 2, count: 32), size: 70_000,
                                   chunkSize: 65_536, digest: Array(repeating: 3, count: 32), name: "flyer.pdf")),
            .profile(name: "Rosa"),
            .expiry(stamp),
            .membership(session.chain.entries[1]),
            .joinRequest(inviteID: Array(repeating: 4, count: 16), secret: Array(repeating: 5, count: 16), name: "Amira"),
            .welcome(welcome!, groupName: "Warehouse 5", expirySeconds: 0, names: [(founder.publicKey, "Rosa")]),
            .routingKey(groupID: Array(repeating: 6, count: 32), seed: Array(repeating: 7, count: 32)),
            .joinRefused(inviteID: Array(repeating: 8, count: 16), reason: "expired"),
            .cardKey(campaign: Array(repeating: 9, count: 32), seed: Array(repeating: 10, count: 32)),
            .unreadable(count: 2),
        ]
    }

    @Test("Every kind decodes to a payload that encodes to the same bytes")
    func roundTrip() throws {
        for payload in Self.payloads {
            let bytes = payload.encoded()
            #expect(try Payload(decoding: bytes).encoded() == bytes)
        }
    }

    @Test("A text payload has the byte layout of §9.1: version, kind, Stamp, LP(text)")
    func textLayout() throws {
        let bytes = Payload.text(Self.stamp, "hi").encoded()
        let expected: [UInt8] = [1, 1] + Array(0..<16) + [1, 2, 3, 4, 5, 6, 7, 8] + [0, 0, 0x0e, 0x10]
            + [0, 0, 0, 2] + Array("hi".utf8)
        #expect(bytes == expected)
    }

    @Test("Truncated, padded, unknown, newer and badly encoded payloads are refused with their reason")
    func refusals() throws {
        for payload in Self.payloads {
            let bytes = payload.encoded()
            for cut in [0, 1, 2, bytes.count / 2, bytes.count - 1] {
                #expect(throws: PayloadError.self) { try Payload(decoding: Array(bytes.prefix(cut))) }
            }
            #expect(throws: PayloadError.trailingBytes(1)) { try Payload(decoding: bytes + [0]) }
        }
        #expect(throws: PayloadError.unsupportedVersion(2)) { try Payload(decoding: [2, 1]) }
        #expect(throws: PayloadError.unknownKind(200)) { try Payload(decoding: [1, 200]) }
        let badText: [UInt8] = [1, 3, 0, 0, 0, 2, 0xff, 0xfe]
        #expect(throws: PayloadError.invalidText) { try Payload(decoding: badText) }
        let longName: [UInt8] = [1, 3] + [0, 0, 1, 1] + Array(repeating: 0x61, count: 257)
        #expect(throws: PayloadError.self) { try Payload(decoding: longName) }
    }
}
