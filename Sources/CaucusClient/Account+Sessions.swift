import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import CaucusPayloads
import Foundation
import GRDB

/// Prekeys, pairwise sessions and the pairwise envelope (Protocol.md §9.3).
extension Account {
    static let signedPrekeyKind = 1
    static let oneTimePrekeyKind = 2
    /// Sessions kept per peer: the active one first, then others that may still receive.
    static let sessionsPerPeer = 4

    // MARK: Prekeys

    nonisolated func makeSignedPrekey(_ db: Database) throws {
        let prekey = SignedPrekey(id: try counter(db, "next_signed_prekey"), identity: identity)
        try db.execute(sql: "INSERT INTO prekeys (kind, id, sealed, created_at) VALUES (?, ?, ?, ?)", arguments: [
            Self.signedPrekeyKind, Int64(prekey.id),
            store.sealSecret(prekey.serialized(), table: "prekeys", tag: Self.prekeyTag(Self.signedPrekeyKind, prekey.id)),
            ClientStore.now(),
        ])
    }

    nonisolated func currentSignedPrekey(_ db: Database) throws -> SignedPrekey {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, sealed FROM prekeys WHERE kind = ? ORDER BY id DESC LIMIT 1",
                                         arguments: [Self.signedPrekeyKind]) else {
            throw ClientError.damagedStore(path: store.path, reason: "it holds no signed prekey")
        }
        return try loadPrekey(row, kind: Self.signedPrekeyKind, SignedPrekey.init(serialized:))
    }

    nonisolated func prekey<T>(_ db: Database, kind: Int, id: UInt32, _ make: (SecureBytes) throws(SessionError) -> T) throws -> T? {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, sealed FROM prekeys WHERE kind = ? AND id = ?",
                                         arguments: [kind, Int64(id)]) else { return nil }
        return try loadPrekey(row, kind: kind, make)
    }

    private nonisolated func loadPrekey<T>(_ row: Row, kind: Int, _ make: (SecureBytes) throws(SessionError) -> T) throws -> T {
        let id = UInt32(row["id"] as Int64)
        let secret = try store.openSecret(row["sealed"], table: "prekeys", tag: Self.prekeyTag(kind, id))
        return try make(secret)
    }

    static func prekeyTag(_ kind: Int, _ id: UInt32) -> [UInt8] {
        [UInt8(kind)] + withUnsafeBytes(of: id.bigEndian, Array.init)
    }

    /// A signed prekey is replaced when it is this old (milliseconds).
    static let signedPrekeyRotation: Int64 = 7 * 86_400_000
    /// A replaced signed prekey is kept this long, for session starts made with it while it was
    /// published (they may wait in the mailbox), then erased.
    static let signedPrekeyGrace: Int64 = 30 * 86_400_000

    /// Replaces the signed prekey once it is a week old, and erases those replaced more than 30
    /// days ago (a newer one exists that was made before then).
    nonisolated func rotateSignedPrekey(_ db: Database) throws {
        let now = ClientStore.now()
        let newest = try Int64.fetchOne(db, sql: "SELECT MAX(created_at) FROM prekeys WHERE kind = ?", arguments: [Self.signedPrekeyKind])
        if let newest, now - newest >= Self.signedPrekeyRotation { try makeSignedPrekey(db) }
        try db.execute(sql: """
            DELETE FROM prekeys WHERE kind = ? AND EXISTS (
                SELECT 1 FROM prekeys AS newer WHERE newer.kind = prekeys.kind AND newer.id > prekeys.id AND newer.created_at < ?)
            """, arguments: [Self.signedPrekeyKind, now - Self.signedPrekeyGrace])
    }

    /// Publishes the signed prekey (a new one each week) and, when the relay holds fewer than the
    /// low-water mark, a new batch of one-time prekeys (kept here until a session start uses them).
    func publishPrekeys(on client: RelayClient, remaining: UInt32) async throws {
        let (signed, fresh): (SignedPrekey, [OneTimePrekey]) = try write { db in
            try rotateSignedPrekey(db)
            let signed = try currentSignedPrekey(db)
            guard remaining < Self.prekeyLowWater else { return (signed, []) }
            var fresh: [OneTimePrekey] = []
            for _ in 0..<Self.prekeyBatch {
                let key = OneTimePrekey(id: try counter(db, "next_one_time_prekey"))
                try db.execute(sql: "INSERT INTO prekeys (kind, id, sealed, created_at) VALUES (?, ?, ?, ?)", arguments: [
                    Self.oneTimePrekeyKind, Int64(key.id),
                    store.sealSecret(key.serialized(), table: "prekeys", tag: Self.prekeyTag(Self.oneTimePrekeyKind, key.id)),
                    ClientStore.now(),
                ])
                fresh.append(key)
            }
            return (signed, fresh)
        }
        let uploads = fresh.map { OneTimePrekeyUpload(id: $0.id, publicKey: Data($0.privateKey.publicKey.rawRepresentation)) }
        _ = try await retrying { try await client.publishPrekeys(signedPrekey: Data(signed.publishedBytes), oneTime: uploads) }
    }

    // MARK: Session lists

    nonisolated func sessions(_ db: Database, peer: Ed25519.PublicKey) throws -> [Session] {
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

    nonisolated func saveSessions(_ db: Database, peer: Ed25519.PublicKey, _ list: [Session]) throws {
        var writer = PayloadWriter()
        defer { writer.wipe() }
        let kept = list.prefix(Self.sessionsPerPeer)
        writer.u32(UInt32(kept.count))
        for session in kept {
            var state = session.serialized().withUnsafeBytes { Array($0) }
            writer.data(state)
            wipe(&state)
        }
        let tag = store.tag(peer.rawRepresentation)
        try db.execute(sql: "INSERT OR REPLACE INTO sessions (peer, sealed) VALUES (?, ?)",
                       arguments: [Data(tag), Data(store.seal(writer.bytes, table: "sessions", tag: tag))])
    }

    nonisolated func hasSession(_ db: Database, peer: Ed25519.PublicKey) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT 1 FROM sessions WHERE peer = ?", arguments: [Data(store.tag(peer.rawRepresentation))]) != nil
    }

    /// Makes sure a session with `peer` exists, fetching their prekeys from the relay when needed.
    func ensureSession(with peer: Ed25519.PublicKey) async throws(ClientError) {
        let known = try read { db in try hasSession(db, peer: peer) }
        if known { return }
        let client = try await connected()
        let fetched: FetchedPrekeys
        do {
            fetched = try await retrying { try await client.fetchPrekeys(owner: Data(peer.rawRepresentation)) }
        } catch let error as RelayError where error.code == .notFound {
            throw ClientError.unknownTarget("\(DID(publicKey: peer)) (no keys on the relay: this identity never used it)")
        } catch RelayClientError.unexpectedReply {
            throw ClientError.relayRefused("unexpected reply to a prekey request")
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let bundle: PrekeyBundle
        do {
            bundle = try PrekeyBundle(
                identity: peer.rawRepresentation, publishedSignedPrekey: Array(fetched.signedPrekey),
                oneTimePrekey: fetched.oneTimePrekey.map { ($0.id, Array($0.publicKey)) })
        } catch {
            throw ClientError.badPrekeys(peer: DID(publicKey: peer).description)
        }
        guard Array(fetched.owner) == peer.rawRepresentation, bundle.hasValidSignature,
              let session = try? Session.initiate(identity: identity, bundle: bundle)
        else { throw ClientError.badPrekeys(peer: DID(publicKey: peer).description) }
        try write { db in
            // Another process may have made one meanwhile; keep theirs active.
            try saveSessions(db, peer: peer, try sessions(db, peer: peer) + [session])
        }
    }

    // MARK: The pairwise envelope

    /// Encrypts `payload` for `peer` with the active session and wraps it in the pairwise envelope
    /// (§9.2, `PairwiseEnvelope`).
    nonisolated func sealPairwise(_ db: Database, _ payload: [UInt8], to peer: Ed25519.PublicKey) throws -> PairwiseEnvelope {
        var list = try sessions(db, peer: peer)
        guard !list.isEmpty else { throw ClientError.invalidArgument("no conversation with \(DID(publicKey: peer).short) has been started") }
        let message = list[0].encrypt(payload)
        try saveSessions(db, peer: peer, list)
        return try PairwiseEnvelope(sessionMessage: message, from: identity.publicKey, to: peer)
    }

    /// Opens an envelope: who sent it, and the decrypted payload with what was noticed on the way.
    /// Session state is saved in the same transaction.
    /// The sender an envelope names inside its seal, before anything proves it: nil when the seal
    /// does not open. Only for saying whose conversation a failure belongs to.
    nonisolated func claimedSender(_ bytes: [UInt8]) -> Ed25519.PublicKey? {
        try? PairwiseEnvelope(parsing: bytes).sender(openedWith: identity)
    }

    nonisolated func openPairwise(_ db: Database, _ bytes: [UInt8]) throws -> (Ed25519.PublicKey, DecryptedMessage) {
        let envelope: PairwiseEnvelope
        do { envelope = try PairwiseEnvelope(parsing: bytes) } catch { throw SessionError.malformed("not a pairwise envelope") }
        let sender = try envelope.sender(openedWith: identity)
        let message = envelope.sessionMessage
        var list = try sessions(db, peer: sender)
        var refusal: SessionError?
        for index in list.indices {
            do {
                var session = list[index]
                let opened = try session.decrypt(message)
                list.remove(at: index)
                list.insert(session, at: 0)
                try saveSessions(db, peer: sender, list)
                if session.isInitiator { try confirmStarts(db, from: sender) }
                return (sender, opened)
            } catch let error as SessionError {
                if error != .differentSession, refusal == nil { refusal = error }
            }
        }
        // Only a session start that no kept session knows starts a new one; a replayed start is
        // refused by the session it started.
        if let refusal { throw refusal }
        guard message.first == 0x01 else { throw SessionError.authenticationFailed }
        var usedOneTime: UInt32?
        let (session, opened) = try Session.respond(
            to: message, identity: identity,
            signedPrekey: { id in try? self.prekey(db, kind: Self.signedPrekeyKind, id: id, SignedPrekey.init(serialized:)) },
            oneTimePrekey: { id in
                usedOneTime = id
                return try? self.prekey(db, kind: Self.oneTimePrekeyKind, id: id, OneTimePrekey.init(serialized:))
            })
        guard session.peerIdentity == sender else { throw SessionError.authenticationFailed }
        if let usedOneTime {
            try db.execute(sql: "DELETE FROM prekeys WHERE kind = ? AND id = ?", arguments: [Self.oneTimePrekeyKind, Int64(usedOneTime)])
        }
        try saveSessions(db, peer: sender, [session] + list)
        return (sender, opened)
    }
}
