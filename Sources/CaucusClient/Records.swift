import CaucusClientStore
import CaucusCrypto
import Foundation

/// A conversation: a group, or one other person (kept by the store, `CaucusClientStore`).
public typealias Conversation = CaucusClientStore.Conversation
/// One line of a conversation as the store keeps it.
public typealias StoredMessage = CaucusClientStore.StoredMessage

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
    public var id: GroupID
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
