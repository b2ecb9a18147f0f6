import CaucusCrypto

/// What the sender of a visible message says about it: a random id, when it was sent and how long
/// it lives (0: until deleted).
public struct MessageStamp: Sendable, Equatable {
    /// 16 random bytes; also the relay message id, so a resend is idempotent.
    public var id: [UInt8]
    /// Sender's clock, Unix milliseconds.
    public var sentAt: UInt64
    /// Disappearing-message timer in force when it was sent, seconds; 0 for none.
    public var expirySeconds: UInt32

    public init(id: [UInt8], sentAt: UInt64, expirySeconds: UInt32) {
        self.id = id
        self.sentAt = sentAt
        self.expirySeconds = expirySeconds
    }
}

/// An encrypted file offered in a conversation: where its ciphertext is on the relay and how to open it.
public struct FileOffer: Sendable, Equatable {
    /// The relay blob holding the encrypted chunks.
    public var blobID: [UInt8]
    /// The file's own XChaCha20-Poly1305 key (secret).
    public var key: [UInt8]
    /// Plaintext size in bytes.
    public var size: UInt64
    /// Plaintext bytes per chunk.
    public var chunkSize: UInt32
    /// BLAKE2b-256 of the whole plaintext.
    public var digest: [UInt8]
    /// The file's name as the sender had it (no directories).
    public var name: String

    public init(blobID: [UInt8], key: [UInt8], size: UInt64, chunkSize: UInt32, digest: [UInt8], name: String) {
        self.blobID = blobID
        self.key = key
        self.size = size
        self.chunkSize = chunkSize
        self.digest = digest
        self.name = name
    }
}

/// One decrypted client payload (Protocol.md §9.1): what travels inside a pairwise session message
/// or a group message.
public enum Payload: Sendable {
    /// A chat message.
    case text(MessageStamp, String)
    /// A file in a conversation.
    case file(MessageStamp, FileOffer)
    /// The sender's self-chosen display name.
    case profile(name: String)
    /// Sets the conversation's disappearing-message timer (0 turns it off).
    case expiry(MessageStamp)
    /// A membership change of the group it is sent in (group messages only).
    case membership(MembershipEntry)
    /// Asks the inviter to admit the sender with a one-time invite (pairwise).
    case joinRequest(inviteID: [UInt8], secret: [UInt8], name: String)
    /// Admits the recipient: the group's chain and epoch secret, its name, timer and known names (pairwise, from an admin).
    case welcome(GroupWelcome, groupName: String, expirySeconds: UInt32, names: [(Ed25519.PublicKey, String)])
    /// The secret of an epoch started by a removal (pairwise, from the remover).
    case epochKey(GroupEpochKey)
    /// The group's relay routing key, for a new admin (pairwise, from an admin).
    case routingKey(groupID: [UInt8], seed: [UInt8])
    /// The inviter refuses a join request.
    case joinRefused(inviteID: [UInt8], reason: String)
    /// A card campaign, signed by its organizer (group messages only).
    case campaign(Campaign)
    /// A campaign's card key, for a co-organizer (pairwise, from an admin).
    case cardKey(campaign: [UInt8], seed: [UInt8])
    /// The organizers' signed confirmation of a card (pairwise, organizer to signer).
    case receipt(CardReceipt)
    /// The organizers' signed acknowledgement of a revocation (pairwise, organizer to signer).
    case revocationReceipt(RevocationReceipt)
    /// A campaign announced in a group before the recipient joined it (pairwise, admin to newcomer).
    case sharedCampaign(groupID: [UInt8], campaign: Campaign)
    /// Tells the sender that this many of their messages could not be opened here and that this
    /// message starts a new session: send them again (pairwise, §9.6).
    case unreadable(count: UInt32)
    /// The organizers' signed tally statement with a proof that the recipient's card is counted,
    /// or that it is not (pairwise, organizer to a card's signer, Protocol.md §10.10).
    case tallyProof(TallyProof)
    /// The sender's device chain after a device was added or revoked, for the people it writes to
    /// (pairwise, Protocol.md §9.12): each receiver verifies it and keeps it if it extends theirs.
    case devicesChanged([DeviceEntry])
    /// A copy of what this device wrote to `peer` (a text, a file or a timer), for the identity's
    /// other devices (pairwise, to one's own devices only, §9.12).
    indirect case sent(to: Ed25519.PublicKey, Payload)
    /// A member recovered from its paper key asks an admin to give the group to its new device
    /// (pairwise, Protocol.md §9.15).
    case rejoin(groupID: [UInt8])

