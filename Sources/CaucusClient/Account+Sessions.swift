import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Prekeys, pairwise sessions and the pairwise envelope (Protocol.md §9.2). Prekeys and sessions
/// belong to this device (its device key, §2.2); a session runs with one device of a person.
extension Account {
    /// Sessions kept per peer: the active one first, then others that may still receive.
    static let sessionsPerPeer = 4

    // MARK: Prekeys

    /// Makes a new signed prekey, its id's high bit announcing KEM prekeys (§6.1), and a new
    /// last-resort KEM prekey with it.
    nonisolated func makeSignedPrekey(_ tx: StoreTransaction) throws {
        let prekey = SignedPrekey(id: SignedPrekey.announcesKEMPrekeys | (try counter(tx, "next_signed_prekey")), identity: device)
        try tx.addPrekey(.signed, id: prekey.id, secret: prekey.serialized(), at: ClientStore.now())
        let lastResort = KEMPrekey(id: try counter(tx, "next_kem_prekey"), identity: device)
        try tx.addPrekey(.kemLastResort, id: lastResort.id, secret: lastResort.serialized(), at: ClientStore.now())
    }

    nonisolated func currentSignedPrekey(_ tx: StoreTransaction) throws -> SignedPrekey {
        guard let (_, secret) = try tx.newestPrekey(.signed) else { throw tx.damaged("it holds no signed prekey") }
        return try SignedPrekey(serialized: secret)
    }

    nonisolated func currentLastResortKEMPrekey(_ tx: StoreTransaction) throws -> KEMPrekey {
        guard let (_, secret) = try tx.newestPrekey(.kemLastResort) else { throw tx.damaged("it holds no last-resort KEM prekey") }
        return try KEMPrekey(serialized: secret)
    }

    /// The KEM prekey a session start names: a one-time one (`isOneTime`, to delete once the
    /// session is made) or a last-resort one still kept.
    nonisolated func kemPrekey(_ tx: StoreTransaction, id: UInt32) throws -> (prekey: KEMPrekey, isOneTime: Bool)? {
        if let secret = try tx.prekey(.kemOneTime, id: id) { return (try KEMPrekey(serialized: secret), true) }
        return try tx.prekey(.kemLastResort, id: id).map { (try KEMPrekey(serialized: $0), false) }
    }

    /// A signed prekey is replaced when it is this old (milliseconds).
    static let signedPrekeyRotation: Int64 = 7 * 86_400_000
    /// A replaced signed prekey is kept this long, for session starts made with it while it was
    /// published (they may wait in the mailbox), then erased.
    static let signedPrekeyGrace: Int64 = 30 * 86_400_000

    /// Replaces the signed prekey (and the last-resort KEM prekey with it) once it is a week old,
    /// or at once when it does not announce KEM prekeys (made before this device published them),
    /// and erases those replaced more than 30 days ago (a newer one exists that was made before
    /// then).
    nonisolated func rotateSignedPrekey(_ tx: StoreTransaction) throws {
        let now = ClientStore.now()
        if let made = try tx.newestPrekeyCreated(.signed), let newest = try tx.newestPrekeyID(.signed) {
            let announcesKEM = newest & SignedPrekey.announcesKEMPrekeys != 0
            let hasLastResort = try tx.newestPrekeyID(.kemLastResort) != nil
            if now - made >= Self.signedPrekeyRotation || !announcesKEM || !hasLastResort {
                try makeSignedPrekey(tx)
            }
        }
        try tx.deleteReplacedPrekeys(.signed, replacedBefore: now - Self.signedPrekeyGrace)
        try tx.deleteReplacedPrekeys(.kemLastResort, replacedBefore: now - Self.signedPrekeyGrace)
    }

