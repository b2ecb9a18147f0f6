import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Devices (Protocol.md §2.2, §9.12): which devices speak for a person, learned from the device
/// chains the relay keeps, verified here and kept in the store; which of them a message goes to;
/// and whether a device that writes speaks for the identity it names.
extension Account {
    /// Where a linked device keeps its own key (sealed, like every meta value).
    static let deviceSeedKey = "device_seed"
    /// How long a device chain fetched from the relay is used before it is fetched again when
    /// someone is written to (ms).
    static let deviceChainFreshness: Int64 = 86_400_000

    /// This device's key as kept in the store, or nil on the identity's first device (whose device
    /// key is the identity key).
    nonisolated static func deviceKey(_ tx: StoreTransaction) throws -> Ed25519.PrivateKey? {
        guard var seed = try tx.meta(deviceSeedKey) else { return nil }
        defer { wipe(&seed) }
        return try Ed25519.PrivateKey(seed: SecureBytes(copying: seed))
    }

    /// This device as the envelopes it seals name it.
    nonisolated var me: PairwiseEnvelope.Sender { PairwiseEnvelope.Sender(identity: identity.publicKey, device: device.publicKey) }

    /// The devices messages to `person` go to: the active computers of their kept chain, or their
    /// identity key when none is kept or they published none. For this identity, its other
    /// devices (never this one).
    nonisolated func devices(_ tx: StoreTransaction, of person: Ed25519.PublicKey) throws -> [Ed25519.PublicKey] {
        let all = try tx.deviceChain(of: person)?.chain.map { $0.activeDevices(.computer).map(\.key) } ?? [person]
        return all.filter { $0 != device.publicKey }
    }

    /// Whether `device` speaks for `identity` by the kept chain: an active device of it, or the
    /// identity key itself when no chain of that identity is kept.
    nonisolated func certifies(_ tx: StoreTransaction, _ device: Ed25519.PublicKey, for identity: Ed25519.PublicKey) throws -> Bool {
        guard let chain = try tx.deviceChain(of: identity)?.chain else { return device == identity }
        return chain.certifies(device)
    }

