import Foundation
import GRDB
import GRDBSQLite

/// The statements every message and acknowledgement runs, prepared once on the SQLite store's
/// writer connection and run through SQLite's C interface: binding, stepping and resetting them
/// this way costs a fraction of going through GRDB's statement arguments for each row, and these
/// statements run several times per message. Used only inside the pool's write closures (so
/// never from two threads at once); finalized before the pool closes.
final class SQLiteWriterStatements: @unchecked Sendable {
    private let connection: OpaquePointer
    let deviceByKey: OpaquePointer
    let insertDevice: OpaquePointer
    let insertMessage: OpaquePointer
    let insertPayload: OpaquePointer
    let insertDelivery: OpaquePointer
    let messageIDOfRow: OpaquePointer
    let allMessageIDs: OpaquePointer
    let acknowledge: OpaquePointer
    let deletePayload: OpaquePointer
    let addPending: OpaquePointer
    private var finalized = false

    init(_ db: Database) throws {
        guard let connection = db.sqliteConnection else { throw DatabaseError(message: "the writer connection is closed") }
        self.connection = connection
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            guard code == SQLITE_OK, let statement else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                    message: String(cString: sqlite3_errmsg(connection)), sql: sql)
            }
            return statement
        }
        deviceByKey = try prepare("SELECT id, pending, revoked FROM devices WHERE key = ?1")
        insertDevice = try prepare("INSERT INTO devices (key) VALUES (?1)")
        insertMessage = try prepare("""
            INSERT INTO messages (message_id, group_id, accepted_at, expires_at, remaining)
            VALUES (?1, ?2, ?3, ?4, ?5)
            """)
        insertPayload = try prepare("INSERT INTO payloads (message, data) VALUES (?1, ?2)")
        insertDelivery = try prepare("INSERT INTO deliveries (device, message) VALUES (?1, ?2)")
        messageIDOfRow = try prepare("SELECT message_id FROM messages WHERE id = ?1")
        allMessageIDs = try prepare("SELECT id, message_id FROM messages")
        // The delivery of a message (by row id) to a device, removed if that row holds the id
        // acknowledged (the row comes from `SQLiteMessageIDs` unconfirmed; this confirms it).
        acknowledge = try prepare("""
            DELETE FROM deliveries WHERE device = ?1 AND message = ?2
              AND EXISTS (SELECT 1 FROM messages WHERE id = ?2 AND message_id = ?3)
            """)
        // The payload goes with the message's last delivery.
        deletePayload = try prepare("""
            DELETE FROM payloads WHERE message = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message = ?1)
            """)
        addPending = try prepare("UPDATE devices SET pending = pending + ?1 WHERE id = ?2")
    }

    /// Finalizes every statement (before the connection closes); idempotent.
    func finalize() {
        guard !finalized else { return }
        finalized = true
        for statement in [deviceByKey, insertDevice, insertMessage, insertPayload, insertDelivery, messageIDOfRow,
                          allMessageIDs, acknowledge, deletePayload, addPending] {
            sqlite3_finalize(statement)
        }
    }

    // MARK: Binding and running

    /// Binds `values` (Data as a blob, nil as NULL, integers), runs the statement to its end or
    /// its first row, hands that row to `row`, and resets it.
    @discardableResult
    func run<T>(_ statement: OpaquePointer, _ values: [Value], row: (OpaquePointer) -> T) throws -> T? {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(values, to: statement)
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return row(statement)
        case SQLITE_DONE: return nil
        case let code: throw error(code, statement)
        }
    }

    /// Binds `values`, hands every row the statement returns to `row`, and resets it.
    func forEachRow(_ statement: OpaquePointer, _ values: [Value], row: (OpaquePointer) throws -> Void) throws {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(values, to: statement)
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW: try row(statement)
            case SQLITE_DONE: return
            case let code: throw error(code, statement)
            }
        }
    }

    /// The message id stored in a message row, nil when there is no such row.
    func messageID(ofRow row: Int64) throws -> Data? {
        try run(messageIDOfRow, [.integer(row)]) { statement -> Data in
            let length = Int(sqlite3_column_bytes(statement, 0))
            guard let bytes = sqlite3_column_blob(statement, 0) else { return Data() }
            return Data(bytes: bytes, count: length)
        }
    }

    /// Runs a statement that returns no row; the number of rows it changed.
    @discardableResult
    func execute(_ statement: OpaquePointer, _ values: [Value]) throws -> Int {
        try run(statement, values) { _ in () }
        return Int(sqlite3_changes(connection))
    }

    var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(connection) }

    private func bind(_ values: [Value], to statement: OpaquePointer) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .integer(let number): code = sqlite3_bind_int64(statement, index, number)
            case .null: code = sqlite3_bind_null(statement, index)
            case .blob(let data):
                code = data.withUnsafeBytes { bytes in
                    // SQLITE_TRANSIENT: SQLite copies the bytes before this returns.
                    sqlite3_bind_blob(statement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                      Int32(bytes.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                }
            }
            guard code == SQLITE_OK else { throw error(code, statement) }
        }
    }

    private func error(_ code: Int32, _ statement: OpaquePointer) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)),
                      sql: sqlite3_sql(statement).map { String(cString: $0) })
    }

    enum Value {
        case integer(Int64)
        case blob(Data)
        case null

        static func optionalBlob(_ data: Data?) -> Value { data.map { .blob($0) } ?? .null }
    }
}
