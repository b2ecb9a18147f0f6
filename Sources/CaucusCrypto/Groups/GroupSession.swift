/// One device's view of one group: its verified membership chain, the epochs it holds keys for, and
/// the messages it has seen (for `prev` pointers). Pure state: the client stores and transports it.
///
/// Membership is by identity (`me`); every device sends with a sender chain of its own (`device`,
/// which for a member's first device is its identity key, Protocol.md §8.1).
/// Sending and receiving cost the same whatever the group's size; a removal costs its author one
/// pairwise message per remaining device and everyone else nothing but the new epoch's derivation.
public struct GroupSession: Sendable {
    /// Context tag of the sender's signature inside every group message.
    public static let messageContext = SigningContext("caucus/group-message/v1")
    /// Group plaintexts are padded to a multiple of this many bytes.
    public static let paddingBlock = 256
    /// How many of the last seen message hashes a new message points back to.
    public static let previousCount = 3
    /// How many message hashes are remembered to resolve `prev` pointers.
    static let rememberedMessages = 10_000

    /// The member this state belongs to (its identity key).
    public let me: Ed25519.PublicKey
    /// The device this state belongs to, which sends and signs its messages: `me` on a member's first device.
    public let device: Ed25519.PublicKey
    /// The verified membership history.
    public internal(set) var chain: MembershipChain
    /// The epoch this member sends in.
    public internal(set) var currentEpoch: UInt64
    var epochs: [UInt64: GroupEpoch] = [:]
    /// Hashes of the latest messages seen, newest last (what the next message points back to).
    var recent: [[UInt8]] = []
    /// Hashes of messages seen, oldest first, bounded.
    var seen = Set<[UInt8]>()
    var seenOrder: [[UInt8]] = []
    var seenCursor = 0
    /// For removals whose epoch key has not arrived: the devices' leaves and tree size right after them.
    var awaitingKeys: [UInt64: (leaves: [Ed25519.PublicKey: UInt32], leafCount: UInt32)] = [:]

    /// The group's id.
    public var groupID: [UInt8] { chain.groupID }

    // MARK: Founding and joining

    /// Founds a group with `founder` as its only admin, in epoch 0 with a fresh secret, on the
    /// founder's first device (its identity key).
    public init(founder: Ed25519.PrivateKey) {
        me = founder.publicKey
        device = founder.publicKey
        chain = MembershipChain(founder: founder)
        currentEpoch = 0
        epochs[0] = GroupEpoch(number: 0, secret: SecureBytes(randomCount: 32), groupID: chain.groupID, leaves: chain.leaves, leafCount: chain.leafCount)
    }

    /// Founds a group with its first members in one step: one epoch for all of them, whose welcome
    /// the founder sends to each over their pairwise sessions. Adding them one by one would derive
    /// a new epoch per addition.
    public static func found(
        founder: Ed25519.PrivateKey, members: [(Ed25519.PublicKey, GroupRole)]
    ) throws(GroupError) -> (GroupSession, GroupWelcome?) {
        var chain = MembershipChain(founder: founder)
        for (member, role) in members {
            do { _ = try chain.make(.add(member, role), by: founder) } catch { throw GroupError.membership(error) }
        }
        let secret = SecureBytes(randomCount: 32)
        let epoch = chain.entries.last!.sequence
        let session = GroupSession(me: founder.publicKey, device: founder.publicKey, chain: chain, epoch: epoch, secret: secret)
        return (session, members.isEmpty ? nil : GroupWelcome(entries: chain.entries, epoch: epoch, secret: secret))
    }

    /// `found`, with each member's other devices added too (each entry signed by its owner), all in
    /// the one epoch of the last entry: the state a group whose members have several devices
    /// reaches, without an epoch per addition (for benchmarks).
    package static func found(
        founder: Ed25519.PrivateKey, members: [Ed25519.PublicKey], devices: [(owner: Ed25519.PrivateKey, device: Ed25519.PublicKey)]
    ) throws(GroupError) -> GroupSession {
        var chain = MembershipChain(founder: founder)
        do {
            for member in members { _ = try chain.make(.add(member, .member), by: founder) }
            for (owner, device) in devices { _ = try chain.make(.addDevice(device), by: owner) }
        } catch { throw GroupError.membership(error) }
        return GroupSession(me: founder.publicKey, device: founder.publicKey, chain: chain, epoch: chain.entries.last!.sequence,
                            secret: SecureBytes(randomCount: 32))
    }

    private init(me: Ed25519.PublicKey, device: Ed25519.PublicKey, chain: MembershipChain, epoch: UInt64, secret: SecureBytes) {
        self.me = me
        self.device = device
        self.chain = chain
        currentEpoch = epoch
        epochs[epoch] = GroupEpoch(number: epoch, secret: secret, groupID: chain.groupID, leaves: chain.leaves, leafCount: chain.leafCount)
    }