    static let version: UInt8 = 1

    enum Kind: UInt8 {
        case text = 1, file, profile, expiry, membership, joinRequest, welcome, epochKey, routingKey, joinRefused, campaign, cardKey, receipt,
            revocationReceipt, sharedCampaign, unreadable, tallyProof, devicesChanged, sent, rejoin
    }

    /// `u8 version (1) ‖ u8 kind ‖ body`. Payloads that carry secrets should be wiped after use.
    public func encoded() -> [UInt8] {
        var w = PayloadWriter()
        w.u8(Self.version)
        switch self {
        case .text(let stamp, let text):
            w.u8(Kind.text.rawValue)
            Self.write(stamp, to: &w)
            w.text(text)
        case .file(let stamp, let offer):
            w.u8(Kind.file.rawValue)
            Self.write(stamp, to: &w)
            w.fixed(offer.blobID)
            w.fixed(offer.key)
            w.u64(offer.size)
            w.u32(offer.chunkSize)
            w.fixed(offer.digest)
            w.text(offer.name)
        case .profile(let name):
            w.u8(Kind.profile.rawValue)
            w.text(name)
        case .expiry(let stamp):
            w.u8(Kind.expiry.rawValue)
            Self.write(stamp, to: &w)
        case .membership(let entry):
            w.u8(Kind.membership.rawValue)
            w.data(entry.encoded())
        case let .joinRequest(inviteID, secret, name):
            w.u8(Kind.joinRequest.rawValue)
            w.fixed(inviteID)
            w.fixed(secret)
            w.text(name)
        case let .welcome(welcome, groupName, expirySeconds, names):
            w.u8(Kind.welcome.rawValue)
            w.data(welcome.serialized().withUnsafeBytes { Array($0) })
            w.text(groupName)
            w.u32(expirySeconds)
            w.u32(UInt32(names.count))
            for (key, name) in names {
                w.fixed(key.rawRepresentation)
                w.text(name)
            }
        case .epochKey(let key):
            w.u8(Kind.epochKey.rawValue)
            w.data(key.serialized().withUnsafeBytes { Array($0) })
        case let .routingKey(groupID, seed):
            w.u8(Kind.routingKey.rawValue)
            w.fixed(groupID)
            w.fixed(seed)
        case let .joinRefused(inviteID, reason):
            w.u8(Kind.joinRefused.rawValue)
            w.fixed(inviteID)
            w.text(reason)
        case .campaign(let campaign):
            w.u8(Kind.campaign.rawValue)
            w.data(campaign.encoded())
        case let .cardKey(campaign, seed):
            w.u8(Kind.cardKey.rawValue)
            w.fixed(campaign)
            w.fixed(seed)
        case .receipt(let receipt):
            w.u8(Kind.receipt.rawValue)
            w.data(receipt.encoded())
        case .revocationReceipt(let receipt):
            w.u8(Kind.revocationReceipt.rawValue)
            w.data(receipt.encoded())
        case let .sharedCampaign(groupID, campaign):
            w.u8(Kind.sharedCampaign.rawValue)
            w.fixed(groupID)
            w.data(campaign.encoded())
        case .tallyProof(let proof):
            w.u8(Kind.tallyProof.rawValue)
            w.data(proof.encoded())
        case .unreadable(let count):
            w.u8(Kind.unreadable.rawValue)
            w.u32(count)
        case .devicesChanged(let entries):
            w.u8(Kind.devicesChanged.rawValue)
            w.u32(UInt32(entries.count))
            for entry in entries { w.data(entry.encoded()) }
        case let .sent(peer, inner):
            w.u8(Kind.sent.rawValue)
            w.fixed(peer.rawRepresentation)
            w.data(inner.encoded())
        case .rejoin(let groupID):
            w.u8(Kind.rejoin.rawValue)
            w.fixed(groupID)
        }
        return w.bytes
    }

