import CaucusIdentity
import CaucusProtocol
import Foundation

/// Where the relay keeps what it must not lose: mailboxes, group routes, prekeys, blobs, card
/// inboxes. Every implementation passes the same contract suite (`StoreContract` in the tests).
///
/// Keys and ids are raw bytes exactly as they travel. Times are Unix milliseconds. Every method
/// that changes data returns only after the change is durable. Refusals are `RelayError`s with
/// the wire code the relay sends on; anything else thrown is an internal failure.
public protocol RelayStore: Sendable {
    /// Stores a batch of new messages and acknowledgements in one durable commit (the relay's
    /// group commit) and returns one outcome per message and one count per acknowledgement.
    func commit(_ batch: WriteBatch) async throws -> WriteBatchResult

    /// Deliveries waiting for `recipient` with a sequence above `afterSequence`, oldest first.
    func pendingDeliveries(recipient: Data, afterSequence: Int64, limit: Int) async throws -> [StoredDelivery]
    /// How many deliveries wait for `recipient`.
    func pendingCount(recipient: Data) async throws -> Int

    /// The route of a group, if it exists.
    func groupRoute(_ groupID: Data) async throws -> GroupRoute?
    /// The devices a group routes to, in no particular order.
    func groupDevices(_ groupID: Data) async throws -> [Data]
    /// Applies one route change whose signature the caller has checked. `update.serial` must be
    /// the route's serial plus one (1 for a new route), else `CONFLICT`.
    func updateGroupRoute(_ update: GroupRouteUpdate) async throws -> GroupRoute

    /// Replaces the owner's signed prekey (when `signedPrekey` is non-nil) and last-resort KEM
    /// prekey (when `kemLastResort` is non-nil), adds one-time prekeys (an id already stored is
    /// replaced) and one-time KEM prekeys, all in one transaction, after the checks of
    /// Protocol.md §7.5 that need no stored state but the count of one-time prekeys. Returns how
    /// many one-time prekeys of each kind are stored.
    func publishPrekeys(owner: Data, signedPrekey: Data?, oneTime: [OneTimePrekeyRecord],
                        kemLastResort: Data?, kemOneTime: [Data]) async throws -> PrekeyCounts
    /// The owner's signed prekey, one one-time prekey and its oldest one-time KEM prekey (both
    /// removed so that no one else ever receives them), or its last-resort KEM prekey when no
    /// one-time one is left. Nil when the owner has published no signed prekey.
    func takePrekeyBundle(owner: Data) async throws -> PrekeyBundleRecord?
    /// How many one-time prekeys of each kind the owner has left.
    func prekeyCounts(owner: Data) async throws -> PrekeyCounts

    /// Appends one chunk to a blob (creating it when `offset` is 0). A chunk that is already
    /// stored (same offset, nothing past the stored size) is accepted again without change.
    func putBlobChunk(_ chunk: BlobChunkWrite) async throws -> BlobState
    /// Bytes `offset ..< offset+length` of a complete blob (fewer at its end).
    func readBlob(blobID: Data, offset: UInt64, length: Int) async throws -> BlobRead

    /// Posts a sealed card or revocation to an inbox; returns false when the item id was already
    /// posted to that inbox (nothing changes).
    func postCard(inboxKey: Data, itemID: Data, sealed: Data, postedAt: Int64) async throws -> Bool
    /// Items of an inbox after a sequence, oldest first, and whether more follow.
    func readCards(inboxKey: Data, afterSequence: Int64, limit: Int) async throws -> (items: [CardRecord], more: Bool)
    /// How many items an inbox holds.
    func cardCount(inboxKey: Data) async throws -> Int

    /// Removes messages (and their deliveries), message ids past their window, and blobs whose
    /// time has come.
    func expire(now: Int64) async throws -> ExpiryCounts

