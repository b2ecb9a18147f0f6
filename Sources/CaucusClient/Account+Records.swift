import CaucusCrypto
import Foundation
import GRDB

/// Reading and writing the store's sealed records: contacts, groups, conversations, messages.
extension Account {
    // MARK: Contacts

    nonisolated func contact(_ db: Database, _ key: Ed25519.PublicKey) throws -> ContactRecord? {
        let tag = store.tag(key.rawRepresentation)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM contacts WHERE tag = ?", arguments: [Data(tag)]) else { return nil }
        return try store.openJSON(ContactRecord.self, sealed, table: "contacts", tag: tag)
    }

    nonisolated func saveContact(_ db: Database, _ key: Ed25519.PublicKey, _ record: ContactRecord) throws {
        updatePeople(key, name: record.name, verified: record.verified)
        let tag = store.tag(key.rawRepresentation)
        try db.execute(sql: "INSERT OR REPLACE INTO contacts (tag, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), store.sealJSON(record, table: "contacts", tag: tag)])
    }

    nonisolated func allContacts(_ db: Database) throws -> [(Ed25519.PublicKey, ContactRecord)] {
        try Row.fetchAll(db, sql: "SELECT tag, sealed FROM contacts").compactMap { row in
            let record = try store.openJSON(ContactRecord.self, row["sealed"], table: "contacts", tag: Array(row["tag"] as Data))
            guard let did = DID(record.did) else { return nil }
            return (did.publicKey, record)
        }
    }

    /// The name to show for `key`: "you", the display name, or a short DID.
    nonisolated func displayName(_ db: Database, _ key: Ed25519.PublicKey) throws -> String {
        if key == identity.publicKey { return "you" }
        if let name = try contact(db, key)?.name { return name }
        return DID(publicKey: key).short
    }

    /// Records a display name a peer announced, warning loudly in the conversation when it is the same
    /// as, or looks like, the name of anyone else the user knows: the user, a verified contact, or
    /// another contact (Protocol.md §9.5).
    nonisolated func learnName(_ db: Database, _ key: Ed25519.PublicKey, _ name: String, in conversation: Conversation) throws {
        guard key != identity.publicKey, (try? Self.validate(displayName: name)) != nil else { return }
        var record = try contact(db, key) ?? ContactRecord(did: DID(publicKey: key).description)
        let previous = record.name
        guard previous != name else { return }
        let people = try people(db)
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
            try addLine(db, conversation, .warning, """
                WARNING: \(who) calls itself "\(shown)", the same as or a look-alike of \(like). It may be an impostor: \
                its name is shown marked \(PersonView.lookAlikeMark) with its DID fragment; compare safety numbers \
                (caucus verify) before trusting it.
                """)
        }
        record.name = name
        try saveContact(db, key, record)
        if let previous {
            try addLine(db, conversation, .notice, "\(PersonView.shown(previous).text) (\(who)) is now called \(try mention(db, key))")
        } else {
            let verified = record.verified ? "" : " (not verified: compare safety numbers with `caucus verify \(who)`)"
            try addLine(db, conversation, .notice, "\(who) is \(try mention(db, key))\(verified)")
        }
    }

    // MARK: Groups

