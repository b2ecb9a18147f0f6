import CaucusIdentity
import CaucusProtocol
import Foundation
import SwiftProtobuf

// The requests a client makes after login, as typed calls (Protocol.md §7.4–§7.8): a client
// built on these never handles the wire's protobuf messages itself. Each call returns the reply
// it expects, throws the relay's `RelayError`, or throws `RelayClientError.unexpectedReply` when
// the relay answers with another kind of frame.

/// A message for the relay to store and deliver (`SendMessage`, §7.4).
public struct OutgoingMessage: Sendable, Equatable {
    /// Chosen by the sender; a resend reuses it.
    public var messageID: MessageID
    /// The devices it goes to, or none when it goes to `groupID`.
    public var recipients: [DeviceKey]
    /// The group it goes to, or nil.
    public var groupID: GroupID?
    public var payload: Data
    /// Seconds the relay keeps it; 0 for the relay's default.
    public var ttlSeconds: UInt32

    public init(messageID: MessageID, recipients: [DeviceKey] = [], groupID: GroupID? = nil, payload: Data, ttlSeconds: UInt32 = 0) {
        self.messageID = messageID
        self.recipients = recipients
        self.groupID = groupID
        self.payload = payload
        self.ttlSeconds = ttlSeconds
    }

    var wire: WireSendMessage {
        WireSendMessage.with {
            $0.messageID = messageID.data
            $0.recipients = recipients.map(\.data)
            if let groupID { $0.groupID = groupID.data }
            $0.payload = payload
            $0.ttlSeconds = ttlSeconds
        }
    }

    /// The request encoded as §7.11's `SendMessage`, for a queue kept on disk.
    public func serialized() -> [UInt8] { Self.bytes(of: wire) }

    /// A request read back from `serialized()`.
    public init(serialized bytes: [UInt8]) throws {
        let wire = try WireSendMessage(serializedBytes: bytes)
        self.init(messageID: MessageID(wire.messageID), recipients: wire.recipients.map(DeviceKey.init),
                  groupID: wire.groupID.isEmpty ? nil : GroupID(wire.groupID), payload: wire.payload, ttlSeconds: wire.ttlSeconds)
    }

    static func bytes(of message: some SwiftProtobuf.Message) -> [UInt8] {
        // Encoding a message of set fields does not fail: protobuf rejects only unset required
        // fields, and proto3 has none.
        (try? message.serializedBytes()) ?? []
    }
}

/// The relay's answer to a send (`SendAccepted`).
public struct SendReceipt: Sendable, Equatable {
    /// The id was accepted before; nothing new was stored.
    public var duplicate: Bool
    /// Mailboxes it was stored in.
    public var recipients: UInt32
    /// Recipients whose mailbox was full (not stored for them).
    public var mailboxFull: [DeviceKey]
}

/// A change of a group's route (`UpdateGroupRouting`, §7.6).
public struct RouteChange: Sendable, Equatable {
    public var groupID: GroupID
    public var serial: UInt64
    /// The routing admin key after the change.
    public var adminKey: DeviceKey
    public var add: [DeviceKey]
    public var remove: [DeviceKey]
    /// By the admin key before the change, over the statement of §7.6.
    public var signature: Data

    public init(groupID: GroupID, serial: UInt64, adminKey: DeviceKey, add: [DeviceKey], remove: [DeviceKey], signature: Data) {
        self.groupID = groupID
        self.serial = serial
        self.adminKey = adminKey
        self.add = add
        self.remove = remove
        self.signature = signature
    }

    var wire: WireUpdateGroupRouting {
        WireUpdateGroupRouting.with {
            $0.groupID = groupID.data
            $0.serial = serial
            $0.adminKey = adminKey.data
            $0.add = add.map(\.data)
            $0.remove = remove.map(\.data)
            $0.signature = signature
        }
    }

    /// The change encoded as §7.11's `UpdateGroupRouting`, for a queue kept on disk.
    public func serialized() -> [UInt8] { OutgoingMessage.bytes(of: wire) }

    /// A change read back from `serialized()`.
    public init(serialized bytes: [UInt8]) throws {
        let wire = try WireUpdateGroupRouting(serializedBytes: bytes)
        self.init(groupID: GroupID(wire.groupID), serial: wire.serial, adminKey: DeviceKey(wire.adminKey),
                  add: wire.add.map(DeviceKey.init), remove: wire.remove.map(DeviceKey.init), signature: wire.signature)
    }
}

/// A group's route after a change (`GroupRoutingUpdated`).
public struct RouteState: Sendable, Equatable {
    public var serial: UInt64
    /// Devices routed.
    public var devices: UInt32
    /// The serial before this change (0 when it created the route).
    public var previousSerial: UInt64
}

