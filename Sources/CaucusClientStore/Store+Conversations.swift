import CaucusCrypto
import Foundation
import GRDB

/// Contacts, conversation settings, the lines of conversations and file offers.
extension StoreTransaction {
    // MARK: Contacts

    public func contact(_ key: Ed25519.PublicKey) throws -> ContactRecord? {
        let tag = store.tag(key.rawRepresentation)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM contacts WHERE tag = ?", arguments: [Data(tag)]) else { return nil }
        return try store.openJSON(ContactRecord.self, sealed, table: "contacts", tag: tag)
    }

    public func saveContact(_ key: Ed25519.PublicKey, _ record: ContactRecord) throws {
        let tag = store.tag(key.rawRepresentation)
        try db.execute(sql: "INSERT OR REPLACE INTO contacts (tag, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), store.sealJSON(record, table: "contacts", tag: tag)])
    }

    /// Every contact whose record names a DID.
    public func allContacts() throws -> [(Ed25519.PublicKey, ContactRecord)] {
        try Row.fetchAll(db, sql: "SELECT tag, sealed FROM contacts").compactMap { row in
            let record = try store.openJSON(ContactRecord.self, row["sealed"], table: "contacts", tag: Array(row["tag"] as Data))
            guard let did = DID(record.did) else { return nil }
            return (did.publicKey, record)
        }
    }

    // MARK: Conversations

    /// A one-to-one conversation's settings (defaults when none were saved).
    public func conversationRecord(_ conversation: Conversation) throws -> ConversationRecord {
        let tag = store.tag(conversation)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM conversations WHERE tag = ?", arguments: [Data(tag)]) else {
            return ConversationRecord()
        }
        return try store.openJSON(ConversationRecord.self, sealed, table: "conversations", tag: tag)
    }

    public func saveConversation(_ conversation: Conversation, _ record: ConversationRecord) throws {
        let tag = store.tag(conversation)
        try db.execute(sql: "INSERT OR REPLACE INTO conversations (tag, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), store.sealJSON(record, table: "conversations", tag: tag)])
    }

    // MARK: Lines

    /// Appends a line to a conversation; returns its sequence number.
    public func appendLine(_ message: StoredMessage, to conversation: Conversation, at now: Int64, unread: Bool,
                           expiresAt: Int64?) throws -> Int64 {
        let tag = store.tag(conversation)
        try db.execute(sql: "INSERT INTO messages (conversation, sealed, at, unread, expires_at) VALUES (?, ?, ?, ?, ?)", arguments: [
            Data(tag), Data(), now, unread ? 1 : 0, expiresAt,
        ])
        let sequence = db.lastInsertedRowID
        // The row id is part of what the seal binds, so a line cannot be moved to another row.
        try db.execute(sql: "UPDATE messages SET sealed = ? WHERE seq = ?",
                       arguments: [store.sealJSON(message, table: "messages", tag: Self.lineTag(tag, sequence)), sequence])
        return sequence
    }

    /// Every unread line, oldest first.
    public func unreadLines() throws -> [StoredLine] {
        try lines(sql: "SELECT seq, conversation, sealed, expires_at FROM messages WHERE unread = 1 ORDER BY seq", arguments: [])
    }

    /// Marks every line read.
    public func markAllRead() throws {
        try db.execute(sql: "UPDATE messages SET unread = 0 WHERE unread = 1")
    }

    /// The last `limit` lines of a conversation, oldest first.
    public func lastLines(of conversation: Conversation, limit: Int) throws -> [StoredLine] {
        try lines(sql: """
            SELECT * FROM (SELECT seq, conversation, sealed, expires_at FROM messages WHERE conversation = ?
                           ORDER BY seq DESC LIMIT ?) ORDER BY seq
            """, arguments: [Data(store.tag(conversation)), limit])
    }

    /// Marks a conversation's lines read.
    public func markRead(_ conversation: Conversation) throws {
        try db.execute(sql: "UPDATE messages SET unread = 0 WHERE conversation = ? AND unread = 1", arguments: [Data(store.tag(conversation))])
    }

    private func lines(sql: String, arguments: StatementArguments) throws -> [StoredLine] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            let tag = Array(row["conversation"] as Data)
            let sequence: Int64 = row["seq"]
            let message = try store.openJSON(StoredMessage.self, row["sealed"], table: "messages", tag: Self.lineTag(tag, sequence))
            return StoredLine(sequence: sequence, conversationTag: tag, message: message, expiresAt: row["expires_at"])
        }
    }

    /// The row tag a line is sealed under: its conversation's tag and its sequence number.
    static func lineTag(_ conversationTag: [UInt8], _ sequence: Int64) -> [UInt8] {
        conversationTag + withUnsafeBytes(of: sequence.bigEndian, Array.init)
    }

    // MARK: Files

    /// Keeps a file offer (`contents`, sealed) under its short id, in a conversation.
    public func saveFile(_ id: String, contents: [UInt8], in conversation: Conversation, expiresAt: Int64?) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO files (short, conversation, sealed, expires_at) VALUES (?, ?, ?, ?)", arguments: [
            id, Data(store.tag(conversation)), Data(store.seal(contents, table: "files", tag: Array(id.utf8))), expiresAt,
        ])
    }

    /// The file offer kept under a short id.
    public func file(_ id: String) throws -> [UInt8]? {
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM files WHERE short = ?", arguments: [id]) else { return nil }
        return try store.open(Array(sealed), table: "files", tag: Array(id.utf8))
    }
}
