import CaucusCrypto
import Foundation

/// A conversation: a group, or one other person.
public enum Conversation: Hashable, Sendable {
    case group([UInt8])
    case direct(Ed25519.PublicKey)

    /// Stable text key, hashed into the store's tags.
    var key: String {
        switch self {
        case .group(let id): "g:" + Hex.encode(id)
        case .direct(let peer): "p:" + DID(publicKey: peer).description
        }
    }
}

/// What the store keeps about a person met in a group or a conversation (sealed at rest).
struct ContactRecord: Codable, Sendable {
    var did: String
    var name: String?
    /// The user compared safety numbers with this person and said they match.
    var verified: Bool = false
}

/// What the store keeps about a group besides its crypto state (sealed at rest).
struct GroupInfo: Codable, Sendable {
    var groupID: String
    var name: String
    var expirySeconds: UInt32 = 0
    /// The user was removed (or left): the group is kept for its history only.
    var removed: Bool = false
    /// Group messages still to come for which a newcomer does not report unseen predecessors:
    /// the first messages after joining point back to messages sent before it joined.
    var quietPredecessors: Int = 0
}

/// Per-conversation settings (sealed at rest).
struct ConversationRecord: Codable, Sendable {
    var expirySeconds: UInt32 = 0
}

/// An open invite (sealed at rest; its id and expiry are in clear columns).
struct InviteRecord: Codable, Sendable {
    var groupID: String
    var secret: String
    /// The DID of whoever used it, once used.
    var usedBy: String?
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
}

/// A stored line with where it belongs, as `read`, `history` and the chat screen show it.
public struct MessageView: Sendable, Equatable {
    /// Order of arrival in this store.
    public var sequence: Int64
    /// Which conversation.
    public var conversation: Conversation
    /// The conversation's name as the user sees it (group name or person).
    public var conversationName: String
    /// The sender's display name as the user knows it ("you" for the user).
    public var senderName: String?
    /// The sender with their marks (nil for notices and warnings).
    public var author: PersonView?
    /// For a one-to-one conversation, the other person with their marks.
    public var peer: PersonView?
    /// The line itself.
    public var message: StoredMessage
    /// When it disappears from this store, if a timer was set (Unix milliseconds).
    public var expiresAt: Int64?
}

/// A group as `caucus group list` shows it.
public struct GroupSummary: Sendable, Equatable {
    public var id: [UInt8]
    public var name: String
    public var members: Int
    public var isAdmin: Bool
    public var removed: Bool
    public var expirySeconds: UInt32
}

/// A member as `caucus group members` shows it.
public struct MemberSummary: Sendable, Equatable {
    public var did: DID
    public var name: String?
    public var isAdmin: Bool
    public var verified: Bool
    public var isMe: Bool
    /// Everyone else the user knows whose name is the same or looks alike (Protocol.md §9.5).
    public var lookalikes: [DID]

    /// The member as a person, with their marks.
    public var person: PersonView { PersonView(did: did, name: name, isMe: isMe, verified: verified, lookalikes: lookalikes) }
}

/// Something that happened while receiving, for a live screen.
public enum AccountEvent: Sendable {
    /// A line was added to a conversation.
    case message(MessageView)
    /// The relay connection changed (connected, lost, retrying).
    case connection(String)
}

extension DID {
    /// A short form for screens: the first and last characters of the identifier.
    public var short: String {
        let id = identifier
        return String(id.prefix(6)) + "…" + String(id.suffix(6))
    }
}