    /// Joins, as `device` of member `me`, from a welcome sent over a pairwise session whose peer is
    /// `from`: an admin's welcome of a new member (`device` is then `me`), or a member's welcome of
    /// one of its own devices.
    public init(welcome: GroupWelcome, me: Ed25519.PublicKey, device: Ed25519.PublicKey, from author: Ed25519.PublicKey) throws(GroupError) {
        let chain: MembershipChain
        do { chain = try MembershipChain.verify(welcome.entries) } catch let error { throw GroupError.membership(error) }
        // The welcome's epoch is the one started by the last entry, an add or add device entry made
        // by whoever sent it, and `device` is a device of `me` after it. After an add device entry,
        // the receiving device is its subject, or the welcome comes from its own member (which hands
        // the group to each of its devices itself).
        guard let entry = chain.entries.last, entry.sequence == welcome.epoch, entry.author == author, entry.derivesEpoch,
              chain.leaves[device] != nil, chain.owner(of: device) == me
        else { throw GroupError.unexpectedEpochKey }
        if case let .addDevice(added) = entry.action, added != device, author != me { throw GroupError.unexpectedEpochKey }
        self.init(me: me, device: device, chain: chain, epoch: welcome.epoch, secret: welcome.secret)
    }

    /// Takes part in a group as `device`, another device of the member whose identity key
    /// `identity` is, from a state of the member's first device (`first`, whose device is the
    /// identity key: a new group, or an admin's welcome to the member): appends an add device entry
    /// for `device`, signed by the identity key, and returns the state of `device` in the epoch it
    /// starts. `first` moves past the entry too; it is the state that sends the entry to the group
    /// (in the epoch before it, from the first device's leaf), and is then dropped.
    public static func handOver(
        _ first: inout GroupSession, to device: Ed25519.PublicKey, identity: Ed25519.PrivateKey
    ) throws(GroupError) -> (GroupSession, MembershipEntry) {
        guard first.device == identity.publicKey, first.me == identity.publicKey else { throw GroupError.notInGroup }
        var next = first
        let (entry, welcome) = try next.addDevice(device, by: identity)
        let session = try GroupSession(welcome: welcome, me: identity.publicKey, device: device, from: identity.publicKey)
        first = next
        return (session, entry)
    }

    // MARK: Membership changes

    /// Adds `member` (admins only) and starts the epoch derived one-way from the current one.
    /// Send the returned entry to the group and the welcome to the new member over a pairwise session.
    public mutating func add(_ member: Ed25519.PublicKey, role: GroupRole, by admin: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupWelcome)
    {
        try admit(.add(member, role), by: admin)
    }

    /// Gives the group another device of `owner`, the member whose identity key signs, and starts
    /// the epoch derived one-way from the current one. Send the entry to the group and the welcome
    /// to the new device over a pairwise session.
    public mutating func addDevice(_ device: Ed25519.PublicKey, by owner: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupWelcome)
    {
        try admit(.addDevice(device), by: owner)
    }

    /// Removes `member` and all its devices (admins only) and starts an epoch with a fresh secret.
    /// Send the entry to the group and `epochKey` to each remaining device over the pairwise sessions.
    public mutating func remove(_ member: Ed25519.PublicKey, by admin: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupEpochKey)
    {
        try exclude(.remove(member), by: admin)
    }

    /// Removes one device (by its owner or an admin; the owner stays a member, even with no device
    /// left) and starts an epoch with a fresh secret. Send the entry to the group and `epochKey` to
    /// each remaining device over the pairwise sessions.
    public mutating func removeDevice(_ device: Ed25519.PublicKey, by author: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupEpochKey)
    {
        try exclude(.removeDevice(device), by: author)
    }

    /// Makes an add or add device entry and moves to the epoch it derives.
    private mutating func admit(_ action: MembershipEntry.Action, by author: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupWelcome)
    {
        var next = self
        let entry: MembershipEntry
        do { entry = try next.chain.make(action, by: author) } catch { throw GroupError.membership(error) }
        let secret = try next.advanceByAddition(entry)
        self = next
        return (entry, GroupWelcome(entries: chain.entries, epoch: entry.sequence, secret: secret))
    }

