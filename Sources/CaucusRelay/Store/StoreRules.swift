import CaucusProtocol
import Foundation

/// The decisions every store makes the same way, apart from its SQL: who gets a message, when a
/// blob chunk is a resend, an append or a conflict, and the limits' refusals.
public enum StoreRules {
    /// A device a message may go to: its row id in the store, its key and its mailbox count.
    public struct Recipient: Sendable, Equatable {
        public var id: Int64
        public var key: Data
        public var pending: Int

        public init(id: Int64, key: Data, pending: Int) {
            self.id = id
            self.key = key
            self.pending = pending
        }
    }

    /// The keys in their first order, each once.
    public static func unique(_ keys: [Data]) -> [Data] {
        var seen = Set<Data>()
        return keys.filter { seen.insert($0).inserted }
    }

    /// A group's devices other than the sender; refused when the sender is not one of them.
    public static func groupRecipients(members: [Recipient], sender: Data) -> Result<[Recipient], RelayError> {
        guard members.contains(where: { $0.key == sender }) else {
            return .failure(RelayError(.forbidden, "the sending device is not routed for this group"))
        }
        return .success(members.filter { $0.key != sender })
    }

    /// The refusal for a message to a group the store does not know.
    public static let noSuchGroup = RelayError(.notFound, "no such group")

    /// Splits recipients into those whose mailbox has room and the keys of those that are full.
    /// Refused outright when every one is full, so the id stays unused and the sender can retry.
    public static func split(_ recipients: [Recipient], limits: StoreLimits) -> Result<(accepting: [Recipient], full: [Data]), RelayError> {
        let accepting = recipients.filter { $0.pending < limits.mailboxMessages }
        let full = recipients.filter { $0.pending >= limits.mailboxMessages }.map(\.key)
        if accepting.isEmpty && !full.isEmpty {
            return .failure(RelayError(.mailboxFull, "every recipient's mailbox is full"))
        }
        return .success((accepting, full))
    }

    /// What a stored blob looks like to a new chunk.
    public struct StoredBlob: Sendable {
        public var sameOwner: Bool
        public var size: UInt64
        public var complete: Bool

        public init(sameOwner: Bool, size: UInt64, complete: Bool) {
            self.sameOwner = sameOwner
            self.size = size
            self.complete = complete
        }
    }

    /// What to do with a blob chunk.
    public enum ChunkPlan: Sendable, Equatable {
        /// A new blob: store the chunk at offset 0.
        case create
        /// A chunk inside the bytes already stored: a resend when its bytes equal those stored at
        /// its offset (`checkResend`), answered with the blob as it is.
        case resend(BlobState)
        /// Store the chunk at the blob's end.
        case append
    }

    /// Decides a chunk against the stored blob (nil: none), or throws the refusal.
    public static func plan(_ chunk: BlobChunkWrite, stored: StoredBlob?) throws(RelayError) -> ChunkPlan {
        let length = UInt64(chunk.data.count)
        guard let stored else {
            guard chunk.offset == 0 else { throw RelayError(.notFound, "no such blob: the first chunk must have offset 0") }
            return .create
        }
        guard stored.sameOwner else { throw RelayError(.forbidden, "this blob id belongs to another identity") }
        // `offset` comes from the client: compared without adding to it, which could overflow.
        if chunk.offset <= stored.size, length <= stored.size - chunk.offset, chunk.offset < stored.size || stored.complete {
            return .resend(BlobState(size: stored.size, complete: stored.complete))
        }
        guard !stored.complete else { throw RelayError(.conflict, "the blob is complete") }
        guard chunk.offset == stored.size else { throw RelayError(.conflict, "the next chunk must start at offset \(stored.size)") }
        return .append
    }