    /// Stores an identity's device chain, which the caller has verified (Protocol.md §7.8). The
    /// chain stored so far must be a prefix of it, and no device it lists may be listed by another
    /// identity's chain (`CONFLICT` for either). Returns how many entries are stored now and the
    /// devices this call revoked.
    func publishDevices(_ chain: PublishedDeviceChain) async throws -> DevicesPublication
    /// The encoded entries of the chain `identity` published, in order; empty when none.
    func deviceChain(identity: Data) async throws -> [Data]
    /// The chain that lists `device`, as its owner, the device's kind and whether it is revoked;
    /// nil when no chain lists it (the key stands for itself).
    func deviceStatus(_ device: Data) async throws -> DeviceStatus?
    /// Those of `devices` that a chain has revoked.
    func revokedDevices(among devices: [Data]) async throws -> Set<Data>
    /// Keeps `sealed` as the recovery box of the paper key `paperKey`, in place of any before
    /// (Protocol.md §7.8; the caller has checked who may). A box goes when a chain revokes its key.
    func putRecoveryBox(paperKey: Data, sealed: Data, at: Int64) async throws
    /// The recovery box kept for `paperKey`; nil when there is none.
    func recoveryBox(paperKey: Data) async throws -> Data?

    /// Whether the operator has banned `device` (`caucus-relay ban`): its authentication is refused.
    func isBanned(_ device: Data) async throws -> Bool
    /// Every banned device, oldest ban first.
    func bannedDevices() async throws -> [DeviceBan]

    /// Releases the store; no call may follow.
    func close() async throws
}

/// Limits a store enforces inside its transactions.
public struct StoreLimits: Sendable, Equatable {
    /// Deliveries one mailbox may hold; more are refused per recipient.
    public var mailboxMessages: Int
    /// Bytes of blobs one device may have stored at once.
    public var blobQuotaBytes: UInt64
    /// Bytes of one blob.
    public var maxBlobBytes: UInt64
    /// One-time prekeys one device may keep stored.
    public var maxOneTimePrekeys: Int
    /// One-time KEM prekeys one device may keep stored, and one request may carry.
    public var maxKEMOneTimePrekeys: Int

    public init(mailboxMessages: Int = 10_000, blobQuotaBytes: UInt64 = 1 << 30,
                maxBlobBytes: UInt64 = 256 << 20, maxOneTimePrekeys: Int = 1_000, maxKEMOneTimePrekeys: Int = 100) {
        self.mailboxMessages = mailboxMessages
        self.blobQuotaBytes = blobQuotaBytes
        self.maxBlobBytes = maxBlobBytes
        self.maxOneTimePrekeys = maxOneTimePrekeys
        self.maxKEMOneTimePrekeys = maxKEMOneTimePrekeys
    }
}

/// Who a new message goes to.
public enum MessageTarget: Sendable, Equatable {
    /// These devices.
    case devices([Data])
    /// Every device routed for the group except the sender, who must be routed for it.
    case group(Data, sender: Data)
}

/// A message the relay has been asked to store.
public struct NewMessage: Sendable, Equatable {
    public var messageID: Data
    public var target: MessageTarget
    public var payload: Data
    public var acceptedAt: Int64
    public var expiresAt: Int64

    public init(messageID: Data, target: MessageTarget, payload: Data, acceptedAt: Int64, expiresAt: Int64) {
        self.messageID = messageID
        self.target = target
        self.payload = payload
        self.acceptedAt = acceptedAt
        self.expiresAt = expiresAt
    }
}

/// A recipient's acknowledgement: these messages may be deleted from its mailbox.
public struct Acknowledgement: Sendable, Equatable {
    public var recipient: Data
    public var messageIDs: [Data]

    public init(recipient: Data, messageIDs: [Data]) {
        self.recipient = recipient
        self.messageIDs = messageIDs
    }
}

/// What one commit writes.
public struct WriteBatch: Sendable {
    public var messages: [NewMessage]
    public var acknowledgements: [Acknowledgement]

    public init(messages: [NewMessage] = [], acknowledgements: [Acknowledgement] = []) {
        self.messages = messages
        self.acknowledgements = acknowledgements
    }
}

