// A relay store that lies, for tests that show what clients tell their users when the relay (or
// whoever seized it) attacks them. Test-only code: no shipped target depends on this module.
import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import Foundation

/// Wraps a real store and changes what it serves, the way a hostile relay operator could: it
/// withholds, drops, reorders, duplicates, replays, tampers with and injects deliveries, and swaps
/// the keys it hands out. The relay engine on top is the ordinary one; only the data is hostile.
///
/// Attacks act on mailbox reads, which is how a device receives what waited while it was offline.
public final class HostileStore: RelayStore {
    /// What the store does to the deliveries it serves; several may be combined.
    public struct Tactics: Sendable {
        /// Serves each mailbox page newest first.
        public var reorder = false
        /// Serves every delivery twice.
        public var duplicate = false
        /// Flips one bit in the middle of every payload served.
        public var tamper = false
        /// Flips one bit in the middle of the first copy of each message served to a device; the
        /// copies served after it are intact (damage on the way, not in the store).
        public var tamperFirstCopy = false
        /// Answers acknowledgements without applying them, as if they were lost on the way: the
        /// messages stay stored and are served again on the device's next connection.
        public var loseAcknowledgements = false
        /// Serves again, after the real ones and under fresh message ids (so the client cannot tell
        /// them from new messages by id), every delivery served to that device before.
        public var replay = false
        /// Holds these messages back (they stay stored) until the id is removed from the set.
        public var withhold: Set<Data> = []
        /// Deletes these messages for every recipient instead of serving them.
        public var drop: Set<Data> = []
        /// Fabricated deliveries served once to a device (by its key), after the real ones.
        public var inject: [Data: [StoredDelivery]] = [:]
        /// Replaces the one-time prekey handed out for an owner (by its key) with this public key.
        public var swapOneTimePrekey: [Data: Data] = [:]
        /// Leaves out the KEM prekey of these owners' bundles (a downgrade to a classical start).
        public var stripKEMPrekey: Set<Data> = []
        /// Replaces the signed prekey handed out for an owner (by its key) with these bytes.
        public var swapSignedPrekey: [Data: Data] = [:]
        /// Holds every commit that carries an acknowledgement until the attack stops, so
        /// `AckMessages` is never answered meanwhile.
        public var stallAcknowledgements = false

        public init() {}
    }

    private struct State {
        var tactics = Tactics()
        /// Everything served, per device, for replays.
        var served: [Data: [StoredDelivery]] = [:]
        /// Device key ‖ message id of each first copy damaged under `tamperFirstCopy`.
        var damagedCopies = Set<Data>()
    }

    /// The honest store underneath, which the hostile operator can also edit directly.
    public let inner: any RelayStore
    private let state = Locked(State())

    public init(wrapping inner: any RelayStore) {
        self.inner = inner
    }

    /// Changes the tactics in force.
    public func attack(_ change: (inout Tactics) -> Void) {
        state.withLock { change(&$0.tactics) }
    }

    /// Stops every attack (what was dropped stays dropped).
    public func behave() {
        state.withLock { $0.tactics = Tactics() }
    }

    public func pendingDeliveries(recipient: Data, afterSequence: Int64, limit: Int) async throws -> [StoredDelivery] {
        let real = try await inner.pendingDeliveries(recipient: recipient, afterSequence: afterSequence, limit: limit)
        let tactics = state.withLock { $0.tactics }
        var page: [StoredDelivery] = []
        for delivery in real {
            if tactics.drop.contains(delivery.messageID) {
                _ = try await inner.commit(WriteBatch(acknowledgements: [Acknowledgement(recipient: recipient, messageIDs: [delivery.messageID])]))
            } else if !tactics.withhold.contains(delivery.messageID) {
                page.append(delivery)
            }
        }
        if tactics.reorder { page.reverse() }
        if tactics.duplicate { page = page.flatMap { [$0, $0] } }
        if tactics.tamper {
            page = page.map(Self.damaged)
        }
        if tactics.tamperFirstCopy {
            page = state.withLock { state in
                page.map { state.damagedCopies.insert(recipient + $0.messageID).inserted ? Self.damaged($0) : $0 }
            }
        }
        // Whatever is added goes after the real page with the page's highest sequence, so the
        // relay's cursor neither skips nor re-reads a real delivery.
        let top = ([afterSequence] + real.map(\.sequence)).max()!
        let extra: [StoredDelivery] = state.withLock { state in
            var extra: [StoredDelivery] = []
            if tactics.replay {
                extra = state.served[recipient, default: []].map { delivery in
                    var again = delivery
                    again.messageID = Data(Random.bytes(16))
                    return again
                }
            }
            extra += state.tactics.inject.removeValue(forKey: recipient) ?? []
            state.served[recipient, default: []] += page
            return extra
        }
        return page + extra.map { var delivery = $0; delivery.sequence = top; return delivery }
    }