    /// Publishes the signed prekey and the last-resort KEM prekey (new ones each week) and, for
    /// each kind of one-time prekey of which the relay holds fewer than the low-water mark, a new
    /// batch (kept here until a session start uses them).
    func publishPrekeys(on client: RelayClient, remaining: UInt32, kemRemaining: UInt32) async throws {
        let (signed, lastResort, fresh, freshKEM): (SignedPrekey, KEMPrekey, [OneTimePrekey], [KEMPrekey]) = try write { tx in
            try rotateSignedPrekey(tx)
            var fresh: [OneTimePrekey] = [], freshKEM: [KEMPrekey] = []
            for _ in 0..<(remaining < Self.prekeyLowWater ? Self.prekeyBatch : 0) {
                let key = OneTimePrekey(id: try counter(tx, "next_one_time_prekey"))
                try tx.addPrekey(.oneTime, id: key.id, secret: key.serialized(), at: ClientStore.now())
                fresh.append(key)
            }
            for _ in 0..<(kemRemaining < Self.prekeyLowWater ? Self.kemPrekeyBatch : 0) {
                let key = KEMPrekey(id: try counter(tx, "next_kem_prekey"), identity: device)
                try tx.addPrekey(.kemOneTime, id: key.id, secret: key.serialized(), at: ClientStore.now())
                freshKEM.append(key)
            }
            return (try currentSignedPrekey(tx), try currentLastResortKEMPrekey(tx), fresh, freshKEM)
        }
        let uploads = fresh.map { OneTimePrekeyUpload(id: $0.id, publicKey: Data($0.privateKey.publicKey.rawRepresentation)) }
        let counts = try await retrying {
            try await client.publishPrekeys(
                signedPrekey: Data(signed.publishedBytes), oneTime: uploads,
                kemLastResort: Data(lastResort.publishedBytes), kemOneTime: freshKEM.map { Data($0.publishedBytes) })
        }
        if !freshKEM.isEmpty, counts.kemOneTime == 0 {
            // A relay from before KEM prekeys drops them (unknown fields): every hybrid-capable
            // peer would then refuse this device's bundles as stripped (§9.2).
            note("the relay \(client.address) does not keep post-quantum (ML-KEM) prekeys: others cannot start a conversation with this device there until its operator upgrades it")
        }
    }

    // MARK: Session lists

    nonisolated func sessions(_ tx: StoreTransaction, peer: Ed25519.PublicKey) throws -> [Session] {
        try tx.sessions(peer: peer)
    }

    /// Keeps the first `sessionsPerPeer` of `list` for `peer`.
    nonisolated func saveSessions(_ tx: StoreTransaction, peer: Ed25519.PublicKey, _ list: [Session]) throws {
        try tx.saveSessions(peer: peer, Array(list.prefix(Self.sessionsPerPeer)))
    }

    /// Makes sure a session exists with every device of `person` that messages to them go to
    /// (for this identity: its other devices), fetching their device chain and prekeys from the
    /// relay when needed. A device that has published no prekeys is left out, unless it is the
    /// person's only one.
    func ensureSession(with person: Ed25519.PublicKey) async throws(ClientError) {
        try await ensureDevicesKnown(of: person)
        let (all, missing) = try read { tx in
            let all = try devices(tx, of: person)
            return (all, try all.filter { try !tx.hasSession(peer: $0) })
        }
        for device in missing {
            do {
                try await startSession(with: device, of: person)
            } catch .unknownTarget(let what) where all.count > 1 {
                note("no session with a device of \(DID(publicKey: person).short): \(what)")
            }
        }
    }

