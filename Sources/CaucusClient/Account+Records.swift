import CaucusClientStore
import CaucusCrypto
import Foundation

/// Contacts, groups, conversations and lines as the engine uses them, over the store's records.
extension Account {
    // MARK: Contacts

    nonisolated func contact(_ tx: StoreTransaction, _ key: Ed25519.PublicKey) throws -> ContactRecord? {
        try tx.contact(key)
    }

    /// Saves a contact and tells the kept `People`.
    nonisolated func saveContact(_ tx: StoreTransaction, _ key: Ed25519.PublicKey, _ record: ContactRecord) throws {
        updatePeople(key, name: record.name, verified: record.verified)
        try tx.saveContact(key, record)
    }

    /// The name to show for `key`: "you", the display name, or a short DID.
    nonisolated func displayName(_ tx: StoreTransaction, _ key: Ed25519.PublicKey) throws -> String {
        if key == identity.publicKey { return "you" }
        if let name = try contact(tx, key)?.name { return name }
        return DID(publicKey: key).short
    }

    /// Records a display name a peer announced, warning loudly in the conversation when it is the same
    /// as, or looks like, the name of anyone else the user knows: the user, a verified contact, or
    /// another contact (Protocol.md §9.5).
    nonisolated func learnName(_ tx: StoreTransaction, _ key: Ed25519.PublicKey, _ name: String, in conversation: Conversation) throws {
        guard key != identity.publicKey, (try? Self.validate(displayName: name)) != nil else { return }
        var record = try contact(tx, key) ?? ContactRecord(did: DID(publicKey: key).description)
        let previous = record.name
        guard previous != name else { return }
        let people = try people(tx)
        let who = DID(publicKey: key).short, shown = PersonView.shown(name).text
        for other in people.lookalikes(of: name, except: key) {
            let known = people.view(other.publicKey)
            let like: String
            if known.isMe {
                like = "your own name: others may take its messages for yours"
            } else if known.verified {
                like = "the name of your verified contact \(PersonView.shown(known.name ?? "").text) \(PersonView.verifiedMark) (\(other.short)), with a different key"
            } else {
                like = "the name of \(PersonView.shown(known.name ?? "").text) (\(other.short)), with a different key"
            }
            try addLine(tx, conversation, .warning, """
                WARNING: \(who) calls itself "\(shown)", the same as or a look-alike of \(like). It may be an impostor: \
                its name is shown marked \(PersonView.lookAlikeMark) with its DID fragment; compare safety numbers \
                (caucus verify) before trusting it.
                """)
        }
        record.name = name
        try saveContact(tx, key, record)
        if let previous {
            try addLine(tx, conversation, .notice, "\(PersonView.shown(previous).text) (\(who)) is now called \(try mention(tx, key))")
        } else {
            let verified = record.verified ? "" : " (not verified: compare safety numbers with `caucus verify \(who)`)"
            try addLine(tx, conversation, .notice, "\(who) is \(try mention(tx, key))\(verified)")
        }
    }

    // MARK: Groups

    /// A group's settings, state and routing key.
    nonisolated func groupRow(_ tx: StoreTransaction, _ groupID: GroupID) throws -> (GroupInfo, GroupSession, Ed25519.PrivateKey?)? {
        try tx.groupRow(groupID).map { ($0.info, $0.session, $0.routing) }
    }

    /// `groupRow` for an id as the crypto core holds it.
    nonisolated func groupRow(_ tx: StoreTransaction, _ groupID: [UInt8]) throws -> (GroupInfo, GroupSession, Ed25519.PrivateKey?)? {
        try groupRow(tx, GroupID(groupID))
    }

    nonisolated func saveGroup(_ tx: StoreTransaction, _ info: GroupInfo, _ session: GroupSession, routing: Ed25519.PrivateKey?) throws {
        try tx.saveGroup(info, session, routing: routing)
    }

