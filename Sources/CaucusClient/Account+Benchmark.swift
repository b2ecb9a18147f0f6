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
}
