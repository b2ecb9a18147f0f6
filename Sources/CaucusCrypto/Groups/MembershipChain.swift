import Dispatch
import Foundation

/// A member's role in a group.
public enum GroupRole: UInt8, Sendable, Hashable {
    /// Reads and writes messages.
    case member = 1
    /// Also adds, removes and changes roles, and starts new epochs.
    case admin = 2
}

/// One change to a group's membership, signed by an admin, or by a member for its own devices (Protocol.md §8.1).
public struct MembershipEntry: Hashable, Sendable {
    /// What the entry does.
    public enum Action: Hashable, Sendable {
        /// Founds the group; the founder is its first admin (signed by the founder).
        case create
        /// Adds a member with a role.
        case add(Ed25519.PublicKey, GroupRole)
        /// Removes a member; starts a new epoch with a fresh secret.
        case remove(Ed25519.PublicKey)
        /// Changes a member's role.
        case setRole(Ed25519.PublicKey, GroupRole)
        /// Gives the author, a member, another device (its key) with a leaf of its own; starts an
        /// epoch derived like an addition's.
        case addDevice(Ed25519.PublicKey)
        /// Takes a device's leaf away, by its owner or an admin; starts an epoch with a fresh secret.
        case removeDevice(Ed25519.PublicKey)
    }

    /// Context tag of entry signatures.
    public static let context = SigningContext("caucus/membership/v1")

    /// The group's random 32-byte id, fixed at creation.
    public let groupID: [UInt8]
    /// 0 for the creation entry, then +1 each.
    public let sequence: UInt64
    /// Hash of the previous entry; 32 zero bytes for the creation entry.
    public let previous: [UInt8]
    /// The change.
    public let action: Action
    /// The identity that signed it: an admin, or the member whose device an add or remove device entry names.
    public let author: Ed25519.PublicKey
    /// The author's signature over `statement`.
    public let signature: Ed25519.Signature

    /// The canonical bytes the author signs.
    public var statement: CanonicalMessage {
        let (code, subject, role) = actionFields
        return CanonicalMessage(Self.context, fields: [
            .bytes(groupID), .uint64(sequence), .bytes(previous), .uint64(UInt64(code)),
            .publicKey(subject), .uint64(UInt64(role)), .publicKey(author),
        ])
    }

    /// Whether the entry starts a new epoch: every change except a role change (Protocol.md §8.2).
    public var startsEpoch: Bool {
        if case .setRole = action { return false }
        return true
    }

    /// Whether the entry moves the group's relay route serial (Protocol.md §9.3): every entry but
    /// add device and remove device (routes list identities, so a member's devices never change them).
    public var movesRoute: Bool {
        switch action {
        case .addDevice, .removeDevice: false
        case .create, .add, .remove, .setRole: true
        }
    }

    /// Whether the entry starts an epoch whose secret every member derives from the one before (add, add device).
    var derivesEpoch: Bool {
        switch action {
        case .add, .addDevice: true
        case .create, .remove, .setRole, .removeDevice: false
        }
    }

    /// Whether the entry starts an epoch with a fresh secret that its author sends to every remaining device (remove, remove device).
    var drawsEpochSecret: Bool {
        switch action {
        case .remove, .removeDevice: true
        case .create, .add, .setRole, .addDevice: false
        }
    }

    /// The action as its code (0 create, 1 add, 2 remove, 3 set role, 4 add device, 5 remove device), subject and role byte.
    var actionFields: (code: UInt8, subject: Ed25519.PublicKey, role: UInt8) {
        switch action {
        case .create: (0, author, GroupRole.admin.rawValue)
        case let .add(member, role): (1, member, role.rawValue)
        case let .remove(member): (2, member, 0)
        case let .setRole(member, role): (3, member, role.rawValue)
        case let .addDevice(device): (4, device, 0)
        case let .removeDevice(device): (5, device, 0)
        }
    }

    /// BLAKE2b-256 of the statement followed by the signature: what the next entry links to.
    public var hash: [UInt8] { statement.hash(signedWith: signature) }

