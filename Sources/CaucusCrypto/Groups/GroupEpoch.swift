/// The keys of one group epoch as a device holds them: a header key, a secret tree with one leaf
/// per device, and the devices' hash ratchets as they are first needed, all derived from the
/// epoch secret, which is then forgotten (Protocol.md §8.2).
struct GroupEpoch: Sendable {
    static let headerInfo = Array("caucus/group-header/v1".utf8)
    static let senderInfo = Array("caucus/group-sender/v1".utf8)
    static let successorInfo = Array("caucus/group-successor/v1".utf8)
    static let additionInfo = Array("caucus/group-add/v1".utf8)

    /// Sequence number of the membership entry that started the epoch.
    let number: UInt64
    /// Encrypts message headers (sender and counter), so the relay never sees who sent what.
    let headerKey: SymmetricKey
    /// The devices at this epoch and their leaves (a copy-on-write snapshot of the chain's).
    let leaves: [Ed25519.PublicKey: UInt32]
    /// Where devices' first chain keys come from, on first use.
    var tree: SecretTree
    /// Sending chains derived so far, by device.
    var senders: [Ed25519.PublicKey: SenderChain] = [:]
    /// One-way seed for the epoch that an addition starts; cannot open this epoch's messages.
    let successorSeed: SecureBytes

    /// Derives the epoch's keys from `secret`; no per-device work happens here.
    init(number: UInt64, secret: SecureBytes, groupID: [UInt8], leaves: [Ed25519.PublicKey: UInt32], leafCount: UInt32) {
        self.number = number
        self.leaves = leaves
        let prk = HKDF.extract(salt: groupID, inputKeyMaterial: secret)
        headerKey = try! SymmetricKey(bytes: HKDF.expand(pseudoRandomKey: prk, info: Self.headerInfo, outputByteCount: 32))
        successorSeed = try! HKDF.expand(pseudoRandomKey: prk, info: Self.successorInfo, outputByteCount: 32)
        let root = try! HKDF.expand(pseudoRandomKey: prk, info: Self.senderInfo, outputByteCount: 32)
        tree = SecretTree(root: root, size: leafCount)
    }

    /// An epoch as stored.
    init(number: UInt64, headerKey: SymmetricKey, leaves: [Ed25519.PublicKey: UInt32], tree: SecretTree,
         senders: [Ed25519.PublicKey: SenderChain], successorSeed: SecureBytes) {
        self.number = number
        self.headerKey = headerKey
        self.leaves = leaves
        self.tree = tree
        self.senders = senders
        self.successorSeed = successorSeed
    }

    /// Makes sure `device`'s sending chain exists; false if it had no leaf at this epoch.
    mutating func prepareChain(for device: Ed25519.PublicKey) -> Bool {
        if senders[device] != nil { return true }
        guard let leaf = leaves[device], let key = tree.take(leaf) else { return false }
        senders[device] = SenderChain(chainKey: key)
        return true
    }

    /// The secret of the epoch started by the add or add device entry `entryHash`, derived from this epoch.
    func additionSecret(entryHash: [UInt8]) -> SecureBytes {
        HKDF.deriveSymmetricKey(inputKeyMaterial: successorSeed, salt: [], info: Self.additionInfo + entryHash).bytes
    }
}

/// One device's hash ratchet within an epoch.
struct SenderChain: Sendable {
    /// Most message keys kept for a sender's messages that have not arrived yet.
    static let maximumSkipped = 1000

    var chainKey: SecureBytes
    /// The counter of the next message this chain expects.
    var next: UInt32 = 0
    var skipped: [UInt32: SecureBytes] = [:]

    /// The message key for `counter`, advancing the chain; nil for a counter already used.
    /// Reports how many earlier messages were skipped, or that this one fills an earlier gap.
    mutating func key(for counter: UInt32) throws(GroupError) -> (SecureBytes, skipped: Int, late: Bool) {
        if counter < next {
            guard let key = skipped.removeValue(forKey: counter) else { throw GroupError.replay }
            return (key, 0, true)
        }
        let gap = Int(counter - next)
        guard gap <= Self.maximumSkipped, skipped.count + gap <= Self.maximumSkipped else {
            throw GroupError.tooManySkipped(gap)
        }
        while next < counter {
            let (key, nextChain) = Session.chainStep(chainKey)
            skipped[next] = key
            chainKey = nextChain
            next += 1
        }
        let (key, nextChain) = Session.chainStep(chainKey)
        chainKey = nextChain
        next += 1
        return (key, gap, false)
    }
}

/// Why a group operation or message was refused. The group state is unchanged.
public enum GroupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a group message or payload.
    case malformed(String)
    /// No keys for this epoch: it has not started here (its key has not arrived) or was discarded.
    case unknownEpoch(UInt64)
    /// The sending device had no leaf at the message's epoch (not a member's device then).
    case notMember
    /// This message was already received (or its key discarded): a replay.
    case replay
    /// The message claims more skipped messages than allowed.
    case tooManySkipped(Int)
    /// The message or its header failed authentication.
    case authenticationFailed
    /// The sender's signature inside the message does not verify.
    case badSignature
    /// A membership change was refused.
    case membership(MembershipError)
    /// This device cannot send yet: the new epoch's key has not arrived from the author of the removal.
    case epochKeyPending(UInt64)
    /// An epoch key or welcome that does not match the membership chain.
    case unexpectedEpochKey
    /// The identity or device is not in the group (or the key given is not this state's device).
    case notInGroup

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed group message: \(why)"
        case .unknownEpoch(let e): return "no keys for group epoch \(e) (not received yet, or discarded)"
        case .notMember: return "message from a device that is not in the group at that epoch"
        case .replay: return "group message already received (replay)"
        case .tooManySkipped(let n): return "group message claims \(n) skipped messages, more than allowed"
        case .authenticationFailed: return "group message failed authentication (forged or altered)"
        case .badSignature: return "group message has a bad sender signature"
        case .membership(let error): return error.description
        case .epochKeyPending(let e): return "waiting for the key of group epoch \(e)"
        case .unexpectedEpochKey: return "epoch key does not match the membership chain"
        case .notInGroup: return "not a member of this group"
        }
    }
}