    /// Starts a session with `device`, one of `person`'s devices, from its bundle on the relay.
    private func startSession(with device: Ed25519.PublicKey, of person: Ed25519.PublicKey) async throws(ClientError) {
        let client = try await connected()
        let fetched: FetchedPrekeys
        do {
            fetched = try await retrying { try await client.fetchPrekeys(owner: DeviceKey(device)) }
        } catch let error as RelayError where error.code == .notFound {
            throw ClientError.unknownTarget(device == person
                ? "\(DID(publicKey: person)) (no keys on the relay: this identity never used it)"
                : "a device of \(DID(publicKey: person).short) has no keys on the relay yet")
        } catch RelayClientError.unexpectedReply {
            throw ClientError.relayRefused("unexpected reply to a prekey request")
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let bundle: PrekeyBundle
        do {
            bundle = try PrekeyBundle(
                identity: device.rawRepresentation, publishedSignedPrekey: Array(fetched.signedPrekey),
                oneTimePrekey: fetched.oneTimePrekey.map { ($0.id, Array($0.publicKey)) },
                publishedKEMPrekey: fetched.kemPrekey.map(Array.init))
        } catch {
            throw ClientError.badPrekeys(peer: DID(publicKey: person).description)
        }
        let session: Session
        do throws(SessionError) {
            guard fetched.owner == DeviceKey(device) else { throw SessionError.invalidPrekeySignature }
            // Hybrid (X3DH with ML-KEM-768) whenever the bundle has a KEM prekey; a bundle
            // stripped of the one its signed prekey announces is refused, never used classically.
            session = try Session.initiate(identity: self.device, bundle: bundle)
        } catch .strippedKEMPrekey {
            throw ClientError.strippedPrekeys(peer: DID(publicKey: person).description)
        } catch {
            throw ClientError.badPrekeys(peer: DID(publicKey: person).description)
        }
        try write { tx in
            // Another process may have made one meanwhile; keep theirs active.
            try saveSessions(tx, peer: device, try sessions(tx, peer: device) + [session])
        }
    }

    // MARK: The pairwise envelope

    /// Encrypts `payload` for the device `peer` with the active session and wraps it in the
    /// pairwise envelope (§9.2, `PairwiseEnvelope`).
    nonisolated func sealPairwise(_ tx: StoreTransaction, _ payload: [UInt8], to peer: Ed25519.PublicKey) throws -> PairwiseEnvelope {
        var list = try sessions(tx, peer: peer)
        guard !list.isEmpty else { throw ClientError.invalidArgument("no conversation with \(DID(publicKey: peer).short) has been started") }
        let message = list[0].encrypt(payload)
        try saveSessions(tx, peer: peer, list)
        return try PairwiseEnvelope(sessionMessage: message, from: me, to: peer)
    }

    /// The sender an envelope names inside its seal, before anything proves it: nil when the seal
    /// does not open. Only for saying whose conversation a failure belongs to.
    nonisolated func claimedSender(_ bytes: [UInt8]) -> PairwiseEnvelope.Sender? {
        try? PairwiseEnvelope(parsing: bytes).sender(openedWith: device)
    }

    /// Opens an envelope: who sent it, and the decrypted payload with what was noticed on the way.
    /// Session state is saved in the same transaction. A device that the kept chain of the
    /// identity it names does not certify (never added, or revoked) is refused before any session
    /// is tried (§9.12).
    nonisolated func openPairwise(_ tx: StoreTransaction, _ bytes: [UInt8]) throws -> (PairwiseEnvelope.Sender, DecryptedMessage) {
        let envelope: PairwiseEnvelope
        do { envelope = try PairwiseEnvelope(parsing: bytes) } catch { throw SessionError.malformed("not a pairwise envelope") }
        let named = try envelope.sender(openedWith: device)
        guard try certifies(tx, named.device, for: named.identity) else { throw UncertifiedDevice(identity: named.identity) }
        let sender = named.device
        let message = envelope.sessionMessage
        var list = try sessions(tx, peer: sender)
        var refusal: SessionError?
        for index in list.indices {
            do {
                var session = list[index]
                let opened = try session.decrypt(message)
                list.remove(at: index)
                list.insert(session, at: 0)
                try saveSessions(tx, peer: sender, list)
                if session.isInitiator { try confirmStarts(tx, from: sender) }
                return (named, opened)
            } catch let error as SessionError {
                if error != .differentSession, refusal == nil { refusal = error }
            }
        }
        // Only a session start that no kept session knows starts a new one; a replayed start is
        // refused by the session it started.
        if let refusal { throw refusal }
        guard envelope.isSessionStart else { throw SessionError.authenticationFailed }
        var usedOneTime: UInt32?, usedKEMOneTime: UInt32?
        let (session, opened) = try Session.respond(
            to: message, identity: device,
            signedPrekey: { id in try? tx.prekey(.signed, id: id).map(SignedPrekey.init(serialized:)) },
            oneTimePrekey: { id in
                usedOneTime = id
                return try? tx.prekey(.oneTime, id: id).map(OneTimePrekey.init(serialized:))
            },
            kemPrekey: { id in
                guard let found = try? kemPrekey(tx, id: id) else { return nil }
                if found.isOneTime { usedKEMOneTime = id }
                return found.prekey
            })
        guard session.peerIdentity == sender else { throw SessionError.authenticationFailed }
        if let usedOneTime {
            try tx.deletePrekey(.oneTime, id: usedOneTime)
        }
        if let usedKEMOneTime {
            try tx.deletePrekey(.kemOneTime, id: usedKEMOneTime)
        }
        try saveSessions(tx, peer: sender, [session] + list)
        return (named, opened)
    }
}

/// A pairwise message from a device that the chain kept for the identity it names does not
/// certify (Protocol.md §9.2, §9.12): never added, or revoked.
struct UncertifiedDevice: Error, CustomStringConvertible {
    let identity: Ed25519.PublicKey
    var description: String {
        "the device that wrote it is not one of the devices \(DID(publicKey: identity).short) certifies (never added, or revoked)"
    }
}