    /// An entry as received, to be checked by `MembershipChain.append`.
    public init(groupID: [UInt8], sequence: UInt64, previous: [UInt8], action: Action,
                author: Ed25519.PublicKey, signature: Ed25519.Signature) {
        self.groupID = groupID
        self.sequence = sequence
        self.previous = previous
        self.action = action
        self.author = author
        self.signature = signature
    }

    /// A new entry signed by `author`.
    init(groupID: [UInt8], sequence: UInt64, previous: [UInt8], action: Action, signedBy author: Ed25519.PrivateKey) {
        let unsigned = MembershipEntry(
            groupID: groupID, sequence: sequence, previous: previous, action: action,
            author: author.publicKey, signature: Ed25519.Signature(unchecked: []))
        self.init(groupID: groupID, sequence: sequence, previous: previous, action: action,
                  author: author.publicKey, signature: author.signature(for: unsigned.statement))
    }
}

/// Why a membership entry or chain was refused. The chain is unchanged.
public enum MembershipError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The chain does not start with a valid creation entry.
    case badCreation
    /// The entry is for another group.
    case wrongGroup
    /// The signature does not verify.
    case badSignature(sequence: UInt64)
    /// The author may not make this change: not an admin at that point (or not a member at all), or,
    /// for a device, neither a member adding its own nor the device's owner or an admin removing it.
    case notAdmin(sequence: UInt64)
    /// An entry already in the chain, sent again.
    case replay(sequence: UInt64)
    /// A different entry at a sequence number the chain already has: two histories.
    case fork(sequence: UInt64)
    /// Entries are missing before this one.
    case gap(expected: UInt64, got: UInt64)
    /// The entry does not link to the hash of the entry before it.
    case brokenLink(sequence: UInt64)
    /// The change makes no sense (adding a member twice, removing a stranger, removing the last admin,
    /// adding a device that is already in the group…).
    case invalidChange(sequence: UInt64, String)

    public var description: String {
        switch self {
        case .badCreation: return "the membership chain does not start with a valid creation entry"
        case .wrongGroup: return "membership entry belongs to another group"
        case .badSignature(let s): return "membership entry \(s) has a bad signature"
        case .notAdmin(let s): return "membership entry \(s) is signed by someone who may not make it (not an admin, nor the device's owner)"
        case .replay(let s): return "membership entry \(s) was already applied (replay)"
        case .fork(let s): return "membership entry \(s) conflicts with the one already accepted (fork)"
        case let .gap(expected, got): return "membership entries \(expected)..<\(got) are missing"
        case .brokenLink(let s): return "membership entry \(s) does not link to the entry before it"
        case let .invalidChange(s, why): return "membership entry \(s) is invalid: \(why)"
        }
    }
}

/// A group's verified membership history and the roster it results in.
public struct MembershipChain: Sendable {
    /// The group's id.
    public let groupID: [UInt8]
    /// Every accepted entry, in order.
    public private(set) var entries: [MembershipEntry]
    /// Current members and their roles.
    public private(set) var roster: [Ed25519.PublicKey: GroupRole]
    /// Hash of the last entry.
    public private(set) var head: [UInt8]
    /// Number of admins in the roster.
    private var adminCount = 1
    /// Each current device's leaf in the epochs' secret trees, by device key: a member's identity
    /// key is its first device. The founder is 0, then every add and add device entry gives its
    /// subject the next number; a leaf is never reused.
    public private(set) var leaves: [Ed25519.PublicKey: UInt32]
    /// Leaves handed out so far (the size of the secret tree of an epoch started now).
    public private(set) var leafCount: UInt32 = 1
    /// Every key an add device entry named, current or removed, and its owner (the entry's
    /// author): a key has one owner for the group's whole history (Protocol.md §8.1).
    private var deviceOwners: [Ed25519.PublicKey: Ed25519.PublicKey] = [:]
    /// Each member's current devices other than its identity key, in the order they were added.
    private var addedDevices: [Ed25519.PublicKey: [Ed25519.PublicKey]] = [:]
    /// Members removed at some point (some may be members again): their identity keys never become devices.
    private var removedMembers = Set<Ed25519.PublicKey>()