    /// Fetches `person`'s device chain from the relay, verifies it, and keeps it when it extends
    /// the one kept (§9.12); returns the chain kept now. A relay that offers a shorter or another
    /// history is not believed: the kept chain stays, and the error says so.
    @discardableResult
    func refreshDevices(of person: Ed25519.PublicKey) async throws(ClientError) -> DeviceChain? {
        let client = try await connected()
        let entries: [[UInt8]]
        do {
            entries = try await retrying { try await client.fetchDevices(identity: person) }
        } catch RelayClientError.unexpectedReply {
            throw ClientError.relayRefused("unexpected reply to a device chain request")
        } catch let error as RelayError {
            throw ClientError.relayRefused(error.description)
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let fetched: DeviceChain?
        do {
            fetched = entries.isEmpty ? nil : try DeviceChain.verify(encoded: entries)
        } catch {
            throw ClientError.badDevices(person: DID(publicKey: person).description, reason: "\(error)")
        }
        guard fetched.map({ $0.identity == person }) ?? true else {
            throw ClientError.badDevices(person: DID(publicKey: person).description, reason: "the relay answered with another identity's chain")
        }
        return try write { tx in
            let keptRecord = try tx.deviceChain(of: person)
            let kept = keptRecord?.chain
            guard Self.extends(fetched, kept) else {
                throw ClientError.badDevices(person: DID(publicKey: person).description, reason: """
                    the relay's copy of their devices does not extend the one this device already verified \
                    (\(kept?.entries.count ?? 0) entries); the relay may be hostile, or hold an old backup
                    """)
            }
            try tx.saveDeviceChain(fetched ?? kept, of: person, fetchedAt: ClientStore.now())
            // A change found by fetching (the person's DevicesChanged may come later, or never) is
            // told as one that arrives; the first chain learned of someone is no change.
            if keptRecord != nil { try noteDeviceChanges(tx, of: person, from: kept, to: fetched ?? kept) }
            return fetched ?? kept
        }
    }

    /// Whether `fetched` (nil: none published) holds every entry of `kept`, in order.
    nonisolated static func extends(_ fetched: DeviceChain?, _ kept: DeviceChain?) -> Bool {
        guard let kept else { return true }
        guard let fetched, fetched.entries.count >= kept.entries.count else { return false }
        return zip(fetched.entries, kept.entries).allSatisfy { $0 == $1 }
    }

    /// Fetches `person`'s chain when the kept one is older than `deviceChainFreshness` or none is
    /// kept. When that fails (the relay out of reach, or offering a chain that does not verify or
    /// extend the kept one) the kept chain is used as it is, and a refusal is noted for the user.
    func ensureDevicesKnown(of person: Ed25519.PublicKey) async throws(ClientError) {
        let fetchedAt = try read { tx in try tx.deviceChain(of: person)?.fetchedAt }
        if let fetchedAt, ClientStore.now() - fetchedAt < Self.deviceChainFreshness { return }
        do { try await refreshDevices(of: person) } catch .relayUnreachable where fetchedAt != nil {
            return
        } catch .relayUnreachable(let url, let reason) {
            throw .relayUnreachable(url: url, reason: reason)
        } catch {
            note("\(error)")
        }
    }

    /// Before a pairwise delivery is opened: when the device it names is not certified by the
    /// kept chain of the identity it names, that chain is fetched again (a device added since).
    /// What fails here is left to `openPairwise`, which refuses the delivery if the device is
    /// still not certified.
    func learnSenderDevice(_ delivery: Delivery) async {
        // Only a version 2 envelope names a device other than the identity key; for every other
        // delivery the seal is not opened twice.
        guard delivery.groupID == nil, delivery.payload.first == PairwiseEnvelope.deviceVersion,
              let sender = claimedSender(Array(delivery.payload)),
              let certified = try? read({ tx in try certifies(tx, sender.device, for: sender.identity) }), !certified
        else { return }
        _ = try? await refreshDevices(of: sender.identity)
    }

    /// The relay message id of the copy of message `id` for `device`: the id itself for the
    /// identity's first device (`device` is the identity key), so that a person with one device
    /// gets exactly what they got before devices existed; else the first 16 bytes of
    /// BLAKE2b-256("caucus/copy-id/v1" ‖ id ‖ device) (§9.12).
    nonisolated static func copyID(_ id: [UInt8], for device: Ed25519.PublicKey, of person: Ed25519.PublicKey) -> [UInt8] {
        guard device != person else { return id }
        return Array(try! BLAKE2b.hash(Array("caucus/copy-id/v1".utf8) + id + device.rawRepresentation).prefix(16))
    }

    /// Publishes the identity's chain this device keeps, if it keeps one (at every login, §7.8),
    /// so that a relay restored from a backup, or another relay, learns it again. A relay that
    /// holds a longer chain answers CONFLICT; the chain is then fetched, and kept if it extends
    /// this one.
    func republishOwnChain(on client: RelayClient) async {
        guard let chain = try? read({ tx in try tx.deviceChain(of: identity.publicKey)?.chain }) else { return }
        do {
            _ = try await retrying { try await client.publishDevices(chain.entries) }
        } catch let error as RelayError where error.code == .conflict {
            do { try await refreshDevices(of: identity.publicKey) } catch { note("\(error)") }
        } catch {
            note("could not publish this identity's devices to the relay: \(Self.reason(error))")
        }
    }

    /// A person's device chain, sent by them after a change (§9.12): kept when it verifies, is
    /// theirs and extends the chain kept; the conversation says which devices came and went, and
    /// the sessions with devices it revoked are forgotten.
    nonisolated func receiveDevicesChanged(_ tx: StoreTransaction, _ entries: [DeviceEntry], from sender: Ed25519.PublicKey,
                                           in conversation: Conversation) throws {
        let name = try mention(tx, sender)
        let chain: DeviceChain
        do { chain = try DeviceChain.verify(entries) } catch {
            try addLine(tx, conversation, .warning, "\(name) sent a list of devices that does not verify (\(error)); ignored", expirySeconds: 0)
            return
        }
        let kept = try tx.deviceChain(of: sender)?.chain
        guard chain.identity == sender, Self.extends(chain, kept) else {
            try addLine(tx, conversation, .warning, "\(name) sent a list of devices that is not theirs, or older than the one kept; ignored",
                        expirySeconds: 0)
            return
        }
        try tx.saveDeviceChain(chain, of: sender, fetchedAt: ClientStore.now())
        try noteDeviceChanges(tx, of: sender, from: kept, to: chain)
    }

    /// Forgets the sessions with the computers of `person` that `kept` listed as active and
    /// `chain` no longer does, and tells the conversation with them (a contact other than this
    /// identity) which came and went.
    nonisolated func noteDeviceChanges(_ tx: StoreTransaction, of person: Ed25519.PublicKey, from kept: DeviceChain?,
                                       to chain: DeviceChain?) throws {
        let before = Set(kept?.activeDevices(.computer).map(\.key) ?? [person])
        let after = Set(chain?.activeDevices(.computer).map(\.key) ?? [person])
        for gone in before.subtracting(after) { try tx.deleteSessions(peer: gone) }
        guard person != identity.publicKey, try contact(tx, person) != nil else { return }
        let name = try mention(tx, person), conversation = Conversation.direct(person)
        for added in after.subtracting(before) {
            try addLine(tx, conversation, .notice, "\(name) added a device (\(DeviceKey(added).description))", expirySeconds: 0)
        }
        for gone in before.subtracting(after) {
            try addLine(tx, conversation, .notice, "\(name) revoked a device (\(DeviceKey(gone).description)); it gets nothing more", expirySeconds: 0)
        }
    }

    /// A copy of what another device of this identity wrote to `peer` (§9.12), shown as written
    /// here. Only this identity's own devices may send one.
    nonisolated func receiveSentCopy(_ tx: StoreTransaction, _ payload: Payload, to peer: Ed25519.PublicKey,
                                     from sender: Ed25519.PublicKey) throws {
        guard sender == identity.publicKey else {
            noteLater("\(try mention(tx, sender)) sent a copy of a message as if they were you; ignored")
            return
        }
        let conversation = Conversation.direct(peer)
        if try contact(tx, peer) == nil { try saveContact(tx, peer, ContactRecord(did: DID(publicKey: peer).description)) }
        switch payload {
        case let .text(stamp, text):
            try addLine(tx, conversation, .text, text, sender: identity.publicKey, sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds)
        case let .file(stamp, offer):
            try storeFile(tx, offer, stamp: stamp, from: identity.publicKey, in: conversation)
        case .expiry(let stamp):
            var record = try tx.conversationRecord(conversation)
            record.expirySeconds = stamp.expirySeconds
            try tx.saveConversation(conversation, record)
            try addLine(tx, conversation, .notice, "you \(Self.describeTimer(stamp.expirySeconds))", expirySeconds: 0, unread: false)
        default:
            break
        }
    }

    /// Queues a copy of `payload`, written to `peer`, for each of this identity's other devices
    /// that has a session with this one (§9.12).
    nonisolated func enqueueCopies(_ tx: StoreTransaction, _ payload: Payload, to peer: Ed25519.PublicKey, ttl: UInt32) throws {
        for other in try devices(tx, of: identity.publicKey) where try tx.hasSession(peer: other) {
            try enqueuePairwise(tx, .sent(to: peer, payload), toDevice: other, id: Random.bytes(16), ttl: ttl)
        }
    }
}
