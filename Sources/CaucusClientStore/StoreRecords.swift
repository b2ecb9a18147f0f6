import CaucusCrypto
import Foundation

/// A conversation: a group, or one other person.
public enum Conversation: Hashable, Sendable {
    case group(GroupID)
    case direct(Ed25519.PublicKey)

    /// Stable text key, hashed into the store's tags.
    var key: String {
        switch self {
        case .group(let id): "g:" + Hex.encode(id.bytes)
        case .direct(let peer): "p:" + DID(publicKey: peer).description
        }
    }
}

/// What the store keeps about a person met in a group or a conversation (sealed at rest).
public struct ContactRecord: Codable, Sendable {
    public var did: String
    public var name: String?
    /// The user compared safety numbers with this person and said they match.
    public var verified: Bool = false

    public init(did: String, name: String? = nil, verified: Bool = false) {
        self.did = did
        self.name = name
        self.verified = verified
    }
}

/// What the store keeps about a group besides its crypto state (sealed at rest).
public struct GroupInfo: Codable, Sendable {
    public var groupID: String
    public var name: String
    public var expirySeconds: UInt32 = 0
    /// The user was removed (or left): the group is kept for its history only.
    public var removed: Bool = false
    /// Group messages still to come for which a newcomer does not report unseen predecessors:
    /// the first messages after joining point back to messages sent before it joined.
    public var quietPredecessors: Int = 0

    public init(groupID: String, name: String, expirySeconds: UInt32 = 0, removed: Bool = false, quietPredecessors: Int = 0) {
        self.groupID = groupID
        self.name = name
        self.expirySeconds = expirySeconds
        self.removed = removed
        self.quietPredecessors = quietPredecessors
    }
}

/// A group as the store holds it: its settings, its crypto state and, for admins, the key that
/// signs its route on the relay.
public struct GroupRow: Sendable {
    public var info: GroupInfo
    public var session: GroupSession
    public var routing: Ed25519.PrivateKey?
}

/// Per-conversation settings (sealed at rest).
public struct ConversationRecord: Codable, Sendable {
    public var expirySeconds: UInt32 = 0

    public init(expirySeconds: UInt32 = 0) { self.expirySeconds = expirySeconds }
}

/// An open invite (sealed at rest; its id and expiry are in clear columns).
public struct InviteRecord: Codable, Sendable {
    public var groupID: String
    public var secret: String
    /// The DID of whoever used it, once used.
    public var usedBy: String?

    public init(groupID: String, secret: String, usedBy: String? = nil) {
        self.groupID = groupID
        self.secret = secret
        self.usedBy = usedBy
    }
}

/// An invite with its clear columns.
public struct StoredInvite: Sendable {
    public var id: [UInt8]
    public var record: InviteRecord
    /// Unix milliseconds.
    public var expiresAt: Int64
    public var used: Bool
}

/// One line of a conversation as the store keeps it (sealed at rest).
public struct StoredMessage: Codable, Sendable, Equatable {
    /// What kind of line it is.
    public enum Kind: String, Codable, Sendable {
        case text, file, notice, warning
    }
    public var kind: Kind
    /// Sent by this user.
    public var outgoing: Bool
    /// The sender's DID (nil for notices and warnings).
    public var sender: String?
    /// The text, a file's description, or the notice.
    public var text: String
    /// For files: the id `caucus file get` takes.
    public var fileID: String?
    /// Sender's clock for messages, local clock for notices; Unix milliseconds.
    public var sentAt: UInt64

    public init(kind: Kind, outgoing: Bool, sender: String?, text: String, fileID: String?, sentAt: UInt64) {
        self.kind = kind
        self.outgoing = outgoing
        self.sender = sender
        self.text = text
        self.fileID = fileID
        self.sentAt = sentAt
    }
}

/// A stored line with the row it is in.
public struct StoredLine: Sendable {
    /// Order of arrival in this store.
    public var sequence: Int64
    /// The tag of its conversation (`ClientStore.tag(_:)`).
    public var conversationTag: [UInt8]
    public var message: StoredMessage
    /// Unix milliseconds.
    public var expiresAt: Int64?
}

/// What an outbox entry asks the relay for.
public enum OutboxKind: UInt8, Sendable {
    case send = 1
    /// A route change that goes with a membership entry (its serial is the chain's new length).
    case route = 2
    /// The route published again at the serial it already has, after a restore (§9.10).
    case reassert = 3
}

/// A request waiting in the outbox, in the order it was queued.
public struct OutboxEntry: Sendable {
    /// Its place in the queue.
    public var position: Int64
    public var id: Data
    public var kind: OutboxKind
    /// The serialized request.
    public var body: [UInt8]
}

/// The two kinds of prekeys kept here (Protocol.md §6.1).
public enum PrekeyKind: Int, Sendable {
    case signed = 1
    case oneTime = 2
    /// One-time ML-KEM-768 prekeys (Protocol.md §6.1).
    case kemOneTime = 3
    /// The last-resort ML-KEM-768 prekey, replaced with the signed prekey.
    case kemLastResort = 4
}

/// A campaign as the store keeps it: the campaign, its card key when this user holds it, and the
/// tag of the conversation it was announced in.
public struct StoredCampaign: Sendable {
    public var campaign: Campaign
    public var cardKey: Ed25519.PrivateKey?
    public var conversationTag: [UInt8]
}

/// A group epoch key held until the membership change it belongs to arrives.
public struct HeldEpochKey: Sendable {
    public var key: GroupEpochKey
    public var author: Ed25519.PublicKey
    let tag: [UInt8]
}

/// A card or revocation as the relay's `PostCard` carries it (Protocol.md §7.7): kept until the
/// relay takes it, so that it goes out with the next connection (§9.9).
public struct CardPost: Sendable, Equatable {
    /// The campaign's card key, which names its inbox.
    public let inboxKey: [UInt8]
    /// The item's random id in the inbox (16 bytes), the same at every try.
    public let itemID: [UInt8]
    /// The item sealed to the card key (§10.4).
    public let sealed: [UInt8]

    public init(inboxKey: [UInt8], itemID: [UInt8], sealed: [UInt8]) {
        self.inboxKey = inboxKey
        self.itemID = itemID
        self.sealed = sealed
    }
}
