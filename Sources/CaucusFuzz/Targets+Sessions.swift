import CaucusClient
import CaucusCrypto
import CaucusPayloads

extension FuzzTargets {
    /// `Payload(decoding:)`, what a pairwise or group message carries: any bytes decode or throw
    /// `PayloadError`, and a decoded payload encodes back to exactly the bytes it came from.
    static let payload = FuzzTarget(
        name: "payload",
        summary: "Payload(decoding:) on any bytes; decoded payloads re-encode to the same bytes",
        seeds: { PayloadSeeds.all.map { $0.encoded() } },
        check: { input throws(FuzzFailure) in
            guard let payload = try? Payload(decoding: input) else { return }
            try require(payload.encoded() == input, "a payload does not re-encode to the bytes it was decoded from")
        })

    /// `PairwiseEnvelope(parsing:)`, the wrapping of every one-to-one message (§9.2): any bytes
    /// parse or throw `PayloadError`, a parsed envelope encodes back to the same bytes, and opening
    /// its seal with the recipient's key names the sender or throws.
    static let pairwiseEnvelope = FuzzTarget(
        name: "pairwise-envelope",
        summary: "PairwiseEnvelope(parsing:) on any bytes, re-encoded, its seal opened",
        seeds: {
            [(try? PairwiseEnvelope(sessionMessage: [0x01, 2, 3], from: Fixtures.founder.publicKey,
                                    to: Fixtures.member.publicKey).encoded()) ?? []]
        },
        check: { input throws(FuzzFailure) in
            guard let envelope = try? PairwiseEnvelope(parsing: input) else { return }
            try require(envelope.encoded() == input, "an envelope does not re-encode to the bytes it was parsed from")
            _ = try? envelope.sender(openedWith: Fixtures.member)
        })