/// A message the relay pushed (`Delivery`, §7.4).
public struct Delivery: Sendable, Equatable {
    public var messageID: MessageID
    public var sequence: UInt64
    public var payload: Data
    /// The group it was sent to, or nil.
    public var groupID: GroupID?
    public var acceptedAtMs: UInt64
    public var expiresAtMs: UInt64

    public init(messageID: MessageID, sequence: UInt64, payload: Data, groupID: GroupID?, acceptedAtMs: UInt64, expiresAtMs: UInt64) {
        self.messageID = messageID
        self.sequence = sequence
        self.payload = payload
        self.groupID = groupID
        self.acceptedAtMs = acceptedAtMs
        self.expiresAtMs = expiresAtMs
    }

    init(_ wire: WireDelivery) {
        self.init(messageID: MessageID(wire.messageID), sequence: wire.sequence, payload: wire.payload,
                  groupID: wire.groupID.isEmpty ? nil : GroupID(wire.groupID), acceptedAtMs: wire.acceptedAtMs,
                  expiresAtMs: wire.expiresAtMs)
    }

    /// The delivery encoded as §7.11's `Delivery`, for keeping it on disk.
    public func serialized() -> [UInt8] {
        OutgoingMessage.bytes(of: WireDelivery.with {
            $0.messageID = messageID.data
            $0.sequence = sequence
            $0.payload = payload
            if let groupID { $0.groupID = groupID.data }
            $0.acceptedAtMs = acceptedAtMs
            $0.expiresAtMs = expiresAtMs
        })
    }

    /// A delivery read back from `serialized()`.
    public init(serialized bytes: [UInt8]) throws {
        self.init(try WireDelivery(serializedBytes: bytes))
    }
}

/// A one-time prekey as the relay stores it (§7.5).
public struct OneTimePrekeyUpload: Sendable, Equatable {
    public var id: UInt32
    /// X25519, 32 bytes.
    public var publicKey: Data

    public init(id: UInt32, publicKey: Data) {
        self.id = id
        self.publicKey = publicKey
    }
}

/// What the relay holds to start a session with a device (`PrekeyBundle`, §7.5).
public struct FetchedPrekeys: Sendable, Equatable {
    public var owner: DeviceKey
    /// Opaque to the relay (§6.1); empty when the device published none.
    public var signedPrekey: Data
    /// One of the device's one-time prekeys, taken from the relay; nil when none are left.
    public var oneTimePrekey: OneTimePrekeyUpload?
    /// Opaque to the relay (§7.5): the device's oldest one-time KEM prekey, taken from the relay,
    /// or its last-resort KEM prekey when none is left; nil when the device published neither.
    public var kemPrekey: Data?
    /// Whether `kemPrekey` is a one-time KEM prekey.
    public var kemPrekeyIsOneTime: Bool
}

/// How many one-time prekeys of each kind the relay holds for this device (`PrekeysPublished`, §7.5).
public struct PublishedPrekeyCounts: Sendable, Equatable {
    /// One-time X25519 prekeys.
    public var oneTime: UInt32
    /// One-time KEM prekeys.
    public var kemOneTime: UInt32

    public init(oneTime: UInt32, kemOneTime: UInt32) {
        self.oneTime = oneTime
        self.kemOneTime = kemOneTime
    }
}

/// A piece of a blob (`BlobChunk`, §7.7).
public struct BlobPiece: Sendable, Equatable {
    public var offset: UInt64
    public var data: Data
    public var totalSize: UInt64
}

/// A sealed card or revocation in an inbox (`CardItem`, §7.7).
public struct InboxItem: Sendable, Equatable {
    public var sequence: UInt64
    public var itemID: Data
    public var sealed: Data
    public var postedAtMs: UInt64
}

/// The limits the relay announced in `Welcome`.
public struct RelayLimits: Sendable, Equatable {
    public var maxPayloadBytes: UInt32
    public var maxBlobChunkBytes: UInt32
    public var maxTTLSeconds: UInt32
}

extension RelayClient {
    /// The relay's limits from `Welcome`, once `hello` has run.
    public var limits: RelayLimits? {
        welcome.map { RelayLimits(maxPayloadBytes: $0.limits.maxPayloadBytes, maxBlobChunkBytes: $0.limits.maxBlobChunkBytes,
                                  maxTTLSeconds: $0.limits.maxTtlSeconds) }
    }

    /// The challenge of this connection's `Welcome` (what card inbox openings sign), once `hello` has run.
    public var challenge: Data? { welcome?.challenge }

