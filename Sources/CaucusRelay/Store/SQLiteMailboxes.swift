import Foundation
import GRDB

/// The mailbox counters of the devices one SQLite commit touches. Each device's row is read once
/// per commit and its `pending` count written once, when the commit's messages and
/// acknowledgements are done, however many of them concern it; in between, the counts here are
/// the ones the mailbox limit is checked against.
struct SQLiteMailboxes {
    private struct Mailbox {
        let id: Int64
        var pending: Int
        /// How far `pending` moved in this commit.
        var change = 0
    }

    private var mailboxes: [Data: Mailbox] = [:]

    /// A device's row id and mailbox count; a key seen for the first time gets a row with count 0.
    mutating func device(_ key: Data, db: Database) throws -> (id: Int64, pending: Int) {
        if let mailbox = mailboxes[key] { return (mailbox.id, mailbox.pending) }
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, pending FROM devices WHERE key = ?"), arguments: [key]) {
            let mailbox = Mailbox(id: row[0], pending: row[1])
            mailboxes[key] = mailbox
            return (mailbox.id, mailbox.pending)
        }
        try db.cachedStatement(sql: "INSERT INTO devices (key) VALUES (?)").execute(arguments: [key])
        let id = db.lastInsertedRowID
        mailboxes[key] = Mailbox(id: id, pending: 0)
        return (id, 0)
    }

    /// A device's row id, or nil when the key has no row (nothing is inserted).
    mutating func existingDevice(_ key: Data, db: Database) throws -> Int64? {
        if let mailbox = mailboxes[key] { return mailbox.id }
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, pending FROM devices WHERE key = ?"), arguments: [key])
        else { return nil }
        let mailbox = Mailbox(id: row[0], pending: row[1])
        mailboxes[key] = mailbox
        return mailbox.id
    }

    /// The mailbox count of a device read by a query of its own (a group's members): the count
    /// this commit already moved it to when it has touched the device before.
    mutating func pending(id: Int64, key: Data, stored: Int) -> Int {
        if let mailbox = mailboxes[key] { return mailbox.pending }
        mailboxes[key] = Mailbox(id: id, pending: stored)
        return stored
    }

    /// Moves a device's mailbox count (only for keys this commit has looked up).
    mutating func add(_ delta: Int, to key: Data) {
        mailboxes[key]?.pending += delta
        mailboxes[key]?.change += delta
    }

    /// Writes the counts that moved, one statement per device.
    func save(db: Database) throws {
        let update = try db.cachedStatement(sql: "UPDATE devices SET pending = pending + ? WHERE id = ?")
        for mailbox in mailboxes.values where mailbox.change != 0 {
            try update.execute(arguments: [mailbox.change, mailbox.id])
        }
    }
}