    /// A group's settings, state and routing key. The state is decoded once and kept while the row's
    /// generation token stays the one it was read or written with: a state of 10,000 members takes
    /// tens of milliseconds to decode, and every group message needs it.
    nonisolated func groupRow(_ db: Database, _ groupID: [UInt8]) throws -> (GroupInfo, GroupSession, Ed25519.PrivateKey?)? {
        let tag = store.tag(groupID)
        guard let row = try Row.fetchOne(db, sql: "SELECT info, routing, generation FROM groups WHERE tag = ?", arguments: [Data(tag)])
        else { return nil }
        let info = try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: tag)
        let session = try groupSession(db, tag: tag, generation: row["generation"])
        var routing: Ed25519.PrivateKey?
        if let sealed = row["routing"] as Data? {
            routing = try Ed25519.PrivateKey(seed: try store.openSecret(sealed, table: "groups.routing", tag: tag))
        }
        return (info, session, routing)
    }

    /// Stores a group under a new random generation token, and keeps `session` as that token's
    /// decoded state. A token is never reused, so a transaction that rolls back leaves a cached
    /// state that no row matches.
    ///
    /// The state goes in parts (Protocol.md §8.5): when the state kept for the row's current token
    /// is at hand, only the entries after its chain and the pages of remembered hashes that differ
    /// from it are written; otherwise every part is.
    nonisolated func saveGroup(_ db: Database, _ info: GroupInfo, _ session: GroupSession, routing: Ed25519.PrivateKey?) throws {
        let tag = store.tag(session.groupID)
        let stored = try Int64.fetchOne(db, sql: "SELECT generation FROM groups WHERE tag = ?", arguments: [Data(tag)])
        let previous = stored.flatMap { generation in
            groupCache.withLock { cache in cache[Data(tag)].flatMap { $0.generation == generation ? $0.session : nil } }
        }
        let generation = Int64.random(in: 1...Int64.max)
        // An upsert keeps the row's id, so the table's index on `tag` is not rewritten.
        try db.execute(sql: """
            INSERT INTO groups (tag, info, state, routing, generation) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tag) DO UPDATE SET info = excluded.info, state = excluded.state, routing = excluded.routing,
                                            generation = excluded.generation
            """, arguments: [
            Data(tag),
            store.sealJSON(info, table: "groups.info", tag: tag),
            store.sealSecret(session.serializedCore(), table: "groups.state", tag: tag),
            routing.map { store.sealSecret($0.seed, table: "groups.routing", tag: tag) },
            generation,
        ])
        let firstEntry: Int, pages: [Int]
        if let previous, session.chainExtends(previous) {
            firstEntry = previous.entryCount
            pages = session.seenPagesChanged(since: previous)
            // A state that starts again (a member welcomed back) remembers fewer hashes.
            if session.seenPageCount < previous.seenPageCount {
                try db.execute(sql: "DELETE FROM group_seen WHERE grp = ? AND page >= ?", arguments: [Data(tag), session.seenPageCount])
            }
        } else {
            try db.execute(sql: "DELETE FROM group_entries WHERE grp = ?", arguments: [Data(tag)])
            try db.execute(sql: "DELETE FROM group_seen WHERE grp = ?", arguments: [Data(tag)])
            firstEntry = 0
            pages = Array(0..<session.seenPageCount)
        }
        let entry = try db.cachedStatement(sql: "INSERT OR REPLACE INTO group_entries (grp, seq, sealed) VALUES (?, ?, ?)")
        for index in firstEntry..<session.entryCount {
            try entry.execute(arguments: [Data(tag), index, Data(store.seal(session.entry(at: index), table: "group_entries",
                                                                             tag: Self.partTag(tag, index)))])
        }
        let page = try db.cachedStatement(sql: "INSERT OR REPLACE INTO group_seen (grp, page, sealed) VALUES (?, ?, ?)")
        for number in pages {
            try page.execute(arguments: [Data(tag), number, Data(store.seal(session.seenPage(number), table: "group_seen",
                                                                           tag: Self.partTag(tag, number)))])
        }
        groupCache.withLock { $0[Data(tag)] = (generation, session) }
    }

    /// The row tag a part of a group's state is sealed under: the group's tag and the part's number.
    private nonisolated static func partTag(_ groupTag: [UInt8], _ number: Int) -> [UInt8] {
        var tag = groupTag
        withUnsafeBytes(of: UInt64(number).bigEndian) { tag += $0 }
        return tag
    }

    /// A group's name and settings, without opening its (possibly large) crypto state.
    nonisolated func groupInfo(_ db: Database, _ groupID: [UInt8]) throws -> GroupInfo? {
        let tag = store.tag(groupID)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT info FROM groups WHERE tag = ?", arguments: [Data(tag)]) else { return nil }
        return try store.openJSON(GroupInfo.self, sealed, table: "groups.info", tag: tag)
    }

    /// Every group's name and settings, without their crypto state.
    nonisolated func allGroupInfos(_ db: Database) throws -> [GroupInfo] {
        try Row.fetchAll(db, sql: "SELECT tag, info FROM groups").map { row in
            try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: Array(row["tag"] as Data))
        }
    }

    nonisolated func allGroups(_ db: Database) throws -> [(GroupInfo, GroupSession)] {
        try Row.fetchAll(db, sql: "SELECT tag, info, generation FROM groups").map { row in
            let tag = Array(row["tag"] as Data)
            let info = try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: tag)
            return (info, try groupSession(db, tag: tag, generation: row["generation"]))
        }
    }

    /// The group state of the row `tag`: the one kept for `generation`, else read and decoded (and
    /// kept, unless the row predates generation tokens or is not yet stored in parts).
    private nonisolated func groupSession(_ db: Database, tag: [UInt8], generation: Int64) throws -> GroupSession {
        if generation != 0, let cached = groupCache.withLock({ $0[Data(tag)] }), cached.generation == generation {
            return cached.session
        }
        let sealed = try Data.fetchOne(db, sql: "SELECT state FROM groups WHERE tag = ?", arguments: [Data(tag)]) ?? Data()
        let entries = try Row.fetchAll(db, sql: "SELECT seq, sealed FROM group_entries WHERE grp = ? ORDER BY seq",
                                       arguments: [Data(tag)]).map { row in
            try store.open(Array(row["sealed"] as Data), table: "group_entries", tag: Self.partTag(tag, row["seq"]))
        }
        let pages = try Row.fetchAll(db, sql: "SELECT page, sealed FROM group_seen WHERE grp = ? ORDER BY page",
                                     arguments: [Data(tag)]).map { row in
            try store.open(Array(row["sealed"] as Data), table: "group_seen", tag: Self.partTag(tag, row["page"]))
        }
        let session: GroupSession
        do {
            session = try GroupSession(core: try store.openSecret(sealed, table: "groups.state", tag: tag),
                                       entries: entries, seenPages: pages)
        } catch {
            throw ClientError.damagedStore(path: store.path, reason: "group state cannot be read: \(error)")
        }
        // A state kept for its token must be the one stored in parts: `saveGroup` writes only
        // what differs from it. A version 1 row (no entries beside it) is not kept.
        if generation != 0, !entries.isEmpty { groupCache.withLock { $0[Data(tag)] = (generation, session) } }
        return session
    }

    // MARK: Conversations

    nonisolated func conversationRecord(_ db: Database, _ conversation: Conversation) throws -> ConversationRecord {
        let tag = store.tag(conversation.key)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM conversations WHERE tag = ?", arguments: [Data(tag)]) else {
            return ConversationRecord()
        }
        return try store.openJSON(ConversationRecord.self, sealed, table: "conversations", tag: tag)
    }

    nonisolated func saveConversation(_ db: Database, _ conversation: Conversation, _ record: ConversationRecord) throws {
        let tag = store.tag(conversation.key)
        try db.execute(sql: "INSERT OR REPLACE INTO conversations (tag, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), store.sealJSON(record, table: "conversations", tag: tag)])
    }

    /// The disappearing-message timer of a conversation, in seconds (0: off).
    nonisolated func expiry(_ db: Database, _ conversation: Conversation) throws -> UInt32 {
        switch conversation {
        case .group(let id): try groupInfo(db, id)?.expirySeconds ?? 0
        case .direct: try conversationRecord(db, conversation).expirySeconds
        }
    }

    nonisolated func conversationName(_ db: Database, _ conversation: Conversation) throws -> String {
        switch conversation {
        case .group(let id): try groupInfo(db, id)?.name ?? "(unknown group)"
        case .direct(let peer): try displayName(db, peer)
        }
    }

    // MARK: Messages

    /// Stores a line of a conversation (sealed), with its expiry, and tells the live screen.
    @discardableResult
    nonisolated func addLine(
        _ db: Database, _ conversation: Conversation, _ kind: StoredMessage.Kind, _ text: String,
        sender: Ed25519.PublicKey? = nil, sentAt: UInt64? = nil, fileID: String? = nil, expirySeconds: UInt32? = nil,
        unread: Bool? = nil
    ) throws -> MessageView {
        let now = ClientStore.now()
        let outgoing = sender == identity.publicKey
        let message = StoredMessage(
            kind: kind, outgoing: outgoing, sender: sender.map { DID(publicKey: $0).description }, text: text,
            fileID: fileID, sentAt: sentAt ?? UInt64(now))
        let timer = try expirySeconds ?? expiry(db, conversation)
        let expiresAt: Int64? = timer > 0 ? now + Int64(timer) * 1000 : nil
        let tag = store.tag(conversation.key)
        try db.execute(sql: "INSERT INTO messages (conversation, sealed, at, unread, expires_at) VALUES (?, ?, ?, ?, ?)", arguments: [
            Data(tag), Data(), now, (unread ?? !outgoing) ? 1 : 0, expiresAt,
        ])
        let sequence = db.lastInsertedRowID
        // The row id is part of what the seal binds, so a line cannot be moved to another row.
        try db.execute(sql: "UPDATE messages SET sealed = ? WHERE seq = ?",
                       arguments: [store.sealJSON(message, table: "messages", tag: tag + Self.sequenceBytes(sequence)), sequence])
        let view = try messageView(db, sequence: sequence, conversation: conversation, message: message, sender: sender, expiresAt: expiresAt)
        pendingLines.withLock { $0.append(view) }
        return view
    }

    static func sequenceBytes(_ sequence: Int64) -> [UInt8] { withUnsafeBytes(of: sequence.bigEndian, Array.init) }

    nonisolated func loadLines(_ db: Database, sql: String, arguments: StatementArguments,
                               conversations: [[UInt8]: Conversation]) throws -> [MessageView] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
            let tag = Array(row["conversation"] as Data)
            guard let conversation = conversations[tag] else { return nil }
            let sequence: Int64 = row["seq"]
            let message = try store.openJSON(StoredMessage.self, row["sealed"], table: "messages", tag: tag + Self.sequenceBytes(sequence))
            return try messageView(db, sequence: sequence, conversation: conversation, message: message,
                                   sender: message.sender.flatMap { DID($0) }?.publicKey, expiresAt: row["expires_at"])
        }
    }

    /// A stored line with its conversation's name and its people, marked (Protocol.md §9.5).
    private nonisolated func messageView(_ db: Database, sequence: Int64, conversation: Conversation, message: StoredMessage,
                                         sender: Ed25519.PublicKey?, expiresAt: Int64?) throws -> MessageView {
        var peer: PersonView?
        if case .direct(let key) = conversation { peer = try person(db, key) }
        return MessageView(
            sequence: sequence, conversation: conversation, conversationName: try conversationName(db, conversation),
            senderName: try sender.map { try displayName(db, $0) }, author: try sender.map { try person(db, $0) }, peer: peer,
            message: message, expiresAt: expiresAt)
    }

    /// Every conversation the store knows, by tag.
    nonisolated func knownConversations(_ db: Database) throws -> [[UInt8]: Conversation] {
        var result: [[UInt8]: Conversation] = [:]
        for info in try allGroupInfos(db) {
            guard let id = Hex.decode(info.groupID) else { continue }
            let conversation = Conversation.group(id)
            result[store.tag(conversation.key)] = conversation
        }
        for (key, _) in try allContacts(db) {
            let conversation = Conversation.direct(key)
            result[store.tag(conversation.key)] = conversation
        }
        return result
    }
}