    /// Makes a remove or remove device entry and starts its epoch with a fresh secret.
    private mutating func exclude(_ action: MembershipEntry.Action, by author: Ed25519.PrivateKey)
        throws(GroupError) -> (MembershipEntry, GroupEpochKey)
    {
        var next = self
        let entry: MembershipEntry
        do { entry = try next.chain.make(action, by: author) } catch { throw GroupError.membership(error) }
        let secret = SecureBytes(randomCount: 32)
        next.epochs[entry.sequence] = GroupEpoch(number: entry.sequence, secret: secret, groupID: groupID, leaves: next.chain.leaves, leafCount: next.chain.leafCount)
        next.currentEpoch = entry.sequence
        self = next
        return (entry, GroupEpochKey(groupID: groupID, epoch: entry.sequence, secret: secret))
    }

    /// Changes a member's role (admins only); the epoch does not change.
    public mutating func setRole(_ member: Ed25519.PublicKey, to role: GroupRole, by admin: Ed25519.PrivateKey)
        throws(GroupError) -> MembershipEntry
    {
        do { return try chain.make(.setRole(member, role), by: admin) } catch { throw GroupError.membership(error) }
    }

    /// Applies an entry made by someone else. An add or add device entry moves to its derived epoch
    /// at once; a remove or remove device entry waits for the epoch key from its author
    /// (`receive(epochKey:from:)`).
    public mutating func apply(_ entry: MembershipEntry) throws(GroupError) {
        var next = self
        do { try next.chain.append(entry) } catch { throw GroupError.membership(error) }
        if entry.derivesEpoch { _ = try next.advanceByAddition(entry) }
        if entry.drawsEpochSecret { next.awaitingKeys[entry.sequence] = (next.chain.leaves, next.chain.leafCount) }
        self = next
    }

    /// Accepts the secret of an epoch started by a remove or remove device entry, sent by that
    /// entry's author; only a device that remains after it may.
    public mutating func receive(epochKey: GroupEpochKey, from author: Ed25519.PublicKey) throws(GroupError) {
        guard epochKey.groupID == groupID, epochKey.epoch < chain.nextSequence else { throw GroupError.unexpectedEpochKey }
        let entry = chain.entries[Int(epochKey.epoch)]
        guard entry.author == author, entry.drawsEpochSecret else { throw GroupError.unexpectedEpochKey }
        guard epochs[epochKey.epoch] == nil else { return }
        guard let (leaves, leafCount) = awaitingKeys[epochKey.epoch] else { throw GroupError.unexpectedEpochKey }
        guard leaves[device] != nil else { throw GroupError.notInGroup }
        epochs[epochKey.epoch] = GroupEpoch(
            number: epochKey.epoch, secret: epochKey.secret, groupID: groupID, leaves: leaves, leafCount: leafCount)
        awaitingKeys[epochKey.epoch] = nil
        if epochKey.epoch > currentEpoch { currentEpoch = epochKey.epoch }
    }

    /// Forgets the keys of epochs before `epoch` (late messages from them can then no longer be read).
    public mutating func discardEpochs(before epoch: UInt64) {
        epochs = epochs.filter { $0.key >= epoch || $0.key == currentEpoch }
    }

    /// The welcome of the member or device the entry at `sequence` added, made again from the epoch
    /// before it, for its author handing it out a second time after the relay lost the first
    /// (Protocol.md §9.10). Nil unless that entry is an add or add device entry and the epoch before
    /// it is held here.
    public func welcome(forAdditionAt sequence: UInt64) -> GroupWelcome? {
        guard sequence < chain.nextSequence else { return nil }
        let entry = chain.entries[Int(sequence)]
        guard entry.derivesEpoch, let before = epochs[requiredEpochBefore(entry)] else { return nil }
        return GroupWelcome(entries: Array(chain.entries[...Int(sequence)]), epoch: sequence,
                            secret: before.additionSecret(entryHash: entry.hash))
    }

    /// The epoch the last chain entry requires for sending; pending if its key has not arrived.
    public var requiredEpoch: UInt64 {
        chain.entries.last(where: \.startsEpoch)!.sequence
    }

    private mutating func advanceByAddition(_ entry: MembershipEntry) throws(GroupError) -> SecureBytes {
        guard let current = epochs[currentEpoch], currentEpoch == requiredEpochBefore(entry) else {
            throw GroupError.epochKeyPending(requiredEpochBefore(entry))
        }
        let secret = current.additionSecret(entryHash: entry.hash)
        epochs[entry.sequence] = GroupEpoch(number: entry.sequence, secret: secret, groupID: groupID, leaves: chain.leaves, leafCount: chain.leafCount)
        currentEpoch = entry.sequence
        return secret
    }

    /// The epoch in force just before `entry` (the creation entry always starts one).
    private func requiredEpochBefore(_ entry: MembershipEntry) -> UInt64 {
        chain.entries[..<Int(entry.sequence)].last(where: \.startsEpoch)!.sequence
    }
}