/// What became of each message of a batch.
public enum AcceptOutcome: Sendable, Equatable {
    /// Stored for these recipients (with their sequences); `mailboxFull` were skipped.
    case stored(recipients: [(key: Data, sequence: Int64)], mailboxFull: [Data])
    /// The id was accepted before: nothing was stored.
    case duplicate
    /// Refused, with the error the sender receives.
    case refused(RelayError)

    public static func == (lhs: AcceptOutcome, rhs: AcceptOutcome) -> Bool {
        switch (lhs, rhs) {
        case (.duplicate, .duplicate): true
        case let (.refused(a), .refused(b)): a == b
        case let (.stored(a, fa), .stored(b, fb)):
            fa == fb && a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.sequence == $1.sequence }
        default: false
        }
    }
}

/// The result of a commit: outcomes in the order of `WriteBatch.messages`, removal counts in the
/// order of `WriteBatch.acknowledgements`.
public struct WriteBatchResult: Sendable {
    public var outcomes: [AcceptOutcome]
    public var removed: [Int]

    public init(outcomes: [AcceptOutcome], removed: [Int]) {
        self.outcomes = outcomes
        self.removed = removed
    }
}

/// A message waiting in one mailbox.
public struct StoredDelivery: Sendable, Equatable {
    public var sequence: Int64
    public var messageID: Data
    public var payload: Data
    public var groupID: Data?
    public var acceptedAt: Int64
    public var expiresAt: Int64

    public init(sequence: Int64, messageID: Data, payload: Data, groupID: Data?, acceptedAt: Int64, expiresAt: Int64) {
        self.sequence = sequence
        self.messageID = messageID
        self.payload = payload
        self.groupID = groupID
        self.acceptedAt = acceptedAt
        self.expiresAt = expiresAt
    }
}

/// A group's route.
public struct GroupRoute: Sendable, Equatable {
    public var groupID: Data
    public var serial: UInt64
    public var adminKey: Data
    public var deviceCount: Int
    /// After `updateGroupRoute`: the serial the route had before the change (0 when it created it).
    public var previousSerial: UInt64

    public init(groupID: Data, serial: UInt64, adminKey: Data, deviceCount: Int, previousSerial: UInt64 = 0) {
        self.groupID = groupID
        self.serial = serial
        self.adminKey = adminKey
        self.deviceCount = deviceCount
        self.previousSerial = previousSerial
    }
}

/// One checked change of a group's route.
public struct GroupRouteUpdate: Sendable, Equatable {
    public var groupID: Data
    public var serial: UInt64
    public var adminKey: Data
    public var add: [Data]
    public var remove: [Data]

    public init(groupID: Data, serial: UInt64, adminKey: Data, add: [Data], remove: [Data]) {
        self.groupID = groupID
        self.serial = serial
        self.adminKey = adminKey
        self.add = add
        self.remove = remove
    }
}

public struct OneTimePrekeyRecord: Sendable, Equatable, Hashable {
    public var id: UInt32
    public var publicKey: Data

    public init(id: UInt32, publicKey: Data) {
        self.id = id
        self.publicKey = publicKey
    }
}

public struct PrekeyBundleRecord: Sendable, Equatable {
    public var signedPrekey: Data
    public var oneTime: OneTimePrekeyRecord?
    /// One-time prekeys left after this one was taken.
    public var remaining: Int
    /// A one-time KEM prekey, taken, or else the last-resort one; nil when the owner published neither.
    public var kemPrekey: Data?
    /// Whether `kemPrekey` is a one-time KEM prekey.
    public var kemPrekeyIsOneTime: Bool
    /// One-time KEM prekeys left after this one was taken.
    public var kemRemaining: Int

    public init(signedPrekey: Data, oneTime: OneTimePrekeyRecord?, remaining: Int,
                kemPrekey: Data?, kemPrekeyIsOneTime: Bool, kemRemaining: Int) {
        self.signedPrekey = signedPrekey
        self.oneTime = oneTime
        self.remaining = remaining
        self.kemPrekey = kemPrekey
        self.kemPrekeyIsOneTime = kemPrekeyIsOneTime
        self.kemRemaining = kemRemaining
    }
}

