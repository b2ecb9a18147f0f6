import Foundation
import GRDB
import GRDBSQLite

/// The mailbox counters of the devices one SQLite commit touches. Each device's row is read once
/// per commit and its `pending` count written once, when the commit's messages and
/// acknowledgements are done, however many of them concern it; in between, the counts here are
/// the ones the mailbox limit is checked against.
struct SQLiteMailboxes {
    private struct Mailbox {
        let id: Int64
        var pending: Int
        /// Revoked by its owner's device chain: it gets nothing more.
        var revoked = false
        /// How far `pending` moved in this commit.
        var change = 0
    }

    private var mailboxes: [Data: Mailbox] = [:]
    private let statements: SQLiteWriterStatements

    init(_ statements: SQLiteWriterStatements) {
        self.statements = statements
    }

    /// A device's row id, mailbox count and whether it is revoked; a key seen for the first time
    /// gets a row with count 0.
    mutating func device(_ key: Data) throws -> (id: Int64, pending: Int, revoked: Bool) {
        if let mailbox = try lookUp(key) { return (mailbox.id, mailbox.pending, mailbox.revoked) }
        try statements.execute(statements.insertDevice, [.blob(key)])
        let id = statements.lastInsertedRowID
        mailboxes[key] = Mailbox(id: id, pending: 0)
        return (id, 0, false)
    }

    /// A device's row id, or nil when the key has no row (nothing is inserted).
    mutating func existingDevice(_ key: Data) throws -> Int64? {
        try lookUp(key)?.id
    }

    private mutating func lookUp(_ key: Data) throws -> Mailbox? {
        if let mailbox = mailboxes[key] { return mailbox }
        guard let mailbox = try statements.run(statements.deviceByKey, [.blob(key)], row: { row in
            Mailbox(id: sqlite3_column_int64(row, 0), pending: Int(sqlite3_column_int64(row, 1)), revoked: sqlite3_column_int64(row, 2) != 0)
        }) else { return nil }
        mailboxes[key] = mailbox
        return mailbox
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
    func save() throws {
        for mailbox in mailboxes.values where mailbox.change != 0 {
            try statements.execute(statements.addPending, [.integer(Int64(mailbox.change)), .integer(mailbox.id)])
        }
    }
}
