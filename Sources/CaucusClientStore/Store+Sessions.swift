import CaucusCrypto
import CaucusPayloads
import Foundation
import GRDB

/// Prekeys, pairwise sessions and the session starts a peer has not answered yet.
extension StoreTransaction {
    // MARK: Prekeys

    public func addPrekey(_ kind: PrekeyKind, id: UInt32, secret: SecureBytes, at now: Int64) throws {
        try db.execute(sql: "INSERT INTO prekeys (kind, id, sealed, created_at) VALUES (?, ?, ?, ?)", arguments: [
            kind.rawValue, Int64(id), store.sealSecret(secret, table: "prekeys", tag: Self.prekeyTag(kind, id)), now,
        ])
    }

    /// The prekey of `kind` with the highest id.
    public func newestPrekey(_ kind: PrekeyKind) throws -> (id: UInt32, secret: SecureBytes)? {
        try Row.fetchOne(db, sql: "SELECT id, sealed FROM prekeys WHERE kind = ? ORDER BY id DESC LIMIT 1", arguments: [kind.rawValue])
            .map { row in (UInt32(row["id"] as Int64), try openPrekey(row, kind)) }
    }

    public func prekey(_ kind: PrekeyKind, id: UInt32) throws -> SecureBytes? {
        try Row.fetchOne(db, sql: "SELECT id, sealed FROM prekeys WHERE kind = ? AND id = ?", arguments: [kind.rawValue, Int64(id)])
            .map { row in try openPrekey(row, kind) }
    }

    private func openPrekey(_ row: Row, _ kind: PrekeyKind) throws -> SecureBytes {
        try store.openSecret(row["sealed"], table: "prekeys", tag: Self.prekeyTag(kind, UInt32(row["id"] as Int64)))
    }

    /// The highest id of the prekeys of `kind`, read without opening any.
    public func newestPrekeyID(_ kind: PrekeyKind) throws -> UInt32? {
        try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM prekeys WHERE kind = ?", arguments: [kind.rawValue]).map { UInt32($0) }
    }

    /// When the newest prekey of `kind` was made (Unix milliseconds).
    public func newestPrekeyCreated(_ kind: PrekeyKind) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT MAX(created_at) FROM prekeys WHERE kind = ?", arguments: [kind.rawValue])
    }

    /// Erases the prekeys of `kind` that a newer one made before `madeBefore` replaced.
    public func deleteReplacedPrekeys(_ kind: PrekeyKind, replacedBefore madeBefore: Int64) throws {
        try db.execute(sql: """
            DELETE FROM prekeys WHERE kind = ? AND EXISTS (
                SELECT 1 FROM prekeys AS newer WHERE newer.kind = prekeys.kind AND newer.id > prekeys.id AND newer.created_at < ?)
            """, arguments: [kind.rawValue, madeBefore])
    }

    public func deletePrekey(_ kind: PrekeyKind, id: UInt32) throws {
        try db.execute(sql: "DELETE FROM prekeys WHERE kind = ? AND id = ?", arguments: [kind.rawValue, Int64(id)])
    }

    static func prekeyTag(_ kind: PrekeyKind, _ id: UInt32) -> [UInt8] {
        [UInt8(kind.rawValue)] + withUnsafeBytes(of: id.bigEndian, Array.init)
    }

    // MARK: Sessions

    /// The sessions kept with `peer`, the active one first.
    public func sessions(peer: Ed25519.PublicKey) throws -> [Session] {
        let tag = store.tag(peer.rawRepresentation)
        guard let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM sessions WHERE peer = ?", arguments: [Data(tag)]) else { return [] }
        var bytes = try store.open(Array(sealed), table: "sessions", tag: tag)
        defer { wipe(&bytes) }
        var reader = PayloadReader(bytes)
        var result: [Session] = []
        let count = try reader.u32()
        for _ in 0..<count {
            var state = try reader.data(limit: 16 << 20)
            defer { wipe(&state) }
            result.append(try Session(serialized: SecureBytes(copying: state)))
        }
        return result
    }

    /// Replaces the sessions kept with `peer`.
    public func saveSessions(peer: Ed25519.PublicKey, _ list: [Session]) throws {
        var writer = PayloadWriter()
        defer { writer.wipe() }
        writer.u32(UInt32(list.count))
        for session in list {
            var state = session.serialized().withUnsafeBytes { Array($0) }
            writer.data(state)
            wipe(&state)
        }
        let tag = store.tag(peer.rawRepresentation)
        try db.execute(sql: "INSERT OR REPLACE INTO sessions (peer, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), Data(store.seal(writer.bytes, table: "sessions", tag: tag))])
    }

    /// Forgets every session with `peer` (a device its owner revoked).
    public func deleteSessions(peer: Ed25519.PublicKey) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE peer = ?", arguments: [Data(store.tag(peer.rawRepresentation))])
    }

    public func hasSession(peer: Ed25519.PublicKey) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT 1 FROM sessions WHERE peer = ?", arguments: [Data(store.tag(peer.rawRepresentation))]) != nil
    }

    // MARK: Unconfirmed session starts

    /// Keeps, sealed, a payload that went to `peer` as a session start.
    public func keepUnconfirmedStart(_ plaintext: [UInt8], to peer: Ed25519.PublicKey, at now: Int64) throws {
        let tag = store.tag(peer.rawRepresentation)
        try db.execute(sql: "INSERT INTO unconfirmed_starts (peer, sealed, at) VALUES (?, ?, ?)", arguments: [
            Data(tag), Data(store.seal(plaintext, table: "unconfirmed_starts", tag: tag)), now,
        ])
    }

    /// Forgets the starts kept for `peer`.
    public func deleteUnconfirmedStarts(to peer: Ed25519.PublicKey) throws {
        try db.execute(sql: "DELETE FROM unconfirmed_starts WHERE peer = ?", arguments: [Data(store.tag(peer.rawRepresentation))])
    }

    /// Takes out every start kept for `peer` and returns the newest `limit` of them, oldest first.
    public func takeUnconfirmedStarts(to peer: Ed25519.PublicKey, limit: Int) throws -> [[UInt8]] {
        let tag = store.tag(peer.rawRepresentation)
        let rows = try Data.fetchAll(db, sql: "SELECT sealed FROM unconfirmed_starts WHERE peer = ? ORDER BY seq DESC LIMIT ?",
                                     arguments: [Data(tag), limit])
        try db.execute(sql: "DELETE FROM unconfirmed_starts WHERE peer = ?", arguments: [Data(tag)])
        return try rows.reversed().map { sealed in try store.open(Array(sealed), table: "unconfirmed_starts", tag: tag) }
    }
}
