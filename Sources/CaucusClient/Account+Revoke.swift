import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Revoking a device (`caucus device revoke`, Protocol.md §9.14): the identity's chain says so
/// and the relay refuses the device at once; each group it was in moves to an epoch whose key goes
/// to every remaining device; contacts and the identity's other devices are told.
extension Account {
    /// What `revokeDevice` did.
    public struct RevokedDevice: Sendable, Equatable {
        public var name: String
        /// The groups that moved to a new epoch without it.
        public var groups: Int
    }

    /// The active device of this identity that `target` names: its name (as `device list` shows
    /// it) or the start of its key's hex. Never this device.
    func ownDevice(named target: String, in chain: DeviceChain) throws(ClientError) -> (Ed25519.PublicKey, String) {
        let named: [(Ed25519.PublicKey, String)] = try read { tx in
            try chain.activeDevices().map { listed in
                (listed.key, try deviceName(tx, listed.key) ?? (listed.key == identity.publicKey ? "first device" : "unnamed"))
            }
        }
        let lowered = target.lowercased()
        var matches = named.filter { $0.1.caseInsensitiveCompare(target) == .orderedSame }
        if matches.isEmpty, lowered.count >= 4, lowered.allSatisfy(\.isHexDigit) {
            matches = named.filter { Hex.encode($0.0.rawRepresentation).hasPrefix(lowered) }
        }
        guard let match = matches.first else {
            throw ClientError.invalidArgument("no active device \(target) (see `caucus device list`)")
        }
        guard matches.count == 1 else { throw ClientError.ambiguousTarget(target, candidates: matches.map(\.1)) }
        guard match.0 != device.publicKey else {
            throw ClientError.invalidArgument("this is the device you are using; revoke it from another of your devices")
        }
        return match
    }

    /// Revokes one of this identity's devices (by name or key fragment): signs the revocation into
    /// the chain and publishes it (the relay then refuses the device and closes its connections),
    /// removes it from every group it is in with a new epoch for everyone else, forgets the
    /// sessions with it, and tells contacts and the identity's other devices.
    public func revokeDevice(_ target: String) async throws(ClientError) -> RevokedDevice {
        let client = try await connected()
        var chain = try await currentOwnChain()
        let (revoked, name) = try ownDevice(named: target, in: chain)
        do { _ = try chain.revoke(revoked, by: identity, signedAt: UInt64(Date().timeIntervalSince1970)) } catch {
            throw ClientError.invalidArgument("the device cannot be revoked: \(error)")
        }
        try await publish(chain, on: client)
        let affected: [[UInt8]] = try write { tx in
            try tx.saveDeviceChain(chain, of: identity.publicKey, fetchedAt: ClientStore.now())
            try tx.deleteSessions(peer: revoked)
            return try tx.allGroups().compactMap { info, session in
                info.removed || session.chain.leaves[revoked] == nil ? nil : session.groupID
            }
        }
        // Every remaining device gets the new epoch's key over a pairwise session.
        var people = Set<Ed25519.PublicKey>()
        for id in affected {
            if let (_, session, _) = try read({ tx in try groupRow(tx, id) }) { people.formUnion(session.chain.roster.keys) }
        }
        people.remove(identity.publicKey)
        for person in people {
            do { try await ensureSession(with: person) } catch .relayUnreachable(let url, let reason) {
                throw .relayUnreachable(url: url, reason: reason)
            } catch {
                note("\(DID(publicKey: person).short) cannot be given the new keys yet: \(error)")
            }
        }
        try await ensureOwnSessions()
        let moved: Int = try write { tx in
            var moved = 0
            for id in affected {
                guard let (info, _, _) = try groupRow(tx, id) else { continue }
                let refusal: String
                do {
                    try queueDeviceRemoval(tx, of: revoked, from: id)
                    moved += 1
                    continue
                } catch let error as GroupError {
                    refusal = "\(error)"
                } catch ClientError.groupRefused(let why) {
                    refusal = why
                }
                try addLine(tx, .group(GroupID(id)), .warning, """
                    the revoked device \(name) keeps its place in \(info.name) for now (\(refusal)): the relay refuses it \
                    and no new key of the group is sent to it, but the group's current key is not replaced
                    """, expirySeconds: 0)
            }
            try tellOwnDevices(tx, about: chain)
            return moved
        }
        try await flushOutbox()
        await tellContacts(about: chain)
        return RevokedDevice(name: name, groups: moved)
    }

    /// Queues the removal of `device` from a group (§9.14): the remove device entry to the group,
    /// and the new epoch's key to every remaining device. A group that refuses the removal (a
    /// `GroupError`, or `ClientError.groupRefused` while a change has not arrived) throws before
    /// anything is written.
    nonisolated func queueDeviceRemoval(_ tx: StoreTransaction, of device: Ed25519.PublicKey, from id: [UInt8]) throws {
        guard let (info, session, routing) = try groupRow(tx, id) else { throw ClientError.unknownTarget(Hex.encode(id)) }
        var state = session, scratch = session
        let (entry, epochKey) = try scratch.removeDevice(device, by: identity)
        try enqueueGroup(tx, &state, .membership(entry), info: info)
        try state.apply(entry)
        try state.receive(epochKey: epochKey, from: identity.publicKey)
        try saveGroup(tx, info, state, routing: routing)
        try describe(tx, entry, in: .group(GroupID(id)))
        try enqueueEpochKey(tx, epochKey, in: state)
        try keepEpochKey(tx, epochKey)
    }

    /// Sends the key of an epoch started by a removal to every device that holds a leaf after it
    /// (§8.3): every other member's and this identity's other devices in the group, except one its
    /// owner's kept chain revokes. A device with no session with this one gets nothing, with a note.
    nonisolated func enqueueEpochKey(_ tx: StoreTransaction, _ key: GroupEpochKey, in state: GroupSession) throws {
        var unreachable = Set<Ed25519.PublicKey>()
        // Each owner's kept chain is read once, not once per device of theirs.
        var chains: [Ed25519.PublicKey: DeviceChain?] = [:]
        for leafDevice in state.chain.leaves.keys where leafDevice != device.publicKey {
            guard let owner = state.chain.owner(of: leafDevice) else { continue }
            if chains[owner] == nil { chains[owner] = .some(try tx.deviceChain(of: owner)?.chain) }
            if let chain = chains[owner]!, chain.device(leafDevice)?.isActive == false { continue }
            guard try tx.hasSession(peer: leafDevice) else {
                unreachable.insert(owner)
                continue
            }
            try enqueuePairwise(tx, .epochKey(key), toDevice: leafDevice, id: Random.bytes(16), ttl: 0)
        }
        for owner in unreachable {
            noteLater("a device of \(DID(publicKey: owner).short) could not be given the group's new key (no session with it)")
        }
    }
}