    /// Parses a decrypted payload.
    public init(decoding bytes: [UInt8]) throws(PayloadError) {
        var r = PayloadReader(bytes)
        let version = try r.u8()
        guard version == Self.version else { throw PayloadError.unsupportedVersion(version) }
        let code = try r.u8()
        guard let kind = Kind(rawValue: code) else { throw PayloadError.unknownKind(code) }
        switch kind {
        case .text:
            self = .text(try Self.readStamp(&r), try r.text())
        case .file:
            let stamp = try Self.readStamp(&r)
            let offer = FileOffer(
                blobID: try r.fixed(16), key: try r.fixed(32), size: try r.u64(), chunkSize: try r.u32(),
                digest: try r.fixed(32), name: try r.text(limit: 1024))
            guard offer.chunkSize > 0, offer.chunkSize <= 1 << 20 else { throw PayloadError.invalid("file chunk size \(offer.chunkSize)") }
            self = .file(stamp, offer)
        case .profile:
            self = .profile(name: try r.text(limit: 256))
        case .expiry:
            self = .expiry(try Self.readStamp(&r))
        case .membership:
            self = .membership(try r.record("membership entry", limit: 1 << 20) { try MembershipEntry(encoded: $0) })
        case .joinRequest:
            self = .joinRequest(inviteID: try r.fixed(16), secret: try r.fixed(16), name: try r.text(limit: 256))
        case .welcome:
            var raw = try r.data(limit: 16 << 20)
            defer { wipe(&raw) }
            let welcome: GroupWelcome
            do { welcome = try GroupWelcome(serialized: SecureBytes(copying: raw)) } catch {
                throw PayloadError.invalid("group welcome: \(error)")
            }
            let groupName = try r.text(limit: 256)
            let expiry = try r.u32()
            let count = Int(try r.u32())
            guard count <= r.remaining / 36 else { throw PayloadError.truncated }
            var names: [(Ed25519.PublicKey, String)] = []
            for _ in 0..<count { names.append((try r.publicKey(), try r.text(limit: 256))) }
            self = .welcome(welcome, groupName: groupName, expirySeconds: expiry, names: names)
        case .epochKey:
            var raw = try r.data(limit: 128)
            defer { wipe(&raw) }
            do { self = .epochKey(try GroupEpochKey(serialized: SecureBytes(copying: raw))) } catch {
                throw PayloadError.invalid("epoch key: \(error)")
            }
        case .routingKey:
            self = .routingKey(groupID: try r.fixed(32), seed: try r.fixed(32))
        case .joinRefused:
            self = .joinRefused(inviteID: try r.fixed(16), reason: try r.text(limit: 1024))
        case .campaign:
            self = .campaign(try r.record("campaign record", limit: 64 << 10) { try Campaign(encoded: $0) })
        case .cardKey:
            self = .cardKey(campaign: try r.fixed(32), seed: try r.fixed(32))
        case .receipt:
            self = .receipt(try r.record("card receipt", limit: 64 << 10) { try CardReceipt(encoded: $0) })
        case .revocationReceipt:
            self = .revocationReceipt(try r.record("revocation receipt", limit: 1 << 10) { try RevocationReceipt(encoded: $0) })
        case .sharedCampaign:
            self = .sharedCampaign(groupID: try r.fixed(32), campaign: try r.record("campaign record", limit: 64 << 10) { try Campaign(encoded: $0) })
        case .unreadable:
            self = .unreadable(count: try r.u32())
        case .tallyProof:
            self = .tallyProof(try r.record("tally proof", limit: 8 << 10) { try TallyProof(encoded: $0) })
        case .devicesChanged:
            let count = Int(try r.u32())
            guard count >= 1, count <= DeviceEntry.maximumEntries else { throw PayloadError.invalid("a device chain of \(count) entries") }
            var entries: [DeviceEntry] = []
            for _ in 0..<count {
                entries.append(try r.record("device entry", limit: DeviceEntry.addByteCount) { try DeviceEntry(encoded: $0) })
            }
            self = .devicesChanged(entries)
        case .sent:
            let peer = try r.publicKey()
            let inner = try Payload(decoding: try r.data(limit: 1 << 17))
            switch inner {
            case .text, .file, .expiry: break
            default: throw PayloadError.invalid("a copy of a sent message holds only a text, a file or a timer")
            }
            self = .sent(to: peer, inner)
        case .rejoin:
            self = .rejoin(groupID: try r.fixed(32))
        }
        try r.finish()
    }

    private static func write(_ stamp: MessageStamp, to w: inout PayloadWriter) {
        w.fixed(stamp.id)
        w.u64(stamp.sentAt)
        w.u32(stamp.expirySeconds)
    }

    private static func readStamp(_ r: inout PayloadReader) throws(PayloadError) -> MessageStamp {
        MessageStamp(id: try r.fixed(16), sentAt: try r.u64(), expirySeconds: try r.u32())
    }
}
