import CaucusCrypto
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

extension Account.InviteSummary {
    /// The JSON object for an invite this user made: `id`, `group`, `used`, `expired`,
    /// `expires_at` (ISO 8601) and `used_by` (the person, or null).
    public var json: [String: Any] {
        ["id": shortID, "group": groupName, "used": used, "expired": expired,
         "expires_at": ISO8601DateFormatter().string(from: expiresAt), "used_by": usedBy?.json ?? NSNull()]
    }
}

extension Account.CampaignSummary {
    /// The JSON object for a campaign: `id` (the start of its hash, as the CLI shows it), `group`,
    /// `union`, `employer`, `unit_size` and `organizer` (the user is one).
    public var json: [String: Any] {
        ["id": shortID, "group": groupName, "union": campaign.union, "employer": campaign.employer,
         "unit_size": campaign.unitSize, "organizer": isOrganizer]
    }
}

extension Account.CardStatus {
    /// The JSON objects `caucus card status --json` prints, one per card or revocation, oldest first.
    public var json: [[String: Any]] {
        items.map { item -> [String: Any] in
            var object = switch item {
            case .card(let card): cardJSON(card)
            case .revocation(let revocation): revocationJSON(revocation)
            }
            object["posted"] = !waiting.contains(item)
            return object
        }
    }

    private func cardJSON(_ card: Card) -> [String: Any] {
        var object: [String: Any] = ["kind": "card", "hash": Hex.encode(card.hash), "date": card.fields.date, "name": card.fields.name]
        object["receipt"] = receipt(for: card).map { ["received_at_ms": $0.receivedAt] as [String: Any] } ?? NSNull()
        if let standing = standings[card.hash] {
            let tally: [String: Any] = [
                "tallied_at_ms": standing.statement.talliedAt, "cards": standing.statement.counted,
                "counted": standing.finding == .counted, "statement": Hex.encode(standing.statement.hash),
            ]
            object["tally"] = tally
        } else {
            object["tally"] = NSNull()
        }
        return object
    }

    private func revocationJSON(_ revocation: CardRevocation) -> [String: Any] {
        ["kind": "revocation", "card": Hex.encode(revocation.card), "revoked_at_ms": revocation.revokedAt,
         "receipt": acknowledgement(of: revocation).map { ["received_at_ms": $0.receivedAt] as [String: Any] } ?? NSNull()]
    }
}
