import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Groups on several devices (Protocol.md §9.14): every device of a member holds a leaf of its own
/// in each of the member's groups. A device that creates or joins a group gives it to the
/// identity's other devices; a device that links a new one gives it every group.
extension Account {
    /// Whether this is a linked device (its key is not the identity key).
    nonisolated var isLinkedDevice: Bool { device.publicKey != identity.publicKey }

    /// From a state of the identity's first device (`first`: a group just created, or an admin's
    /// welcome to this member), makes this linked device's own: appends the add device entry for
    /// it and, when the group has other members (`announce`), sends that entry to the group from
    /// the first device's leaf, in the epoch before it. No other device uses that leaf in that
    /// epoch: an admin's welcome goes to the device that asked alone (§9.3), and the first device
    /// is given the group later by this one, in a later epoch.
    /// Returns this device's state and the welcome at the entry, for the identity's other devices.
    nonisolated func takeOver(_ tx: StoreTransaction, _ first: GroupSession, info: GroupInfo,
                              announce: Bool) throws -> (GroupSession, GroupWelcome) {
        var before = first, after = first
        let (mine, entry) = try GroupSession.handOver(&after, to: device.publicKey, identity: identity)
        if announce { try enqueueGroup(tx, &before, .membership(entry), info: info, signer: identity) }
        guard let welcome = after.welcome(forAdditionAt: entry.sequence) else { throw GroupError.notInGroup }
        return (mine, welcome)
    }

    /// Gives a group this device is in to the identity's other active computers that it has a
    /// session with: an add device entry for each that holds no leaf yet (sent to the group in the
    /// epoch before it), then, if any was added or this device took the group over from the first
    /// device's leaf (`tookOver`: the welcome at that entry; the first device itself does not have
    /// the group yet), a welcome at the last entry to each of them that holds a leaf, with what
    /// else the group needs (`handOverExtras`). Returns how many got it.
    @discardableResult
    nonisolated func shareWithOwnDevices(_ tx: StoreTransaction, _ state: inout GroupSession, info: GroupInfo,
                                         routing: Ed25519.PrivateKey?, tookOver: GroupWelcome?) throws -> Int {
        let others = try devices(tx, of: identity.publicKey).filter { try tx.hasSession(peer: $0) }
        var added = false
        for other in others where state.chain.leaves[other] == nil {
            var scratch = state
            // A device removed from this group before is never added again here.
            guard let (entry, _) = try? scratch.addDevice(other, by: identity) else { continue }
            try enqueueGroup(tx, &state, .membership(entry), info: info)
            try state.apply(entry)
            added = true
        }
        let last = state.chain.entries.last!
        guard let welcome = added ? state.welcome(forAdditionAt: last.sequence) : tookOver else { return 0 }
        let names = try knownNames(tx, state.chain.roster.keys)
        var given = 0
        for other in others where state.chain.leaves[other] != nil {
            try enqueuePairwise(tx, .welcome(welcome, groupName: info.name, expirySeconds: info.expirySeconds, names: names),
                                toDevice: other, id: Random.bytes(16), ttl: 0)
            try handOverExtras(tx, state.groupID, routing: routing, to: other)
            given += 1
        }
        return given
    }

    /// What a device of this identity needs of a group besides its welcome, sent after it: the
    /// routing key (admins), the group's campaigns, and the card keys of those this identity
    /// organizes.
    nonisolated func handOverExtras(_ tx: StoreTransaction, _ groupID: [UInt8], routing: Ed25519.PrivateKey?,
                                    to other: Ed25519.PublicKey) throws {
        if let routing {
            var seed = routing.seed.withUnsafeBytes { Array($0) }
            defer { wipe(&seed) }
            try enqueuePairwise(tx, .routingKey(groupID: groupID, seed: seed), toDevice: other, id: Random.bytes(16), ttl: 0)
        }
        for (campaign, cardKey) in try campaigns(tx, in: groupID) {
            try enqueuePairwise(tx, .sharedCampaign(groupID: groupID, campaign: campaign), toDevice: other, id: Random.bytes(16), ttl: 0)
            guard let cardKey else { continue }
            var seed = cardKey.seed.withUnsafeBytes { Array($0) }
            defer { wipe(&seed) }
            try enqueuePairwise(tx, .cardKey(campaign: campaign.hash, seed: seed), toDevice: other, id: Random.bytes(16), ttl: 0)
        }
    }

    /// Starts a session with each of this identity's other active computers that has none (those
    /// that published no prekeys are left out, with a note), so that this device can give them a
    /// group. Best effort: a relay out of reach leaves them for later.
    func ensureOwnSessions() async throws(ClientError) {
        guard try read({ tx in try !devices(tx, of: identity.publicKey).isEmpty }) else { return }
        do { try await ensureSession(with: identity.publicKey) } catch .relayUnreachable(let url, let reason) {
            throw .relayUnreachable(url: url, reason: reason)
        } catch {
            note("could not reach your other devices yet: \(error)")
        }
    }

    /// How long a device that linked another waits for the new one's prekeys before giving up on
    /// giving it the groups.
    static let linkedPrekeyWait: Duration = .seconds(60)

    /// After linking `newDevice` (§9.13): starts a session with it (its prekeys go up right after
    /// it receives the answer), gives it every group this device is in (an add device entry, sent
    /// to the group, and a welcome, with `handOverExtras`), and sends the identity's other devices
    /// its new chain. Returns how many groups it was given.
    func handGroups(to newDevice: Ed25519.PublicKey, chain: DeviceChain) async throws(ClientError) -> Int {
        let deadline = ContinuousClock.now + Self.linkedPrekeyWait
        while try read({ tx in try !tx.hasSession(peer: newDevice) }) {
            do { try await ensureSession(with: identity.publicKey) } catch .relayUnreachable(let url, let reason) {
                throw .relayUnreachable(url: url, reason: reason)
            } catch {}
            guard try read({ tx in try !tx.hasSession(peer: newDevice) }) else { break }
            guard ContinuousClock.now < deadline else {
                throw ClientError.invalidArgument("""
                    the new device published no keys within \(Self.linkedPrekeyWait); it has the identity but not the groups. \
                    Revoke it and link it again
                    """)
            }
            await waitForChange(until: min(deadline, .now + .milliseconds(250)))
        }
        let given: Int = try write { tx in
            var given = 0
            for (summary, _) in try tx.allGroups() where !summary.removed {
                guard let id = Hex.decode(summary.groupID), let (info, session, routing) = try groupRow(tx, id),
                      session.chain.leaves[device.publicKey] != nil, session.chain.leaves[newDevice] == nil
                else { continue }
                var state = session, scratch = session
                let welcome: GroupWelcome
                do {
                    let (entry, made) = try scratch.addDevice(newDevice, by: identity)
                    try enqueueGroup(tx, &state, .membership(entry), info: info)
                    try state.apply(entry)
                    welcome = made
                } catch {
                    noteLater("\(info.name) could not be given to the new device: \(error)")
                    continue
                }
                try saveGroup(tx, info, state, routing: routing)
                let names = try knownNames(tx, state.chain.roster.keys)
                try enqueuePairwise(tx, .welcome(welcome, groupName: info.name, expirySeconds: info.expirySeconds, names: names),
                                    toDevice: newDevice, id: Random.bytes(16), ttl: 0)
                try handOverExtras(tx, id, routing: routing, to: newDevice)
                given += 1
            }
            try tellOwnDevices(tx, about: chain, except: newDevice)
            return given
        }
        try await flushOutbox()
        return given
    }
}
