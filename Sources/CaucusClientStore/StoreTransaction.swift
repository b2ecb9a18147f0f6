import CaucusCrypto
import Foundation
import GRDB

/// One transaction on the store (`ClientStore.write` or `read`), through which every record is
/// read and written: the only place the store's tables, statements and seals are known.
public struct StoreTransaction {
    let db: Database
    public let store: ClientStore

    /// A store error naming a record that does not read as what it should be.
    public func damaged(_ reason: String) -> StoreError { .damaged(path: store.path, reason: reason) }

    // MARK: Meta values (sealed)

    public func meta(_ key: String) throws -> [UInt8]? {
        guard let sealed = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) else { return nil }
        return try store.open(Array(sealed), table: "meta", tag: Array(key.utf8))
    }

    public func setMeta(_ key: String, _ value: [UInt8]) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       arguments: [key, Data(store.seal(value, table: "meta", tag: Array(key.utf8)))])
    }

    /// Removes a value; true when there was one.
    @discardableResult
    public func deleteMeta(_ key: String) throws -> Bool {
        try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key])
        return db.changesCount > 0
    }

    /// The keys of the values whose key starts with `prefix`.
    public func metaKeys(prefix: String) throws -> [String] {
        let pattern = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        return try String.fetchAll(db, sql: "SELECT key FROM meta WHERE key LIKE ? ESCAPE '\\'", arguments: [pattern])
    }

    // MARK: Relays

    /// The relays, first one preferred.
    public func relays() throws -> [String] {
        try String.fetchAll(db, sql: "SELECT url FROM relays ORDER BY position")
    }

    /// Adds a relay last (kept where it is if already there), with the CA file to trust for it
    /// and the SOCKS5 proxy to reach it through (each kept as it was when nil).
    public func addRelay(_ url: String, caFile: String?, proxy: String? = nil) throws {
        let position = (try Int.fetchOne(db, sql: "SELECT MAX(position) FROM relays") ?? -1) + 1
        try db.execute(sql: "INSERT OR IGNORE INTO relays (url, position) VALUES (?, ?)", arguments: [url, position])
        if let caFile { try db.execute(sql: "UPDATE relays SET ca_file = ? WHERE url = ?", arguments: [caFile, url]) }
        if let proxy { try db.execute(sql: "UPDATE relays SET proxy = ? WHERE url = ?", arguments: [proxy, url]) }
    }

    /// The SOCKS5 proxy kept with a relay (`socks5h://HOST:PORT`).
    public func proxy(of url: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT proxy FROM relays WHERE url = ?", arguments: [url])
    }

    /// Removes a relay; false when there was none.
    public func removeRelay(_ url: String) throws -> Bool {
        try db.execute(sql: "DELETE FROM relays WHERE url = ?", arguments: [url])
        return db.changesCount > 0
    }

    /// Makes a relay the first; false when there is no such relay.
    public func preferRelay(_ url: String) throws -> Bool {
        let first = (try Int.fetchOne(db, sql: "SELECT MIN(position) FROM relays") ?? 0) - 1
        try db.execute(sql: "UPDATE relays SET position = ? WHERE url = ?", arguments: [first, url])
        return db.changesCount > 0
    }

    /// The CA certificate file kept with a relay.
    public func caFile(of url: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT ca_file FROM relays WHERE url = ?", arguments: [url])
    }

    // MARK: Expiry

    /// Whether `prune` would delete anything (so that opening a store need not write).
    public func pruneDue(now: Int64, idsBefore: Int64, startsBefore: Int64) throws -> Bool {
        try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM messages WHERE expires_at <= ?1)
                OR EXISTS (SELECT 1 FROM files WHERE expires_at <= ?1)
                OR EXISTS (SELECT 1 FROM outbox WHERE expires_at <= ?1)
                OR EXISTS (SELECT 1 FROM processed WHERE at < ?2)
                OR EXISTS (SELECT 1 FROM unopened WHERE at < ?2)
                OR EXISTS (SELECT 1 FROM unconfirmed_starts WHERE at < ?3)
            """, arguments: [now, idsBefore, startsBefore]) ?? false
    }

    /// Deletes messages, files and outbox entries whose timer ran out at `now`, ids of handled
    /// and unopened deliveries recorded before `idsBefore`, and session starts kept since before
    /// `startsBefore` (Unix milliseconds).
    public func prune(now: Int64, idsBefore: Int64, startsBefore: Int64) throws {
        try db.execute(sql: "DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now])
        try db.execute(sql: "DELETE FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now])
        try db.execute(sql: "DELETE FROM outbox WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now])
        try db.execute(sql: "DELETE FROM processed WHERE at < ?", arguments: [idsBefore])
        try db.execute(sql: "DELETE FROM unopened WHERE at < ?", arguments: [idsBefore])
        try db.execute(sql: "DELETE FROM unconfirmed_starts WHERE at < ?", arguments: [startsBefore])
    }
}