    /// A prekey bundle as fetched from the relay: identity (32) ‖ published signed prekey (100) ‖
    /// optional one-time prekey (u32 id ‖ 32) ‖ optional published KEM prekey (the last 1,252
    /// bytes, when there are that many after the signed prekey). Layout errors throw; a bundle
    /// whose signatures verify starts a session or throws `SessionError` (`strippedKEMPrekey` when
    /// the signed prekey announces a KEM prekey that is missing); the published bytes round-trip.
    static let prekeyBundle = FuzzTarget(
        name: "prekey-bundle",
        summary: "PrekeyBundle(identity:publishedSignedPrekey:oneTimePrekey:publishedKEMPrekey:) and Session.initiate on it",
        seeds: {
            let fixture = SessionFixture.shared
            let published = fixture.signedPrekey.publishedBytes
            let identity = Fixtures.member.publicKey.rawRepresentation
            let oneTime = Fixtures.bigEndian(UInt32(42)) + fixture.oneTimePrekey.privateKey.publicKey.rawRepresentation
            return [identity + published, identity + published + oneTime, identity + published + oneTime + fixture.kemPrekey.publishedBytes,
                    identity + published + fixture.kemPrekey.publishedBytes]
        },
        check: { input throws(FuzzFailure) in
            guard input.count >= 132 else { return }
            var rest = Array(input[132...])
            var kem: [UInt8]?
            if rest.count >= KEMPrekey.publishedByteCount {
                kem = Array(rest.suffix(KEMPrekey.publishedByteCount))
                rest.removeLast(KEMPrekey.publishedByteCount)
            }
            let oneTime = rest.count >= 4 ? (id: rest[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, key: Array(rest[4...])) : nil
            guard let bundle = try? PrekeyBundle(identity: Array(input[0..<32]), publishedSignedPrekey: Array(input[32..<132]),
                                                 oneTimePrekey: oneTime, publishedKEMPrekey: kem) else { return }
            if let kem, let parsed = bundle.kemPrekey {
                try require(Fixtures.bigEndian(parsed.id) + parsed.key.rawRepresentation + parsed.signature.rawRepresentation == kem,
                            "a prekey bundle does not keep the published KEM prekey it was read from")
            }
            try require(Fixtures.bigEndian(bundle.signedPrekeyID) + bundle.signedPrekey.rawRepresentation
                            + bundle.signedPrekeySignature.rawRepresentation == Array(input[32..<132]),
                        "a prekey bundle does not keep the published bytes it was read from")
            guard bundle.hasValidSignature else { return }
            switch Result(catching: { () throws(SessionError) in try Session.initiate(identity: Fixtures.founder, bundle: bundle) }) {
            case .success(let session):
                try require(session.isPostQuantum == (bundle.kemPrekey != nil), "a bundle with a KEM prekey started a classical session")
            case .failure(let error):
                try require(error != .strippedKEMPrekey || bundle.isStripped, "a bundle that was not stripped was refused as stripped")
            }
        })

    /// One-to-one session messages as the member receives them, in a pairwise envelope's place:
    /// decrypting hostile bytes throws `SessionError` and leaves the session as it was; whatever
    /// decrypts is one of the founder's real messages and cannot be decrypted twice. The same
    /// bytes are also offered as a session start (`Session.respond`) and as the envelope's
    /// sealed box (0x01 ‖ box (80) ‖ …).
    static let sessionMessage = FuzzTarget(
        name: "session-message",
        summary: "Session.decrypt / Session.respond / the envelope's sealed box on hostile bytes",
        seeds: { SessionFixture.shared.messages },
        check: { input throws(FuzzFailure) in
            let fixture = SessionFixture.shared
            var session = fixture.responder
            if let message = try? session.decrypt(input) {
                try require(fixture.plaintexts.contains(message.plaintext), "a session decrypted bytes nobody encrypted")
                var again = session
                try require((try? again.decrypt(input)) == nil, "a session decrypted the same message twice")
            }
            let signed = fixture.signedPrekey, oneTime = fixture.oneTimePrekey, kem = fixture.kemPrekey
            if let started = try? Session.respond(
                to: input, identity: Fixtures.member, signedPrekey: { $0 == signed.id ? signed : nil },
                oneTimePrekey: { $0 == oneTime.id ? oneTime : nil }, kemPrekey: { $0 == kem.id ? kem : nil }) {
                try require(fixture.plaintexts.contains(started.1.plaintext), "a session start decrypted bytes nobody encrypted")
            }
            if input.count > 81, input[0] == 1,
               let sender = try? SealedBox.open(Array(input[1...80]), with: X25519.PrivateKey(converting: Fixtures.member)) {
                try require(sender.count == 32, "a sealed box opened to \(sender.count) bytes that nobody sealed")
            }
        })
}

/// One payload of each kind, made by the real constructors.
enum PayloadSeeds {
    static var all: [Payload] {
        let group = GroupFixture.shared, cards = CardFixture.shared
        // MessageStamp and FileOffer are made only by the client; these payloads start as bytes.
        let stamp = Array(0..<16) + Fixtures.bigEndian(UInt64(1_700_000_000_000)) + Fixtures.bigEndian(UInt32(86_400))
        func text(_ value: String) -> [UInt8] { Fixtures.bigEndian(UInt32(value.utf8.count)) + Array(value.utf8) }
        let offer = Array(16..<32) + [UInt8](repeating: 3, count: 32) + Fixtures.bigEndian(UInt64(3_000_000))
            + Fixtures.bigEndian(UInt32(1 << 16)) + [UInt8](repeating: 4, count: 32) + text("leaflet.pdf")
        let stamped = [[1, 1] + stamp + text("strike vote friday ✊"), [1, 2] + stamp + offer, [1, 4] + stamp]
            .map { try! Payload(decoding: $0) }
        return [
            .profile(name: "Rosa"),
            .membership(group.removal),
            .joinRequest(inviteID: Array(0..<16), secret: Array(16..<32), name: "Amira"),
            .welcome(group.welcome, groupName: "Warehouse 5", expirySeconds: 0,
                     names: [(Fixtures.founder.publicKey, "Rosa"), (Fixtures.member.publicKey, "Amira")]),
            .epochKey(group.epochKey),
            .routingKey(groupID: group.founder.groupID, seed: Array(repeating: 5, count: 32)),
            .joinRefused(inviteID: Array(0..<16), reason: "the invite was already used"),
            .campaign(cards.campaign), .cardKey(campaign: cards.campaign.hash, seed: Array(repeating: 6, count: 32)),
            .receipt(cards.receipt), .revocationReceipt(cards.revocationReceipt),
            .sharedCampaign(groupID: group.founder.groupID, campaign: cards.campaign),
            .unreadable(count: 2),
        ] + stamped
    }
}
