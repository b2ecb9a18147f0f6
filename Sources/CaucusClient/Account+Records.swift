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
    /// The state goes in parts (Protocol.md §8.5, version 3): when the state kept for the row's
    /// current token is at hand, only what differs from it is written (the core if it changed,
    /// the entries after its chain, the changed sender chains and pages of remembered hashes);
    /// otherwise every part is. The group's row (name, routing key, tip, token) always is.
    nonisolated func saveGroup(_ db: Database, _ info: GroupInfo, _ session: GroupSession, routing: Ed25519.PrivateKey?) throws {
        let tag = store.tag(session.groupID), key = Data(tag)
        let stored = try Int64.fetchOne(db, sql: "SELECT generation FROM groups WHERE tag = ?", arguments: [key])
        let previous = stored.flatMap { generation in
            groupCache.withLock { cache in cache[key].flatMap { $0.generation == generation ? $0.session : nil } }
        }
        let generation = Int64.random(in: 1...Int64.max)
        // An upsert keeps the row's id, so the table's index on `tag` is not rewritten. `state` is
        // empty: the core is in `group_cores`.
        try db.execute(sql: """
            INSERT INTO groups (tag, info, state, routing, generation, tip) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (tag) DO UPDATE SET info = excluded.info, state = excluded.state, routing = excluded.routing,
                                            generation = excluded.generation, tip = excluded.tip
            """, arguments: [
            key,
            store.sealJSON(info, table: "groups.info", tag: tag),
            Data(),
            routing.map { store.sealSecret($0.seed, table: "groups.routing", tag: tag) },
            generation,
            Data(store.seal(session.serializedTip(), table: "groups.tip", tag: tag)),
        ])
        let firstEntry: Int, pages: [Int], chains: [GroupSession.ChainID], writeCore: Bool
        if let previous, session.chainExtends(previous) {
            firstEntry = previous.entryCount
            pages = session.seenPagesChanged(since: previous)
            chains = session.chainsChanged(since: previous)
            writeCore = session.coreChanged(since: previous)
            // A state that starts again (a member welcomed back) remembers fewer hashes.
            if session.seenPageCount < previous.seenPageCount {
                try db.execute(sql: "DELETE FROM group_seen WHERE grp = ? AND page >= ?", arguments: [key, session.seenPageCount])
            }
        } else {
            for table in ["group_entries", "group_seen", "group_chains"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE grp = ?", arguments: [key])
            }
            firstEntry = 0
            pages = Array(0..<session.seenPageCount)
            chains = session.chainIDs
            writeCore = true
        }
        if writeCore {
            try db.execute(sql: """
                INSERT INTO group_cores (grp, sealed) VALUES (?, ?) ON CONFLICT (grp) DO UPDATE SET sealed = excluded.sealed
                """, arguments: [key, store.sealSecret(session.serializedCore(), table: "group_cores", tag: tag)])
            // The chains of epochs the state no longer holds go with them.
            let held = session.epochNumbers.map { Int64($0) }
            try db.execute(sql: "DELETE FROM group_chains WHERE grp = ? AND epoch NOT IN (\(held.map { _ in "?" }.joined(separator: ", ")))",
                           arguments: StatementArguments([key] + held))
        }
        let entry = try db.cachedStatement(sql: "INSERT OR REPLACE INTO group_entries (grp, seq, sealed) VALUES (?, ?, ?)")
        for index in firstEntry..<session.entryCount {
            try entry.execute(arguments: [key, index, Data(store.seal(session.entry(at: index), table: "group_entries",
                                                                      tag: Self.partTag(tag, index)))])
        }
        let page = try db.cachedStatement(sql: "INSERT OR REPLACE INTO group_seen (grp, page, sealed) VALUES (?, ?, ?)")
        for number in pages {
            try page.execute(arguments: [key, number, Data(store.seal(session.seenPage(number), table: "group_seen",
                                                                    tag: Self.partTag(tag, number)))])
        }
        let chain = try db.cachedStatement(sql: """
            INSERT INTO group_chains (grp, epoch, member, sealed) VALUES (?, ?, ?, ?)
            ON CONFLICT (grp, epoch, member) DO UPDATE SET sealed = excluded.sealed
            """)
        for id in chains {
            // The member by a tag, never its key in clear (the part holds the key).
            let member = store.tag(id.member.rawRepresentation)
            try chain.execute(arguments: [key, Int64(id.epoch), Data(member),
                                          store.sealSecret(session.chainPart(id), table: "group_chains",
                                                           tag: Self.chainTag(tag, epoch: id.epoch, member: member))])
        }
        groupCache.withLock { $0[key] = (generation, session) }
    }

    /// The row tag a sender chain is sealed under: the group's tag, the epoch and the member's tag.
    private nonisolated static func chainTag(_ groupTag: [UInt8], epoch: UInt64, member: [UInt8]) -> [UInt8] {
        partTag(groupTag, Int(epoch)) + member
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
    /// kept, if it is stored in parts as this client stores them: version 3).
    private nonisolated func groupSession(_ db: Database, tag: [UInt8], generation: Int64) throws -> GroupSession {
        let key = Data(tag)
        if generation != 0, let cached = groupCache.withLock({ $0[key] }), cached.generation == generation {
            return cached.session
        }
        let row = try Row.fetchOne(db, sql: "SELECT state, tip FROM groups WHERE tag = ?", arguments: [key])
        let tipSealed: Data? = row?["tip"]
        let entries = try Row.fetchAll(db, sql: "SELECT seq, sealed FROM group_entries WHERE grp = ? ORDER BY seq",
                                       arguments: [key]).map { row in
            try store.open(Array(row["sealed"] as Data), table: "group_entries", tag: Self.partTag(tag, row["seq"]))
        }
        let pages = try Row.fetchAll(db, sql: "SELECT page, sealed FROM group_seen WHERE grp = ? ORDER BY page",
                                     arguments: [key]).map { row in
            try store.open(Array(row["sealed"] as Data), table: "group_seen", tag: Self.partTag(tag, row["page"]))
        }
        let core: SecureBytes, chains: [(GroupSession.ChainID, SecureBytes)], tip: [UInt8]?
        if let tipSealed {
            let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM group_cores WHERE grp = ?", arguments: [key]) ?? Data()
            core = try store.openSecret(sealed, table: "group_cores", tag: tag)
            chains = try Row.fetchAll(db, sql: "SELECT epoch, member, sealed FROM group_chains WHERE grp = ?", arguments: [key]).map { row in
                let epoch = UInt64(row["epoch"] as Int64), memberTag = Array(row["member"] as Data)
                let part = try store.openSecret(row["sealed"], table: "group_chains",
                                                tag: Self.chainTag(tag, epoch: epoch, member: memberTag))
                // The part begins with the member's key, which must be the one the row is under.
                let member = part.withUnsafeBytes { bytes in
                    bytes.count >= 32 ? try? Ed25519.PublicKey(rawRepresentation: Array(bytes.prefix(32))) : nil
                }
                guard let member, store.tag(member.rawRepresentation) == memberTag else {
                    throw ClientError.damagedStore(path: store.path, reason: "a group's sender chain is not under its member")
                }
                return (GroupSession.ChainID(epoch: epoch, member: member), part)
            }
            tip = try store.open(Array(tipSealed), table: "groups.tip", tag: tag)
        } else {
            // Version 1 or 2, as an older client left it: never kept, so that the next change
            // stores every part anew.
            core = try store.openSecret(row?["state"] ?? Data(), table: "groups.state", tag: tag)
            chains = []
            tip = nil
        }
        let session: GroupSession
        do {
            session = try GroupSession(core: core, entries: entries, seenPages: pages, chains: chains, tip: tip)
        } catch {
            throw ClientError.damagedStore(path: store.path, reason: "group state cannot be read: \(error)")
        }
        // A state kept for its token must be the one stored in parts: `saveGroup` writes only
        // what differs from it.
        if generation != 0, tipSealed != nil { groupCache.withLock { $0[key] = (generation, session) } }
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
