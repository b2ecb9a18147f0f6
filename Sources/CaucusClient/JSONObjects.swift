import Foundation

// The JSON objects that `caucus … --json` prints and the agent's JSON-RPC methods return: one
// shape for both.

extension PersonView {
    /// The JSON object for a person: `did`, `name` (null before they sent one), `verified`, and `lookalikes`, the DIDs
    /// of the others with the same or a look-alike name.
    public var json: [String: Any] {
        ["did": did.description, "name": name ?? NSNull(), "verified": verified, "lookalikes": lookalikes.map(\.description)]
    }
}

extension MessageView {
    /// The JSON object `read`, `history` and `send` print.
    public var json: [String: Any] {
        var object: [String: Any] = [
            "conversation": conversationName, "kind": message.kind.rawValue, "text": message.text,
            "outgoing": message.outgoing, "sent_at_ms": message.sentAt,
        ]
        if case .group = conversation { object["group"] = true }
        if let sender = message.sender { object["sender_did"] = sender }
        if let senderName { object["sender"] = senderName }
        if let author, !author.isMe {
            object["sender_verified"] = author.verified
            object["sender_lookalikes"] = author.lookalikes.map(\.description)
        }
        if let fileID = message.fileID { object["file_id"] = fileID }
        if let expiresAt { object["expires_at_ms"] = expiresAt }
        return object
    }
}

extension GroupSummary {
    /// The JSON object for a group: `name`, `members` (how many), `admin` (the user is one),
    /// `removed` (the user was removed) and `expiry_seconds` (0: messages do not disappear).
    public var json: [String: Any] {
        ["name": name, "members": members, "admin": isAdmin, "removed": removed, "expiry_seconds": expirySeconds]
    }
}

extension MemberSummary {
    /// The person's JSON object with `admin` and `you`.
    public var json: [String: Any] {
        person.json.merging(["admin": isAdmin, "you": isMe]) { $1 }
    }
}
