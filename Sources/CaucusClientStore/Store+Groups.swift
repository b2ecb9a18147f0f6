import CaucusCrypto
import Foundation
import GRDB

/// Groups: their rows and states in parts (Protocol.md §8.5), invites, and epoch keys held or kept.
extension StoreTransaction {
    /// A group's settings, state and routing key. The state is decoded once and kept while the row's
    /// generation token stays the one it was read or written with: a state of 10,000 members takes
    /// tens of milliseconds to decode, and every group message needs it.
    public func groupRow(_ groupID: GroupID) throws -> GroupRow? {
        let tag = store.tag(groupID.bytes)
        guard let row = try Row.fetchOne(db, sql: "SELECT info, routing, generation FROM groups WHERE tag = ?", arguments: [Data(tag)])
        else { return nil }
        let info = try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: tag)
        let session = try groupSession(tag: tag, generation: row["generation"])
        var routing: Ed25519.PrivateKey?
        if let sealed = row["routing"] as Data? {
            routing = try Ed25519.PrivateKey(seed: try store.openSecret(sealed, table: "groups.routing", tag: tag))
        }
        return GroupRow(info: info, session: session, routing: routing)
    }

    /// Stores a group under a new random generation token, and keeps `session` as that token's
    /// decoded state. A token is never reused, so a transaction that rolls back leaves a cached
    /// state that no row matches.
    ///
    /// The state goes in parts (Protocol.md §8.5, version 4): when the state kept for the row's
    /// current token is at hand, only what differs from it is written (the core if it changed,
    /// the entries after its chain, the changed sender chains and pages of remembered hashes);
    /// otherwise every part is. The group's row (name, routing key, tip, token) always is.
    public func saveGroup(_ info: GroupInfo, _ session: GroupSession, routing: Ed25519.PrivateKey?) throws {
        let tag = store.tag(session.groupID), key = Data(tag)
        let stored = try Int64.fetchOne(db, sql: "SELECT generation FROM groups WHERE tag = ?", arguments: [key])
        let previous = stored.flatMap { generation in
            store.groupCache.withLock { cache in cache[key].flatMap { $0.generation == generation ? $0.session : nil } }
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
            // The sending device by a tag, never its key in clear (the part holds the key).
            let member = store.tag(id.device.rawRepresentation)
            try chain.execute(arguments: [key, Int64(id.epoch), Data(member),
                                          store.sealSecret(session.chainPart(id), table: "group_chains",
                                                           tag: Self.chainTag(tag, epoch: id.epoch, member: member))])
        }
        store.groupCache.withLock { $0[key] = (generation, session) }
    }

    /// The row tag a sender chain is sealed under: the group's tag, the epoch and the member's tag.
    private static func chainTag(_ groupTag: [UInt8], epoch: UInt64, member: [UInt8]) -> [UInt8] {
        partTag(groupTag, Int(epoch)) + member
    }

    /// The row tag a part of a group's state is sealed under: the group's tag and the part's number.
    private static func partTag(_ groupTag: [UInt8], _ number: Int) -> [UInt8] {
        var tag = groupTag
        withUnsafeBytes(of: UInt64(number).bigEndian) { tag += $0 }
        return tag
    }

    /// A group's name and settings, without opening its (possibly large) crypto state.
    public func groupInfo(_ groupID: GroupID) throws -> GroupInfo? {
        let tag = store.tag(groupID.bytes)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT info FROM groups WHERE tag = ?", arguments: [Data(tag)]) else { return nil }
        return try store.openJSON(GroupInfo.self, sealed, table: "groups.info", tag: tag)
    }

    /// Every group's name and settings, without their crypto state.
    public func allGroupInfos() throws -> [GroupInfo] {
        try Row.fetchAll(db, sql: "SELECT tag, info FROM groups").map { row in
            try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: Array(row["tag"] as Data))
        }
    }

    public func allGroups() throws -> [(GroupInfo, GroupSession)] {
        try Row.fetchAll(db, sql: "SELECT tag, info, generation FROM groups").map { row in
            let tag = Array(row["tag"] as Data)
            let info = try store.openJSON(GroupInfo.self, row["info"], table: "groups.info", tag: tag)
            return (info, try groupSession(tag: tag, generation: row["generation"]))
        }
    }

    /// The group state of the row `tag`: the one kept for `generation`, else read and decoded (and
    /// kept, if it is stored in parts as this client stores them: version 4, or 3 before devices).
    private func groupSession(tag: [UInt8], generation: Int64) throws -> GroupSession {
        let key = Data(tag)
        if generation != 0, let cached = store.groupCache.withLock({ $0[key] }), cached.generation == generation {
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
                    throw damaged( "a group's sender chain is not under its member")
                }
                return (GroupSession.ChainID(epoch: epoch, device: member), part)
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
            throw damaged( "group state cannot be read: \(error)")
        }
        // A state kept for its token must be the one stored in parts: `saveGroup` writes only
        // what differs from it.
        if generation != 0, tipSealed != nil { store.groupCache.withLock { $0[key] = (generation, session) } }
        return session
    }

    /// The size of a group's stored state (sealed, all parts), in bytes.
    public func storedGroupStateBytes(_ groupID: GroupID) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT (SELECT COALESCE(SUM(length(state) + COALESCE(length(tip), 0)), 0) FROM groups WHERE tag = ?1)
                 + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_cores WHERE grp = ?1)
                 + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_chains WHERE grp = ?1)
                 + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_entries WHERE grp = ?1)
                 + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_seen WHERE grp = ?1)
            """, arguments: [Data(store.tag(groupID.bytes))]) ?? 0
    }

    // MARK: Invites

    public func addInvite(_ id: [UInt8], _ record: InviteRecord, expiresAt: Int64) throws {
        try db.execute(sql: "INSERT INTO invites (id, sealed, expires_at) VALUES (?, ?, ?)", arguments: [
            Data(id), store.sealJSON(record, table: "invites", tag: id), expiresAt,
        ])
    }

    /// Every invite, oldest first.
    public func invites() throws -> [StoredInvite] {
        try Row.fetchAll(db, sql: "SELECT id, sealed, expires_at, used FROM invites ORDER BY rowid").map(storedInvite)
    }

    public func invite(_ id: [UInt8]) throws -> StoredInvite? {
        try Row.fetchOne(db, sql: "SELECT id, sealed, expires_at, used FROM invites WHERE id = ?", arguments: [Data(id)]).map(storedInvite)
    }

    private func storedInvite(_ row: Row) throws -> StoredInvite {
        let id = Array(row["id"] as Data)
        return StoredInvite(id: id, record: try store.openJSON(InviteRecord.self, row["sealed"], table: "invites", tag: id),
                            expiresAt: row["expires_at"], used: (row["used"] as Int64) != 0)
    }

    /// The ids of the invites not used yet.
    public func unusedInviteIDs() throws -> [[UInt8]] {
        try Data.fetchAll(db, sql: "SELECT id FROM invites WHERE used = 0").map { Array($0) }
    }

    public func deleteInvite(_ id: [UInt8]) throws {
        try db.execute(sql: "DELETE FROM invites WHERE id = ?", arguments: [Data(id)])
    }

    /// Marks an invite used, with its record naming who used it.
    public func markInviteUsed(_ id: [UInt8], _ record: InviteRecord) throws {
        try db.execute(sql: "UPDATE invites SET used = 1, sealed = ? WHERE id = ?",
                       arguments: [store.sealJSON(record, table: "invites", tag: id), Data(id)])
    }

    // MARK: Epoch keys

    /// Holds an epoch key whose membership change has not arrived, with the admin who sent it.
    public func holdEarlyEpochKey(_ key: GroupEpochKey, from author: Ed25519.PublicKey, at now: Int64) throws {
        let tag = Self.epochKeyTag(store, key.groupID, key.epoch)
        try db.execute(sql: """
            INSERT OR REPLACE INTO early_epoch_keys (tag, group_tag, author, sealed, at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [
                Data(tag), Data(store.tag(key.groupID)),
                Data(store.seal(author.rawRepresentation, table: "early_epoch_keys.author", tag: tag)),
                store.sealSecret(key.serialized(), table: "early_epoch_keys", tag: tag), now,
            ])
    }

    /// The epoch keys held for a group, oldest first.
    public func earlyEpochKeys(_ groupID: GroupID) throws -> [HeldEpochKey] {
        try Row.fetchAll(db, sql: "SELECT tag, author, sealed FROM early_epoch_keys WHERE group_tag = ? ORDER BY at",
                         arguments: [Data(store.tag(groupID.bytes))]).map { row in
            let tag = Array(row["tag"] as Data)
            let key = try GroupEpochKey(serialized: try store.openSecret(row["sealed"], table: "early_epoch_keys", tag: tag))
            let author = try Ed25519.PublicKey(rawRepresentation: try store.open(Array(row["author"] as Data),
                                                                                  table: "early_epoch_keys.author", tag: tag))
            return HeldEpochKey(key: key, author: author, tag: tag)
        }
    }

    public func deleteEarlyEpochKey(_ held: HeldEpochKey) throws {
        try db.execute(sql: "DELETE FROM early_epoch_keys WHERE tag = ?", arguments: [Data(held.tag)])
    }

    /// Whether an epoch key is held for the group.
    public func holdsEarlyEpochKey(_ groupID: GroupID) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT tag FROM early_epoch_keys WHERE group_tag = ? LIMIT 1", arguments: [Data(store.tag(groupID.bytes))]) != nil
    }

    /// Keeps the epoch key of a removal this admin made, and forgets those kept before `keptSince`.
    public func keepEpochKey(_ key: GroupEpochKey, at now: Int64, forgettingBefore keptSince: Int64) throws {
        let tag = Self.epochKeyTag(store, key.groupID, key.epoch)
        try db.execute(sql: "DELETE FROM kept_epoch_keys WHERE at < ?", arguments: [keptSince])
        try db.execute(sql: "INSERT OR REPLACE INTO kept_epoch_keys (tag, sealed, at) VALUES (?, ?, ?)", arguments: [
            Data(tag), store.sealSecret(key.serialized(), table: "kept_epoch_keys", tag: tag), now,
        ])
    }

    /// A kept epoch key, if kept since `keptSince` or later.
    public func keptEpochKey(_ groupID: GroupID, epoch: UInt64, keptSince: Int64) throws -> GroupEpochKey? {
        let tag = Self.epochKeyTag(store, groupID.bytes, epoch)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM kept_epoch_keys WHERE tag = ? AND at >= ?",
                                             arguments: [Data(tag), keptSince])
        else { return nil }
        return try GroupEpochKey(serialized: try store.openSecret(sealed, table: "kept_epoch_keys", tag: tag))
    }

    private static func epochKeyTag(_ store: ClientStore, _ groupID: [UInt8], _ epoch: UInt64) -> [UInt8] {
        store.tag(groupID + withUnsafeBytes(of: epoch.bigEndian, Array.init))
    }
}