    /// Founds a new group with `founder` as its only admin.
    public init(founder: Ed25519.PrivateKey) {
        let groupID = Random.bytes(32)
        let entry = MembershipEntry(
            groupID: groupID, sequence: 0, previous: [UInt8](repeating: 0, count: 32), action: .create, signedBy: founder)
        try! self.init(creation: entry)
    }

    /// Starts verifying a received chain from its creation entry.
    public init(creation entry: MembershipEntry) throws(MembershipError) {
        guard entry.sequence == 0, entry.groupID.count == 32, entry.previous == [UInt8](repeating: 0, count: 32),
              case .create = entry.action, entry.author.isValidSignature(entry.signature, for: entry.statement)
        else { throw MembershipError.badCreation }
        groupID = entry.groupID
        entries = [entry]
        roster = [entry.author: .admin]
        leaves = [entry.author: 0]
        head = entry.hash
    }

    /// Verifies a whole chain, entry by entry.
    /// The signatures, the costly part, are checked on all cores first; the links, order and
    /// admin rights are then checked in order, and the first failure is reported as `append` would.
    public static func verify(_ entries: [MembershipEntry]) throws(MembershipError) -> MembershipChain {
        guard let first = entries.first else { throw MembershipError.badCreation }
        let signed = validSignatures(entries)
        var chain = try MembershipChain(creation: first)
        for (index, entry) in entries.enumerated().dropFirst() {
            try chain.append(entry, signatureValid: signed[index])
        }
        return chain
    }