    /// One-time prekeys the relay held for this device at login, when `connect` made the connection.
    public var oneTimePrekeysAtLogin: UInt32? { authenticated?.oneTimePrekeys }

    /// One-time KEM prekeys the relay held for this device at login, when `connect` made the connection.
    public var kemOneTimePrekeysAtLogin: UInt32? { authenticated?.kemOneTimePrekeys }

    /// Stores a message for its recipients.
    public func send(_ message: OutgoingMessage) async throws -> SendReceipt {
        guard case .sendAccepted(let reply) = try await request(.send(message.wire)) else { throw Self.unexpected("send") }
        return SendReceipt(duplicate: reply.duplicate, recipients: reply.recipients, mailboxFull: reply.mailboxFull.map(DeviceKey.init))
    }

    /// Removes deliveries from this device's mailbox; how many were there.
    @discardableResult
    public func acknowledge(_ messageIDs: [MessageID]) async throws -> UInt32 {
        guard case .ackDone(let reply) = try await request(.ack(WireAckMessages.with { $0.messageIds = messageIDs.map(\.data) }))
        else { throw Self.unexpected("ack") }
        return reply.removed
    }

    /// Publishes prekeys (a KEM prekey is opaque to the relay, §7.5; `kemLastResort` replaces the
    /// stored one); how many one-time prekeys of each kind the relay now holds for this device.
    @discardableResult
    public func publishPrekeys(signedPrekey: Data, oneTime: [OneTimePrekeyUpload], kemLastResort: Data? = nil,
                               kemOneTime: [Data] = []) async throws -> PublishedPrekeyCounts {
        let body = WireClientFrame.OneOf_Body.publishPrekeys(WirePublishPrekeys.with {
            $0.signedPrekey = signedPrekey
            $0.oneTimePrekeys = oneTime.map { key in WireOneTimePrekey.with { $0.id = key.id; $0.publicKey = key.publicKey } }
            if let kemLastResort { $0.kemLastResortPrekey = kemLastResort }
            $0.kemOneTimePrekeys = kemOneTime
        })
        guard case .prekeysPublished(let reply) = try await request(body) else { throw Self.unexpected("publishPrekeys") }
        return PublishedPrekeyCounts(oneTime: reply.oneTimePrekeys, kemOneTime: reply.kemOneTimePrekeys)
    }

    /// A device's prekeys, taking one of its one-time prekeys and one of its one-time KEM prekeys from the relay.
    public func fetchPrekeys(owner: DeviceKey) async throws -> FetchedPrekeys {
        guard case .prekeyBundle(let reply) = try await request(.fetchPrekeys(WireFetchPrekeys.with { $0.owner = owner.data }))
        else { throw Self.unexpected("fetchPrekeys") }
        return FetchedPrekeys(owner: DeviceKey(reply.owner), signedPrekey: reply.signedPrekey,
                              oneTimePrekey: reply.hasOneTimePrekey
                                  ? OneTimePrekeyUpload(id: reply.oneTimePrekey.id, publicKey: reply.oneTimePrekey.publicKey) : nil,
                              kemPrekey: reply.kemPrekey.isEmpty ? nil : reply.kemPrekey,
                              kemPrekeyIsOneTime: !reply.kemPrekey.isEmpty && reply.kemPrekeyOneTime)
    }

    /// Changes a group's route.
    public func updateRoute(_ change: RouteChange) async throws -> RouteState {
        guard case .groupRoutingUpdated(let reply) = try await request(.updateGroupRouting(change.wire))
        else { throw Self.unexpected("updateGroupRouting") }
        return RouteState(serial: reply.serial, devices: reply.devices, previousSerial: reply.previousSerial)
    }

    /// Stores the next piece of a blob; the bytes stored so far and whether the blob is complete.
    @discardableResult
    public func putBlobChunk(blobID: Data, offset: UInt64, data: Data, last: Bool, ttlSeconds: UInt32 = 0)
        async throws -> (size: UInt64, complete: Bool)
    {
        let body = WireClientFrame.OneOf_Body.putBlobChunk(WirePutBlobChunk.with {
            $0.blobID = blobID
            $0.offset = offset
            $0.data = data
            $0.last = last
            $0.ttlSeconds = ttlSeconds
        })
        guard case .blobChunkStored(let reply) = try await request(body) else { throw Self.unexpected("putBlobChunk") }
        return (reply.size, reply.complete)
    }