    nonisolated func groupInfo(_ tx: StoreTransaction, _ groupID: GroupID) throws -> GroupInfo? {
        try tx.groupInfo(groupID)
    }

    // MARK: Conversations

    /// The disappearing-message timer of a conversation, in seconds (0: off).
    nonisolated func expiry(_ tx: StoreTransaction, _ conversation: Conversation) throws -> UInt32 {
        switch conversation {
        case .group(let id): try groupInfo(tx, id)?.expirySeconds ?? 0
        case .direct: try tx.conversationRecord(conversation).expirySeconds
        }
    }

    nonisolated func conversationName(_ tx: StoreTransaction, _ conversation: Conversation) throws -> String {
        switch conversation {
        case .group(let id): try groupInfo(tx, id)?.name ?? "(unknown group)"
        case .direct(let peer): try displayName(tx, peer)
        }
    }

    // MARK: Messages

    /// Stores a line of a conversation (sealed), with its expiry, and tells the live screen.
    @discardableResult
    nonisolated func addLine(
        _ tx: StoreTransaction, _ conversation: Conversation, _ kind: StoredMessage.Kind, _ text: String,
        sender: Ed25519.PublicKey? = nil, sentAt: UInt64? = nil, fileID: String? = nil, expirySeconds: UInt32? = nil,
        unread: Bool? = nil
    ) throws -> MessageView {
        let now = ClientStore.now()
        let outgoing = sender == identity.publicKey
        let message = StoredMessage(
            kind: kind, outgoing: outgoing, sender: sender.map { DID(publicKey: $0).description }, text: text,
            fileID: fileID, sentAt: sentAt ?? UInt64(now))
        let timer = try expirySeconds ?? expiry(tx, conversation)
        let expiresAt: Int64? = timer > 0 ? now + Int64(timer) * 1000 : nil
        let sequence = try tx.appendLine(message, to: conversation, at: now, unread: unread ?? !outgoing, expiresAt: expiresAt)
        let view = try messageView(tx, sequence: sequence, conversation: conversation, message: message, sender: sender, expiresAt: expiresAt)
        pendingLines.withLock { $0.append(view) }
        return view
    }

    /// Stored lines as shown, each in its conversation (lines of conversations no longer known are left out).
    nonisolated func views(_ tx: StoreTransaction, _ lines: [StoredLine], conversations: [[UInt8]: Conversation]) throws -> [MessageView] {
        try lines.compactMap { line in
            guard let conversation = conversations[line.conversationTag] else { return nil }
            return try messageView(tx, sequence: line.sequence, conversation: conversation, message: line.message,
                                   sender: line.message.sender.flatMap { DID($0) }?.publicKey, expiresAt: line.expiresAt)
        }
    }

    /// A stored line with its conversation's name and its people, marked (Protocol.md §9.5).
    private nonisolated func messageView(_ tx: StoreTransaction, sequence: Int64, conversation: Conversation, message: StoredMessage,
                                         sender: Ed25519.PublicKey?, expiresAt: Int64?) throws -> MessageView {
        var peer: PersonView?
        if case .direct(let key) = conversation { peer = try person(tx, key) }
        return MessageView(
            sequence: sequence, conversation: conversation, conversationName: try conversationName(tx, conversation),
            senderName: try sender.map { try displayName(tx, $0) }, author: try sender.map { try person(tx, $0) }, peer: peer,
            message: message, expiresAt: expiresAt)
    }

    /// Every conversation the store knows, by tag.
    nonisolated func knownConversations(_ tx: StoreTransaction) throws -> [[UInt8]: Conversation] {
        var result: [[UInt8]: Conversation] = [:]
        for info in try tx.allGroupInfos() {
            guard let id = Hex.decode(info.groupID) else { continue }
            let conversation = Conversation.group(GroupID(id))
            result[store.tag(conversation)] = conversation
        }
        for (key, _) in try tx.allContacts() {
            let conversation = Conversation.direct(key)
            result[store.tag(conversation)] = conversation
        }
        return result
    }
}
