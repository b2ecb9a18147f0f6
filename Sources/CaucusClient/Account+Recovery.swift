import CaucusClientStore
import CaucusCrypto
import CaucusKeystore
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation
import NIOSSL

/// What a recovery box holds (Protocol.md §9.15), sealed to the identity's paper key and kept by
/// the relay: the identity, its display name, its contacts and, per group, whom to ask to be
/// given it again.
struct RecoveryContents {
    static let version: UInt8 = 1

    struct Group {
        var id: [UInt8]
        var name: String
        var admins: [Ed25519.PublicKey]
    }

    var identitySeed: SecureBytes
    var displayName: String
    var contacts: [(Ed25519.PublicKey, ContactRecord)]
    var groups: [Group]

    /// `u8 1 ‖ identity seed (32) ‖ LP(display name) ‖ u32 n ‖ n × (identity (32) ‖ LP(name, empty:
    /// none) ‖ u8 verified) ‖ u32 g ‖ g × (group id (32) ‖ LP(group name) ‖ u32 a ‖ a × admin (32))`.
    func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.u8(Self.version)
        writer.fixed(identitySeed.withUnsafeBytes { Array($0) })
        writer.text(displayName)
        ContactList.write(contacts, to: &writer)
        writer.u32(UInt32(groups.count))
        for group in groups {
            writer.fixed(group.id)
            writer.text(group.name)
            writer.u32(UInt32(group.admins.count))
            for admin in group.admins { writer.fixed(admin.rawRepresentation) }
        }
        return writer.bytes
    }

    init(identitySeed: SecureBytes, displayName: String, contacts: [(Ed25519.PublicKey, ContactRecord)], groups: [Group]) {
        self.identitySeed = identitySeed
        self.displayName = displayName
        self.contacts = contacts
        self.groups = groups
    }

    init(decoding bytes: [UInt8]) throws(PayloadError) {
        var reader = PayloadReader(bytes)
        guard try reader.u8() == Self.version else { throw PayloadError.invalid("a recovery box of another version") }
        identitySeed = SecureBytes(copying: try reader.fixed(32))
        displayName = try reader.text(limit: 256)
        contacts = try ContactList.read(&reader)
        groups = []
        for _ in 0..<(try reader.u32()) {
            let id = try reader.fixed(32)
            let name = try reader.text(limit: 256)
            var admins: [Ed25519.PublicKey] = []
            for _ in 0..<(try reader.u32()) { admins.append(try reader.publicKey()) }
            groups.append(Group(id: id, name: name, admins: admins))
        }
        try reader.finish()
    }
}

extension Account {
    static let recoveryBoxHashKey = "recovery_box_hash"

    // MARK: Making a paper key