    /// Refuses a resent chunk whose bytes differ from those stored at its offset: a resend is the
    /// same chunk at the same offset, byte for byte, and then changes nothing (Protocol.md §7.7).
    public static func checkResend(_ chunk: BlobChunkWrite, stored: Data) throws(RelayError) {
        guard chunk.data == stored else {
            throw RelayError(.conflict, "bytes \(chunk.offset)..<\(chunk.offset + UInt64(chunk.data.count)) of the blob are stored already, "
                + "and differ from this chunk")
        }
    }

    /// Refuses a blob that would grow past `maxBlobBytes` (`total`) or its owner past the quota
    /// (`used` already stored plus `adding`).
    public static func checkBlob(total: UInt64, used: UInt64, adding: UInt64, limits: StoreLimits) throws(RelayError) {
        guard total <= limits.maxBlobBytes else {
            throw RelayError(.payloadTooLarge, "a blob may hold at most \(limits.maxBlobBytes) bytes")
        }
        guard used + adding <= limits.blobQuotaBytes else {
            throw RelayError(.quotaExceeded, "blob quota of \(limits.blobQuotaBytes) bytes reached")
        }
    }

    /// Refuses more stored one-time prekeys than the limit.
    public static func checkPrekeys(count: Int, limits: StoreLimits) throws(RelayError) {
        guard count <= limits.maxOneTimePrekeys else {
            throw RelayError(.quotaExceeded, "at most \(limits.maxOneTimePrekeys) one-time prekeys may be stored; this would make \(count)")
        }
    }

    /// The checks of Protocol.md §7.5 on a request's KEM prekeys, which come after the one-time
    /// prekey quota: sizes, then how many one request carries.
    public static func checkKEMPrekeys(lastResort: Data?, oneTime: [Data], limits: StoreLimits) throws(RelayError) {
        let largest = RelayProtocol.maxKEMPrekeyBytes
        guard (lastResort?.count ?? 0) <= largest else {
            throw RelayError(.payloadTooLarge, "a last-resort KEM prekey may hold at most \(largest) bytes")
        }
        for key in oneTime {
            guard !key.isEmpty else { throw RelayError(.invalidArgument, "a one-time KEM prekey is empty") }
            guard key.count <= largest else {
                throw RelayError(.payloadTooLarge, "a one-time KEM prekey may hold at most \(largest) bytes")
            }
        }
        guard oneTime.count <= limits.maxKEMOneTimePrekeys else {
            throw RelayError(.invalidArgument, "at most \(limits.maxKEMOneTimePrekeys) one-time KEM prekeys in one request")
        }
    }

    /// Refuses more stored one-time KEM prekeys than the limit.
    public static func checkKEMPrekeyQuota(count: Int, limits: StoreLimits) throws(RelayError) {
        guard count <= limits.maxKEMOneTimePrekeys else {
            throw RelayError(.quotaExceeded,
                             "at most \(limits.maxKEMOneTimePrekeys) one-time KEM prekeys may be stored; this would make \(count)")
        }
    }

    /// The route-serial refusal (Protocol.md §7.6): a route is created with serial 1; a change
    /// carries a serial above the stored one (one more, or more when the route lost changes to a
    /// restored backup), or the stored one itself to re-assert the route.
    public static func checkSerial(_ serial: UInt64, current: UInt64) throws(RelayError) {
        guard current == 0 ? serial == 1 : serial >= current else {
            throw RelayError(.conflict, "route serial is \(current); a change must carry \(max(current, 1)) or more")
        }
    }

    /// Refuses a published device chain that does not extend the one stored (Protocol.md §7.8): a
    /// relay keeps the longest history it was given, and never a second one.
    public static func checkExtension(stored: [Data], published: [Data]) throws(RelayError) {
        guard stored.count <= published.count, zip(stored, published).allSatisfy({ $0 == $1 }) else {
            throw RelayError(.conflict, "this relay holds \(stored.count) entries of the identity's device chain, "
                + "and the published chain does not extend them")
        }
    }

    /// The refusal of a chain listing a device that another identity's chain lists.
    public static let deviceOfAnotherIdentity = RelayError(
        .conflict, "a device the chain lists is listed by another identity's chain on this relay")
}
