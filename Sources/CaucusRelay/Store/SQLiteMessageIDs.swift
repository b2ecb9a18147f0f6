import Foundation
import GRDBSQLite

/// Which message row holds each remembered message id, kept in memory by the SQLite store's
/// writer instead of a unique index in the file.
///
/// Message ids are random and remembered until their message expires (Protocol.md §7.4), so an
/// index over them grows for the whole retention time and every new id lands on a different,
/// random page of it: each message dirtied one 4 KiB index page of its own, which every synced
/// commit wrote to the log and every checkpoint wrote again (in a simulation of the relay's
/// statements with 400,000 ids remembered, 5 of the 8 KB the log grew by per message).
///
/// Here the first 8 bytes of an id map to its row; a hit is confirmed by reading the row's whole
/// id by row id, so a sender that picks an id sharing its first 8 bytes with another gets nothing
/// from it. Such ids go to a second table keyed by the whole id.
///
/// Built from the messages table when the store opens. Used only inside the store's write
/// closures, which the pool runs one at a time. Every answer is confirmed against the row, so an
/// entry left by a transaction that did not commit (its row is gone, or holds another id now) is
/// never taken for a remembered id.
final class SQLiteMessageIDs: @unchecked Sendable {
    private var byPrefix: [UInt64: Int64] = [:]
    private var others: [Data: Int64] = [:]
    private let statements: SQLiteWriterStatements

    /// Reads every message row's id. Runs on the writer connection before any commit.
    init(statements: SQLiteWriterStatements) throws {
        self.statements = statements
        try statements.forEachRow(statements.allMessageIDs, []) { row in
            let rowID = sqlite3_column_int64(row, 0)
            let length = Int(sqlite3_column_bytes(row, 1))
            guard let bytes = sqlite3_column_blob(row, 1) else { return }
            self.insert(Data(bytes: bytes, count: length), row: rowID)
        }
    }

    /// The message row holding `id`, if it is remembered.
    func row(of id: Data) throws -> Int64? {
        if let row = byPrefix[Self.prefix(id)], try statements.messageID(ofRow: row) == id { return row }
        if let row = others[id], try statements.messageID(ofRow: row) == id { return row }
        return nil
    }

    /// The rows that may hold `id`, not confirmed against them: for a statement that confirms
    /// the id itself (an acknowledgement), saving a read of the row.
    func unconfirmedRows(of id: Data) -> (Int64?, Int64?) {
        (byPrefix[Self.prefix(id)], others[id])
    }

    /// Forgets `id` where it is remembered as `row`.
    func remove(_ id: Data, row: Int64) {
        let prefix = Self.prefix(id)
        if byPrefix[prefix] == row { byPrefix[prefix] = nil }
        if others[id] == row { others[id] = nil }
    }

    /// Remembers a message row's id (the caller has checked that it is not remembered yet).
    func insert(_ id: Data, row: Int64) {
        let prefix = Self.prefix(id)
        if byPrefix[prefix] == nil {
            byPrefix[prefix] = row
        } else {
            others[id] = row
        }
    }

    /// The first 8 bytes of an id (fewer when the id is shorter), as one number.
    private static func prefix(_ id: Data) -> UInt64 {
        var value: UInt64 = 0
        for byte in id.prefix(8) { value = value << 8 | UInt64(byte) }
        return value
    }
}