    /// Makes a new paper key (`caucus init --paper-key`, `caucus paper-key new`, §9.15): adds it to
    /// the identity's chain, revokes any paper key before it (the relay then forgets that one's
    /// box), publishes the chain and keeps a recovery box for the new key on the relay. Returns its
    /// recovery phrase, to be shown once and never kept.
    public func makePaperKey() async throws(ClientError) -> String {
        let client = try await connected()
        var chain = try await currentOwnChain()
        let paper = PaperKey()
        let key = paper.signingKey
        let now = UInt64(Date().timeIntervalSince1970)
        do {
            for old in chain.activeDevices(.paper) { _ = try chain.revoke(old.key, by: identity, signedAt: now) }
            let proof = key.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: key.publicKey))
            _ = try chain.add(key.publicKey, kind: .paper, deviceSignature: proof, by: identity, signedAt: now)
        } catch {
            throw ClientError.invalidArgument("a paper key cannot be added: \(error)")
        }
        try await publish(chain, on: client)
        try write { tx in
            try tx.saveDeviceChain(chain, of: identity.publicKey, fetchedAt: ClientStore.now())
            try setMeta(tx, Self.deviceNamePrefix + Hex.encode(key.publicKey.rawRepresentation), Array("paper key".utf8))
            try tellOwnDevices(tx, about: chain)
        }
        try await flushOutbox()
        try await keepRecoveryBox(on: client, always: true)
        return paper.phrase
    }

    /// What the recovery box of this identity holds now.
    nonisolated func recoveryContents(_ tx: StoreTransaction) throws -> RecoveryContents {
        let groups = try tx.allGroups().compactMap { info, session -> RecoveryContents.Group? in
            guard !info.removed else { return nil }
            let admins = session.chain.roster.filter { $0.value == .admin }.map(\.key).sorted { $0.rawRepresentation.lexicographicallyPrecedes($1.rawRepresentation) }
            return RecoveryContents.Group(id: session.groupID, name: info.name, admins: admins)
        }
        return RecoveryContents(identitySeed: identity.seed, displayName: try myName(tx),
                                contacts: try tx.allContacts().filter { $0.0 != identity.publicKey }, groups: groups)
    }

    /// Seals the recovery box for the identity's active paper key and keeps it on the relay, when
    /// it has one and (unless `always`) what the box holds changed since the last one kept. Every
    /// device does this at login, so that the box follows new groups and contacts; not while a
    /// join or a rejoin waits for its answer (a device just recovered would otherwise replace the
    /// box with one that has none of the groups it is asking for).
    func keepRecoveryBox(on client: RelayClient, always: Bool) async throws(ClientError) {
        let prepared: (sealed: [UInt8], paper: Ed25519.PublicKey, hash: [UInt8])? = try read { tx in
            guard let chain = try tx.deviceChain(of: identity.publicKey)?.chain, let paper = chain.activeDevices(.paper).last?.key,
                  try always || tx.metaKeys(prefix: Self.joinRequestPrefix).isEmpty
            else { return nil }
            var plain = try recoveryContents(tx).encoded()
            defer { wipe(&plain) }
            let hash = try BLAKE2b.hash(plain + paper.rawRepresentation, outputByteCount: 32)
            if !always, try getMeta(tx, Self.recoveryBoxHashKey) == hash { return nil }
            guard plain.count + SealedBox.overhead <= RelayProtocol.maxRecoveryBoxBytes else {
                throw ClientError.invalidArgument("""
                    your contacts and groups no longer fit in a recovery box (\(plain.count) bytes, at most \
                    \(RelayProtocol.maxRecoveryBoxBytes - SealedBox.overhead)); the relay keeps the last one that fitted
                    """)
            }
            return (SealedBox.seal(plain, to: try X25519.PublicKey(converting: paper)), paper, hash)
        }
        guard let prepared else { return }
        do {
            try await retrying { try await client.putRecoveryBox(paperKey: prepared.paper, sealed: prepared.sealed) }
        } catch let error as RelayError {
            throw ClientError.relayRefused("the relay did not keep the recovery box: \(error.message)")
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        try write { tx in try setMeta(tx, Self.recoveryBoxHashKey, prepared.hash) }
    }

    // MARK: Recovering

    /// What `recover` did.
    public struct Recovery: Sendable, Equatable {
        /// The groups whose admin was asked to give them to this device.
        public var groupsAsked: [String]
        /// The groups no other admin could be asked for.
        public var groupsWithoutAdmin: [String]
        public var contacts: Int
    }

    /// Recovers the identity from its paper key's phrase, on this computer (`caucus recover`,
    /// §9.15), when every device is lost: fetches the recovery box from the relay at `relay` as the
    /// paper key, makes this computer a device of the identity and revokes every other computer,
    /// keeps the identity under `passphrase`, tells the contacts, and asks an admin of each group
    /// to give the group to this device.
    public static func recover(
        home: ClientHome, passphrase: Passphrase, phrase: String, relay: String, name: String,
        parameters: Argon2id.Parameters = .moderate, tls: TLSConfiguration? = nil, proxy proxyText: String? = nil,
        allowWeakPassphrase: Bool = false, handshakeTimeout: Duration = .seconds(15)
    ) async throws(ClientError) -> (Account, Recovery) {
        guard !Keystore(path: home.keystorePath).exists else { throw ClientError.identityExists(home: home.path) }
        try checkStrength(of: passphrase, allowWeak: allowWeakPassphrase)
        try validate(displayName: name)
        let url = try normalizedRelay(relay)
        let proxy = try Self.proxy(proxyText)
        let paper: PaperKey
        do { paper = try PaperKey(phrase: phrase) } catch { throw ClientError.invalidArgument("\(error)") }
        let paperKey = paper.signingKey
        let client: RelayClient
        do {
            client = try await RelayClient.connect(url: url, deviceKey: paperKey, tls: tls, proxy: proxy, timeout: handshakeTimeout)
        } catch let error as RelayError where error.code == .forbidden {
            throw ClientError.invalidArgument("the relay refuses this paper key: it was revoked (a newer paper key replaced it)")
        } catch {
            throw ClientError.relayUnreachable(url: url, reason: reason(error))
        }
        defer { Task { await client.close() } }
        let contents: RecoveryContents, identity: Ed25519.PrivateKey
        var chain: DeviceChain
        do {
            let sealed = try await client.recoveryBox()
            var plain = try SealedBox.open(sealed, with: X25519.PrivateKey(converting: paperKey))
            defer { wipe(&plain) }
            contents = try RecoveryContents(decoding: plain)
            identity = try Ed25519.PrivateKey(seed: contents.identitySeed)
            chain = try DeviceChain.verify(encoded: try await client.fetchDevices(identity: identity.publicKey))
        } catch let error as RelayError where error.code == .notFound || error.code == .forbidden {
            throw ClientError.invalidArgument("""
                this relay keeps no recovery box for these words: check each word, and that it is your relay (\(url))
                """)
        } catch let error as RelayError {
            throw ClientError.relayRefused(error.description)
        } catch let error as RelayClientError {
            throw ClientError.relayUnreachable(url: url, reason: reason(error))
        } catch {
            throw ClientError.invalidArgument("the recovery box does not open with these words, or is damaged: \(error)")
        }
        guard chain.identity == identity.publicKey, chain.device(paperKey.publicKey)?.kind == .paper, chain.certifies(paperKey.publicKey) else {
            throw ClientError.invalidArgument("the relay's list of your devices does not hold this paper key as active")
        }
        let device = Ed25519.PrivateKey()
        let now = UInt64(Date().timeIntervalSince1970)
        do {
            let proof = device.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: device.publicKey))
            _ = try chain.add(device.publicKey, kind: .computer, deviceSignature: proof, by: identity, signedAt: now)
            for lost in chain.activeDevices(.computer) where lost.key != device.publicKey {
                _ = try chain.revoke(lost.key, by: identity, signedAt: now)
            }
            _ = try await client.publishDevices(chain.entries)
        } catch let error as RelayError {
            throw ClientError.relayRefused("the relay refused the new list of your devices: \(error.message)")
        } catch {
            throw ClientError.invalidArgument("this computer cannot be made a device of your identity: \(error)")
        }
        let account = try await makeDeviceHome(
            home: home, passphrase: passphrase, parameters: parameters, tls: tls, identity: identity, device: device, name: name,
            chain: chain, displayName: contents.displayName,
            deviceNames: [(paperKey.publicKey, "paper key")], contacts: contents.contacts, relay: url, proxy: proxy)
        let recovery = await account.rejoin(contents)
        return (account, recovery)
    }

    /// After a recovery: tells every contact of the new device (and of the computers revoked) and
    /// asks, for each group, one of its other admins to give the group to this device.
    private func rejoin(_ contents: RecoveryContents) async -> Recovery {
        var recovery = Recovery(groupsAsked: [], groupsWithoutAdmin: [], contacts: contents.contacts.count)
        if let chain = try? read({ tx in try tx.deviceChain(of: identity.publicKey)?.chain }) { await tellContacts(about: chain) }
        for group in contents.groups {
            // One admin only: two re-admitting at once would remove each other's work.
            guard let admin = group.admins.first(where: { $0 != identity.publicKey }) else {
                recovery.groupsWithoutAdmin.append(group.name)
                continue
            }
            do {
                try await ensureSession(with: admin)
                try write { tx in
                    let asking = try enqueuePairwise(tx, .rejoin(groupID: group.id), to: admin)
                    // Kept like a join request: the admin's welcome is taken because of it (§9.14).
                    try keepJoinRequest(tx, inviteID: group.id, asking)
                }
                recovery.groupsAsked.append(group.name)
            } catch {
                note("\(group.name): its admin \(DID(publicKey: admin).short) could not be asked yet: \(error)")
                recovery.groupsWithoutAdmin.append(group.name)
            }
        }
        try? await flushOutbox()
        return recovery
    }

    // MARK: An admin re-admitting a recovered member

    /// A member recovered from its paper key asks, from its new device `requester`, for a group
    /// (§9.15). Granted when this device administers the group, the member is in it, `requester`
    /// holds no leaf there and is certified, and every device of the member in the group is
    /// revoked by the member's chain as this device keeps it: the member is removed (a new epoch
    /// without its lost devices) and added again, and the welcome goes to `requester`.
    nonisolated func readmit(_ tx: StoreTransaction, _ member: Ed25519.PublicKey, requester: Ed25519.PublicKey, groupID: [UInt8]) throws {
        guard let (info, session, routing) = try groupRow(tx, groupID), !info.removed, let routing,
              session.chain.roster[identity.publicKey] == .admin
        else {
            noteLater("a request to rejoin a group this device does not administer was ignored")
            return
        }
        let conversation = Conversation.group(GroupID(groupID))
        let name = try mention(tx, member)
        guard let role = session.chain.roster[member], session.chain.leaves[requester] == nil, member != identity.publicKey,
              try certifies(tx, requester, for: member)
        else {
            try addLine(tx, conversation, .warning, "\(name) asked to rejoin \(info.name) in a way that does not hold; ignored", expirySeconds: 0)
            return
        }
        let kept = try tx.deviceChain(of: member)?.chain
        let active = session.chain.devices(of: member).filter { kept?.certifies($0) ?? ($0 == member) }
        guard active.isEmpty else {
            try addLine(tx, conversation, .warning, """
                \(name) asked to rejoin \(info.name) from a new device while a device of theirs in the group is still active; \
                not done (they can link the new device from that one)
                """, expirySeconds: 0)
            return
        }
        _ = try queueRemoval(tx, of: member, from: groupID, groupName: info.name, routing: routing)
        guard let (_, current, _) = try groupRow(tx, groupID) else { return }
        var scratch = current
        let (entry, welcome) = try scratch.add(member, role: role, by: identity)
        try commit(tx, entry, to: current, info: info, routing: routing)
        try enqueue(tx, routingUpdate(groupID: groupID, serial: scratch.chain.routeSerial, signer: routing, add: [member], remove: []))
        try enqueuePairwise(tx, .welcome(welcome, groupName: info.name, expirySeconds: info.expirySeconds,
                                         names: try knownNames(tx, scratch.chain.roster.keys)),
                            toDevice: requester, id: Random.bytes(16), ttl: 0)
        try shareCampaigns(tx, of: groupID, with: requester)
        if role == .admin {
            var seed = routing.seed.withUnsafeBytes { Array($0) }
            defer { wipe(&seed) }
            try enqueuePairwise(tx, .routingKey(groupID: groupID, seed: seed), toDevice: requester, id: Random.bytes(16), ttl: 0)
        }
        try addLine(tx, conversation, .notice, """
            \(name) lost their devices and recovered their identity from their paper key: re-admitted with their new device
            """, expirySeconds: 0)
    }
}