    /// Reads up to `length` bytes of a complete blob from `offset`.
    public func getBlobChunk(blobID: Data, offset: UInt64, length: UInt32) async throws -> BlobPiece {
        let body = WireClientFrame.OneOf_Body.getBlobChunk(WireGetBlobChunk.with {
            $0.blobID = blobID
            $0.offset = offset
            $0.length = length
        })
        guard case .blobChunk(let reply) = try await request(body) else { throw Self.unexpected("getBlobChunk") }
        return BlobPiece(offset: reply.offset, data: reply.data, totalSize: reply.totalSize)
    }

    /// Pings the relay with `data`, which its Pong carries back; returns that data.
    @discardableResult
    public func ping(_ data: Data) async throws -> Data {
        guard case .pong(let pong) = try await request(.ping(WirePing.with { $0.data = data })) else {
            throw Self.unexpected("ping")
        }
        return pong.data
    }

    /// Posts a sealed card or revocation to a campaign's inbox; whether the item id was there already.
    @discardableResult
    public func postCard(inboxKey: Data, itemID: Data, sealed: Data) async throws -> Bool {
        let body = WireClientFrame.OneOf_Body.postCard(WirePostCard.with {
            $0.inboxKey = inboxKey
            $0.itemID = itemID
            $0.sealed = sealed
        })
        guard case .cardPosted(let reply) = try await request(body) else { throw Self.unexpected("postCard") }
        return reply.duplicate
    }

    /// Opens a card inbox for reading on this connection; how many items it holds.
    @discardableResult
    public func openCardInbox(inboxKey: Data, signature: Data) async throws -> UInt64 {
        let body = WireClientFrame.OneOf_Body.openCardInbox(WireOpenCardInbox.with {
            $0.inboxKey = inboxKey
            $0.signature = signature
        })
        guard case .cardInboxOpened(let reply) = try await request(body) else { throw Self.unexpected("openCardInbox") }
        return reply.items
    }

    /// The items of an opened inbox after `afterSequence`, and whether more follow.
    public func readCards(inboxKey: Data, afterSequence: UInt64, limit: UInt32 = 0) async throws -> (items: [InboxItem], more: Bool) {
        let body = WireClientFrame.OneOf_Body.readCards(WireReadCards.with {
            $0.inboxKey = inboxKey
            $0.afterSequence = afterSequence
            $0.limit = limit
        })
        guard case .cards(let reply) = try await request(body) else { throw Self.unexpected("readCards") }
        return (reply.items.map { InboxItem(sequence: $0.sequence, itemID: $0.itemID, sealed: $0.sealed, postedAtMs: $0.postedAtMs) },
                reply.more)
    }

    /// Publishes an identity's whole device chain (Protocol.md §7.8); the entries the relay holds now.
    public func publishDevices(_ entries: [DeviceEntry]) async throws -> UInt32 {
        let body = WireClientFrame.OneOf_Body.publishDevices(WirePublishDevices.with { $0.entries = entries.map { Data($0.encoded()) } })
        guard case .devicesPublished(let reply) = try await request(body) else { throw Self.unexpected("publishDevices") }
        return reply.entries
    }

    /// The device chain `identity` published, as the relay gives it: unchecked, to be verified by
    /// the caller (`DeviceChain.verify(encoded:)`); empty when it published none.
    public func fetchDevices(identity: Ed25519.PublicKey) async throws -> [[UInt8]] {
        let body = WireClientFrame.OneOf_Body.fetchDevices(WireFetchDevices.with { $0.identity = Data(identity.rawRepresentation) })
        guard case .devices(let reply) = try await request(body), reply.identity == Data(identity.rawRepresentation) else {
            throw Self.unexpected("fetchDevices")
        }
        return reply.entries.map { Array($0) }
    }

    /// Keeps `sealed` on the relay as the recovery box of `paperKey`, an active paper key of this
    /// device's identity (§7.8).
    public func putRecoveryBox(paperKey: Ed25519.PublicKey, sealed: [UInt8]) async throws {
        let body = WireClientFrame.OneOf_Body.putRecoveryBox(WirePutRecoveryBox.with {
            $0.paperKey = Data(paperKey.rawRepresentation)
            $0.sealed = Data(sealed)
        })
        guard case .recoveryBoxStored = try await request(body) else { throw Self.unexpected("putRecoveryBox") }
    }

    /// The recovery box kept for the paper key this connection authenticated with (§7.8).
    public func recoveryBox() async throws -> [UInt8] {
        guard case .recoveryBox(let reply) = try await request(.getRecoveryBox(WireGetRecoveryBox())) else {
            throw Self.unexpected("getRecoveryBox")
        }
        return Array(reply.sealed)
    }

    private static func unexpected(_ request: String) -> RelayClientError {
        .unexpectedReply("not the reply to \(request)")
    }
}