    /// Whether each entry's signature verifies, computed in parallel.
    private static func validSignatures(_ entries: [MembershipEntry]) -> [Bool] {
        let workers = Swift.max(1, Swift.min(ProcessInfo.processInfo.activeProcessorCount, entries.count / 64))
        return [Bool](unsafeUninitializedCapacity: entries.count) { buffer, initialized in
            nonisolated(unsafe) let results = buffer
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for index in stride(from: worker, to: entries.count, by: workers) {
                    let entry = entries[index]
                    (results.baseAddress! + index).initialize(to: entry.author.isValidSignature(entry.signature, for: entry.statement))
                }
            }
            initialized = entries.count
        }
    }

    /// The next sequence number.
    public var nextSequence: UInt64 { UInt64(entries.count) }

    /// The relay route's serial that matches this chain (Protocol.md §9.3): how many of its entries
    /// move the route.
    public var routeSerial: UInt64 { UInt64(entries.count { $0.movesRoute }) }

    /// The index of the entry that set route serial `serial` (≥ 1): the `serial`-th entry that
    /// moves the route; the last entry if the chain has fewer.
    public func entryIndex(routeSerial serial: UInt64) -> Int {
        var seen: UInt64 = 0
        for (index, entry) in entries.enumerated() where entry.movesRoute {
            seen += 1
            if seen == serial { return index }
        }
        return entries.count - 1
    }

    /// The member who owns `device`, a key that is or was a device in this group: the member itself
    /// for its identity key, else the author of the add device entry that named it. Nil for any other key.
    public func owner(of device: Ed25519.PublicKey) -> Ed25519.PublicKey? {
        if let owner = deviceOwners[device] { return owner }
        return roster[device] != nil || removedMembers.contains(device) ? device : nil
    }

    /// A current member's current devices: its identity key while that holds a leaf, then the
    /// devices it added, in order. Empty for anyone else.
    public func devices(of member: Ed25519.PublicKey) -> [Ed25519.PublicKey] {
        (leaves[member] != nil ? [member] : []) + addedDevices[member, default: []]
    }

    /// Signs and appends a change made by `author` (an admin, or a member for its own device).
    public mutating func make(_ action: MembershipEntry.Action, by author: Ed25519.PrivateKey) throws(MembershipError) -> MembershipEntry {
        let entry = MembershipEntry(groupID: groupID, sequence: nextSequence, previous: head, action: action, signedBy: author)
        try append(entry)
        return entry
    }

    /// Checks `entry` against the chain and applies it.
    public mutating func append(_ entry: MembershipEntry) throws(MembershipError) {
        try append(entry, signatureValid: nil)
    }

    /// `append`, with the signature already checked when `signatureValid` is not nil.
    mutating func append(_ entry: MembershipEntry, signatureValid: Bool?) throws(MembershipError) {
        guard entry.groupID == groupID else { throw MembershipError.wrongGroup }
        if entry.sequence < nextSequence {
            if entries[Int(entry.sequence)] == entry { throw MembershipError.replay(sequence: entry.sequence) }
            throw MembershipError.fork(sequence: entry.sequence)
        }
        guard entry.sequence == nextSequence else { throw MembershipError.gap(expected: nextSequence, got: entry.sequence) }
        guard entry.previous == head else { throw MembershipError.brokenLink(sequence: entry.sequence) }
        let statement = entry.statement
        guard signatureValid ?? entry.author.isValidSignature(entry.signature, for: statement) else {
            throw MembershipError.badSignature(sequence: entry.sequence)
        }
        guard mayMake(entry) else { throw MembershipError.notAdmin(sequence: entry.sequence) }
        // Validate against the current roster first, then apply in place (no copy of a large roster).
        let sequence = entry.sequence
        var adminDelta = 0
        switch entry.action {
        case .create:
            throw MembershipError.invalidChange(sequence: sequence, "a group is created only once")
        case let .add(member, role):
            guard roster[member] == nil else { throw MembershipError.invalidChange(sequence: sequence, "already a member") }
            guard deviceOwners[member] == nil else { throw MembershipError.invalidChange(sequence: sequence, "a member's device, not an identity") }
            adminDelta = role == .admin ? 1 : 0
        case let .addDevice(device):
            guard leaves[device] == nil else { throw MembershipError.invalidChange(sequence: sequence, "already a device in the group") }
            guard roster[device] == nil, !removedMembers.contains(device) else {
                throw MembershipError.invalidChange(sequence: sequence, "a member's identity key")
            }
            guard deviceOwners[device].map({ $0 == entry.author }) ?? true else {
                throw MembershipError.invalidChange(sequence: sequence, "another member's device")
            }
        case let .removeDevice(device):
            guard leaves[device] != nil else { throw MembershipError.invalidChange(sequence: sequence, "not a device in the group") }
        case let .remove(member):
            guard let current = roster[member] else { throw MembershipError.invalidChange(sequence: sequence, "not a member") }
            adminDelta = current == .admin ? -1 : 0
        case let .setRole(member, role):
            guard let current = roster[member], current != role else {
                throw MembershipError.invalidChange(sequence: sequence, "not a member, or already in that role")
            }
            adminDelta = role == .admin ? 1 : -1
        }
        guard adminCount + adminDelta > 0 else {
            throw MembershipError.invalidChange(sequence: sequence, "the group would have no admin")
        }
        switch entry.action {
        case .create: break
        case let .add(member, role):
            roster[member] = role
            leaves[member] = leafCount
            leafCount += 1
        case let .setRole(member, role): roster[member] = role
        case let .remove(member):
            roster[member] = nil
            leaves[member] = nil
            removedMembers.insert(member)
            for device in addedDevices.removeValue(forKey: member) ?? [] { leaves[device] = nil }
        case let .addDevice(device):
            leaves[device] = leafCount
            leafCount += 1
            deviceOwners[device] = entry.author
            addedDevices[entry.author, default: []].append(device)
        case let .removeDevice(device):
            leaves[device] = nil
            if let owner = deviceOwners[device] {
                addedDevices[owner]?.removeAll { $0 == device }
                if addedDevices[owner]?.isEmpty == true { addedDevices[owner] = nil }
            }
        }
        adminCount += adminDelta
        entries.append(entry)
        head = statement.hash(signedWith: entry.signature)
    }

    /// Whether the entry's author may make its change (§8.1): an admin any change; a member
    /// (any role) an add device, the device then being its own; a device's owner its removal.
    private func mayMake(_ entry: MembershipEntry) -> Bool {
        switch entry.action {
        case .addDevice: roster[entry.author] != nil
        case let .removeDevice(device):
            roster[entry.author] == .admin || leaves[device] != nil && owner(of: device) == entry.author
        case .create, .add, .remove, .setRole: roster[entry.author] == .admin
        }
    }
}