/// How many one-time prekeys of each kind a device has stored.
public struct PrekeyCounts: Sendable, Equatable {
    /// One-time X25519 prekeys.
    public var oneTime: Int
    /// One-time KEM prekeys.
    public var kemOneTime: Int

    public init(oneTime: Int, kemOneTime: Int) {
        self.oneTime = oneTime
        self.kemOneTime = kemOneTime
    }
}

public struct BlobChunkWrite: Sendable, Equatable {
    public var owner: Data
    public var blobID: Data
    public var offset: UInt64
    public var data: Data
    public var last: Bool
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(owner: Data, blobID: Data, offset: UInt64, data: Data, last: Bool, createdAt: Int64, expiresAt: Int64) {
        self.owner = owner
        self.blobID = blobID
        self.offset = offset
        self.data = data
        self.last = last
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public struct BlobState: Sendable, Equatable {
    public var size: UInt64
    public var complete: Bool

    public init(size: UInt64, complete: Bool) {
        self.size = size
        self.complete = complete
    }
}

public struct BlobRead: Sendable, Equatable {
    public var data: Data
    public var totalSize: UInt64

    public init(data: Data, totalSize: UInt64) {
        self.data = data
        self.totalSize = totalSize
    }
}

public struct CardRecord: Sendable, Equatable {
    public var sequence: Int64
    public var itemID: Data
    public var sealed: Data
    public var postedAt: Int64

    public init(sequence: Int64, itemID: Data, sealed: Data, postedAt: Int64) {
        self.sequence = sequence
        self.itemID = itemID
        self.sealed = sealed
        self.postedAt = postedAt
    }
}

public struct ExpiryCounts: Sendable, Equatable {
    public var messages: Int
    public var deliveries: Int
    public var blobs: Int

    public init(messages: Int = 0, deliveries: Int = 0, blobs: Int = 0) {
        self.messages = messages
        self.deliveries = deliveries
        self.blobs = blobs
    }
}

/// A device the operator has banned, and since when (Unix milliseconds).
public struct DeviceBan: Sendable, Equatable {
    public var key: Data
    public var bannedAt: Int64

    public init(key: Data, bannedAt: Int64) {
        self.key = key
        self.bannedAt = bannedAt
    }
}

/// An identity's device chain as published and checked by the relay: its encoded entries and
/// what they make of each device (Protocol.md §2.2).
public struct PublishedDeviceChain: Sendable, Equatable {
    public var identity: Data
    public var entries: [Data]
    public var devices: [ListedDevice]

    public init(identity: Data, entries: [Data], devices: [ListedDevice]) {
        self.identity = identity
        self.entries = entries
        self.devices = devices
    }

    /// A verified chain, as the store keeps it.
    public init(_ chain: DeviceChain) {
        self.init(identity: Data(chain.identity.rawRepresentation), entries: chain.entries.map { Data($0.encoded()) },
                  devices: chain.devices.map { ListedDevice(key: Data($0.key.rawRepresentation), kind: $0.kind.rawValue, revoked: !$0.isActive) })
    }
}

/// One device a chain lists.
public struct ListedDevice: Sendable, Equatable {
    public var key: Data
    /// 1 computer, 2 paper key (Protocol.md §2.2).
    public var kind: UInt8
    public var revoked: Bool

    public init(key: Data, kind: UInt8, revoked: Bool) {
        self.key = key
        self.kind = kind
        self.revoked = revoked
    }
}

/// What `publishDevices` did.
public struct DevicesPublication: Sendable, Equatable {
    /// Entries stored for the identity now.
    public var entries: Int
    /// Devices revoked by this publication (revoked before it: not listed).
    public var revoked: [Data]

    public init(entries: Int, revoked: [Data]) {
        self.entries = entries
        self.revoked = revoked
    }
}

/// A device as a chain lists it.
public struct DeviceStatus: Sendable, Equatable {
    /// The identity whose chain lists the device.
    public var identity: Data
    public var kind: UInt8
    public var revoked: Bool

    public init(identity: Data, kind: UInt8, revoked: Bool) {
        self.identity = identity
        self.kind = kind
        self.revoked = revoked
    }
}
