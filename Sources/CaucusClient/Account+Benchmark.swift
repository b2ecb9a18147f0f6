import CaucusClientStore
import CaucusCrypto
import CaucusRelayClient
import Foundation

/// What benchmarks need and workers never do.
extension Account {
    /// Founds a group of this user (its admin) and `members`, in one epoch, and stores it as
    /// `createGroup` and admitted invites would, without a relay and without telling the members:
    /// for measuring what a group of that size costs this user's client. Returns the group's id.
    package func foundGroupForBenchmark(name: String, members: [Ed25519.PublicKey]) throws(ClientError) -> GroupID {
        try foundGroupWithWelcomeForBenchmark(name: name, members: members).groupID
    }

    /// `foundGroupForBenchmark`, also returning the welcome an admitted member would get.
    package func foundGroupWithWelcomeForBenchmark(name: String, members: [Ed25519.PublicKey])
        throws(ClientError) -> (groupID: GroupID, welcome: GroupWelcome?)
    {
        let session: GroupSession, welcome: GroupWelcome?
        do { (session, welcome) = try GroupSession.found(founder: identity, members: members.map { ($0, .member) }) } catch {
            throw ClientError.invalidArgument("cannot found the group: \(error)")
        }
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: name)
        try write { tx in try saveGroup(tx, info, session, routing: Ed25519.PrivateKey()) }
        return (GroupID(session.groupID), welcome)
    }

    /// Joins a group from its founder's welcome and stores it, as the welcome's arrival over a
    /// pairwise session would, without a relay: for measuring what receiving costs a member.
    package func joinGroupForBenchmark(name: String, welcome: GroupWelcome, from founder: Ed25519.PublicKey) throws(ClientError) {
        let session: GroupSession
        do { session = try GroupSession(welcome: welcome, me: identity.publicKey, device: device.publicKey, from: founder) } catch {
            throw ClientError.invalidArgument("cannot join the group: \(error)")
        }
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: name)
        try write { tx in try saveGroup(tx, info, session, routing: nil) }
    }

    /// The messages waiting in the outbox, oldest first (what a relay would be sent).
    package func queuedMessagesForBenchmark() throws(ClientError) -> [OutgoingMessage] {
        try read { tx in
            try tx.outboxEntries().compactMap { entry in entry.kind == .send ? try OutgoingMessage(serialized: entry.body) : nil }
        }
    }

    /// Takes in a message as if the relay had delivered it (opened, stored, recorded as handled).
    package func receiveForBenchmark(_ message: OutgoingMessage, sequence: UInt64) throws(ClientError) -> Bool {
        let now = UInt64(ClientStore.now())
        return try receive(Delivery(messageID: message.messageID, sequence: sequence, payload: message.payload,
                                    groupID: message.groupID, acceptedAtMs: now, expiresAtMs: now + 86_400_000))
    }

    /// The size of a group's stored state (sealed, all parts), in bytes.
    package func storedGroupStateBytes(_ groupID: GroupID) throws(ClientError) -> Int {
        try read { tx in try tx.storedGroupStateBytes(groupID) }
    }

    // MARK: Devices (caucus-bench-devices)

    /// Signs and keeps this identity's device chain with `devices` added after its first device,
    /// as linking them would, without a relay. Returns the chain.
    package func certifyDevicesForBenchmark(_ devices: [Ed25519.PrivateKey]) throws(ClientError) -> DeviceChain {
        var chain = DeviceChain(identity: identity, signedAt: 1)
        do {
            for device in devices {
                let proof = device.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: device.publicKey))
                _ = try chain.add(device.publicKey, kind: .computer, deviceSignature: proof, by: identity, signedAt: 1)
            }
        } catch {
            throw ClientError.invalidArgument("cannot certify the devices: \(error)")
        }
        let made = chain
        try write { tx in try tx.saveDeviceChain(made, of: identity.publicKey, fetchedAt: ClientStore.now()) }
        return chain
    }

    /// Keeps other people's verified device chains, as fetching them would.
    package func keepDeviceChainsForBenchmark(_ chains: [DeviceChain]) throws(ClientError) {
        try write { tx in
            for chain in chains { try tx.saveDeviceChain(chain, of: chain.identity, fetchedAt: ClientStore.now()) }
        }
    }

    /// Starts a session with each device from its bundle, as the relay's bundles would, in one transaction.
    package func startSessionsForBenchmark(_ bundles: [PrekeyBundle]) throws(ClientError) {
        try write { tx in
            for bundle in bundles {
                try saveSessions(tx, peer: bundle.identity, [try Session.initiate(identity: device, bundle: bundle)])
            }
        }
    }

    /// Founds a group of this user (its admin) and `members`, where each of `devices` (signed by
    /// its owner, a member, or this user's own when the owner is nil) is a device too, all in one
    /// epoch as `foundGroupForBenchmark` does. Returns the group's id.
    package func foundGroupWithDevicesForBenchmark(name: String, members: [Ed25519.PublicKey],
                                                   devices: [(owner: Ed25519.PrivateKey?, device: Ed25519.PublicKey)])
        throws(ClientError) -> GroupID
    {
        let session: GroupSession
        do {
            session = try GroupSession.found(founder: identity, members: members,
                                             devices: devices.map { ($0.owner ?? identity, $0.device) })
        } catch {
            throw ClientError.invalidArgument("cannot found the group: \(error)")
        }
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: name)
        try write { tx in try saveGroup(tx, info, session, routing: Ed25519.PrivateKey()) }
        return GroupID(session.groupID)
    }

    /// Removes a member as `caucus group remove` queues it (entry, route change, the new epoch's
    /// key to every remaining device), without a relay.
    package func removeMemberForBenchmark(_ groupID: GroupID, _ member: Ed25519.PublicKey) throws(ClientError) {
        try write { tx in
            guard let (_, _, routing) = try groupRow(tx, groupID), let routing else { throw ClientError.notAdmin(group: "the group") }
            _ = try queueRemoval(tx, of: member, from: groupID.bytes, groupName: "the group", routing: routing)
        }
    }

    /// Removes a device from the group as `caucus device revoke` queues it for each group (entry,
    /// the new epoch's key to every remaining device), without a relay.
    package func removeDeviceForBenchmark(_ groupID: GroupID, _ device: Ed25519.PublicKey) throws(ClientError) {
        try write { tx in try queueDeviceRemoval(tx, of: device, from: groupID.bytes) }
    }

    /// How many requests wait in the outbox.
    package func outboxCountForBenchmark() throws(ClientError) -> Int {
        try read { tx in try tx.outboxCount() }
    }
}

/// Figures the client benchmarks (`caucus-bench-group`, `caucus-bench-devices`) take alike.
package enum BenchmarkFigures {
    /// Bytes this process has passed to write(2) and its kind so far (`wchar` of /proc/self/io).
    package static func bytesWritten() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("wchar:") }
        return line.flatMap { Int($0.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
    }

    /// The middle value (the upper one of an even count).
    package static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