    /// The delivery with one bit flipped in the middle of its payload.
    private static func damaged(_ delivery: StoredDelivery) -> StoredDelivery {
        var changed = delivery
        var bytes = [UInt8](delivery.payload)
        bytes[bytes.count / 2] ^= 0x01
        changed.payload = Data(bytes)
        return changed
    }

    public func takePrekeyBundle(owner: Data) async throws -> PrekeyBundleRecord? {
        guard var bundle = try await inner.takePrekeyBundle(owner: owner) else { return nil }
        let tactics = state.withLock { $0.tactics }
        if let signed = tactics.swapSignedPrekey[owner] { bundle.signedPrekey = signed }
        if tactics.stripKEMPrekey.contains(owner) { bundle.kemPrekey = nil }
        if let key = tactics.swapOneTimePrekey[owner], let taken = bundle.oneTime {
            bundle.oneTime = OneTimePrekeyRecord(id: taken.id, publicKey: key)
        }
        return bundle
    }

    // Everything else is honest.

    public func commit(_ batch: WriteBatch) async throws -> WriteBatchResult {
        if !batch.acknowledgements.isEmpty {
            while state.withLock({ $0.tactics.stallAcknowledgements }) { try await Task.sleep(for: .milliseconds(20)) }
            if state.withLock({ $0.tactics.loseAcknowledgements }) {
                let result = try await inner.commit(WriteBatch(messages: batch.messages))
                return WriteBatchResult(outcomes: result.outcomes, removed: batch.acknowledgements.map { _ in 0 })
            }
        }
        return try await inner.commit(batch)
    }
    public func pendingCount(recipient: Data) async throws -> Int { try await inner.pendingCount(recipient: recipient) }
    public func groupRoute(_ groupID: Data) async throws -> GroupRoute? { try await inner.groupRoute(groupID) }
    public func groupDevices(_ groupID: Data) async throws -> [Data] { try await inner.groupDevices(groupID) }
    public func updateGroupRoute(_ update: GroupRouteUpdate) async throws -> GroupRoute { try await inner.updateGroupRoute(update) }
    public func publishPrekeys(owner: Data, signedPrekey: Data?, oneTime: [OneTimePrekeyRecord],
                               kemLastResort: Data?, kemOneTime: [Data]) async throws -> PrekeyCounts {
        try await inner.publishPrekeys(owner: owner, signedPrekey: signedPrekey, oneTime: oneTime,
                                       kemLastResort: kemLastResort, kemOneTime: kemOneTime)
    }
    public func prekeyCounts(owner: Data) async throws -> PrekeyCounts { try await inner.prekeyCounts(owner: owner) }
    public func putBlobChunk(_ chunk: BlobChunkWrite) async throws -> BlobState { try await inner.putBlobChunk(chunk) }
    public func readBlob(blobID: Data, offset: UInt64, length: Int) async throws -> BlobRead {
        try await inner.readBlob(blobID: blobID, offset: offset, length: length)
    }
    public func postCard(inboxKey: Data, itemID: Data, sealed: Data, postedAt: Int64) async throws -> Bool {
        try await inner.postCard(inboxKey: inboxKey, itemID: itemID, sealed: sealed, postedAt: postedAt)
    }
    public func readCards(inboxKey: Data, afterSequence: Int64, limit: Int) async throws -> (items: [CardRecord], more: Bool) {
        try await inner.readCards(inboxKey: inboxKey, afterSequence: afterSequence, limit: limit)
    }
    public func cardCount(inboxKey: Data) async throws -> Int { try await inner.cardCount(inboxKey: inboxKey) }
    public func expire(now: Int64) async throws -> ExpiryCounts { try await inner.expire(now: now) }
    public func publishDevices(_ chain: PublishedDeviceChain) async throws -> DevicesPublication { try await inner.publishDevices(chain) }
    public func deviceChain(identity: Data) async throws -> [Data] { try await inner.deviceChain(identity: identity) }
    public func deviceStatus(_ device: Data) async throws -> DeviceStatus? { try await inner.deviceStatus(device) }
    public func revokedDevices(among devices: [Data]) async throws -> Set<Data> { try await inner.revokedDevices(among: devices) }
    public func putRecoveryBox(paperKey: Data, sealed: Data, at: Int64) async throws {
        try await inner.putRecoveryBox(paperKey: paperKey, sealed: sealed, at: at)
    }
    public func recoveryBox(paperKey: Data) async throws -> Data? { try await inner.recoveryBox(paperKey: paperKey) }
    public func isBanned(_ device: Data) async throws -> Bool { try await inner.isBanned(device) }
    public func bannedDevices() async throws -> [DeviceBan] { try await inner.bannedDevices() }
    public func close() async throws { try await inner.close() }
}
