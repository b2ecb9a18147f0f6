import CaucusIdentity
import Foundation

/// What the operator's commands (`caucus-relay stats`, `prune`, `ban`, `unban`, `bans`) do to a
/// store, safely beside relays that are running on it: each call is one short transaction.
public protocol RelayAdminStore: RelayStore {
    /// Counts of what the store holds, read in one transaction (no key, id or payload).
    func statistics() async throws -> StoreStatistics

    /// Bans `device` from `at` (Unix milliseconds). A device banned already keeps its first ban;
    /// `new` is false then.
    func ban(_ device: Data, at: Int64) async throws -> (ban: DeviceBan, new: Bool)
    /// Lifts the ban on `device`; false when it was not banned.
    func unban(_ device: Data) async throws -> Bool

    /// Deletes the card inboxes named by `inboxKeys` with every item in them, in one transaction,
    /// and returns how many items each held. When one of them holds no item (there is no such
    /// inbox), nothing is deleted and `StoreAdminError.noSuchCardInbox` names it.
    func deleteCardInboxes(_ inboxKeys: [Data]) async throws -> [Int]
}

/// What a store holds, for `caucus-relay stats`.
public struct StoreStatistics: Sendable, Equatable {
    /// Device keys the store knows (recipients, routed devices, prekey and blob owners).
    public var devices = 0
    /// Devices with at least one undelivered message.
    public var mailboxes = 0
    /// Undelivered deliveries: one per message and recipient that has not acknowledged it.
    public var deliveries = 0
    /// Messages with at least one undelivered delivery.
    public var messages = 0
    /// When the oldest of those messages was accepted (Unix milliseconds); nil when none waits.
    public var oldestUndeliveredAt: Int64?
    /// Group routes.
    public var groups = 0
    /// Blobs, complete or not, and their bytes.
    public var blobs = 0
    public var blobBytes: Int64 = 0
    /// Card inboxes (an inbox exists while it holds an item) and their items.
    public var cardInboxes = 0
    public var cardItems = 0
    /// Banned devices.
    public var bannedDevices = 0
    /// Bytes the store takes: the SQLite file with its WAL and shared-memory files, or the
    /// PostgreSQL database's size.
    public var storeBytes: Int64 = 0

    public init() {}

    /// The counts above, in their order (`storeBytes` apart), in one statement, so that they come
    /// from one snapshot; the same text for SQLite and PostgreSQL, whose tables have the same names.
    public static let countsSQL = """
        SELECT (SELECT COUNT(*) FROM devices),
               (SELECT COUNT(DISTINCT device) FROM deliveries),
               (SELECT COUNT(*) FROM deliveries),
               (SELECT COUNT(DISTINCT message) FROM deliveries),
               (SELECT MIN(accepted_at) FROM messages WHERE id IN (SELECT message FROM deliveries)),
               (SELECT COUNT(*) FROM groups),
               (SELECT COUNT(*) FROM blobs),
               (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs),
               (SELECT COUNT(DISTINCT inbox) FROM card_items),
               (SELECT COUNT(*) FROM card_items),
               (SELECT COUNT(*) FROM bans)
        """
}

/// An operator's command that the store refuses.
public enum StoreAdminError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No card inbox with this key holds an item.
    case noSuchCardInbox(Data)

    public var description: String {
        switch self {
        case .noSuchCardInbox(let key):
            "no card inbox \(Hex.encode(key)) in the store (nothing was posted to it, "
                + "or it was deleted); nothing was deleted"
        }
    }
}
