import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import Foundation

/// Session starts the peer has not answered in yet, kept to be sent again when the peer says it
/// could not open them (an `Unreadable` payload, Protocol.md §9.6): a relay that swapped the
/// peer's one-time prekey makes every start of that session unreadable.
extension Account {
    /// How long a start is kept: the relay's default time to live (30 days), after which the relay
    /// has dropped it anyway.
    static let unconfirmedStartLifetime: Int64 = 30 * 86_400_000

    /// Keeps, sealed, a payload that went to `peer` as a session start.
    nonisolated func keepUnconfirmedStart(_ tx: StoreTransaction, _ plaintext: [UInt8], to peer: Ed25519.PublicKey) throws {
        try tx.keepUnconfirmedStart(plaintext, to: peer, at: ClientStore.now())
    }

    /// `peer` wrote in a session this client started, so it opened the starts: none is kept.
    nonisolated func confirmStarts(_ tx: StoreTransaction, from peer: Ed25519.PublicKey) throws {
        try tx.deleteUnconfirmedStarts(to: peer)
    }

    /// Sends again, over the current session with `peer`, the last `count` starts it could not
    /// open (those whose disappearing timer has not run out, with what is left of it), forgets the
    /// rest, and returns how many went.
    nonisolated func resendUnconfirmedStarts(_ tx: StoreTransaction, count: UInt32, to peer: Ed25519.PublicKey) throws -> Int {
        var starts = try tx.takeUnconfirmedStarts(to: peer, limit: Int(min(count, 1_000)))
        let now = ClientStore.now()
        var sent = 0
        for index in starts.indices {
            defer { wipe(&starts[index]) }
            guard let payload = try? Payload(decoding: starts[index]), let stamp = payload.writtenStamp else { continue }
            var ttl: UInt32 = 0
            if stamp.expirySeconds > 0 {
                let left = Int64(stamp.sentAt) + Int64(stamp.expirySeconds) * 1_000 - now
                guard left > 0 else { continue }
                ttl = UInt32(clamping: (left + 999) / 1_000)
            }
            // A fresh relay id: the relay remembers the first one and would store nothing.
            try enqueuePairwise(tx, payload, toDevice: peer, id: Random.bytes(16), ttl: ttl)
            sent += 1
        }
        return sent
    }
}

extension Payload {
    /// The stamp of what a person wrote (a text or a file offer), which is sent again when the
    /// session start carrying it could not be opened; nil for every other payload.
    var writtenStamp: MessageStamp? {
        switch self {
        case .text(let stamp, _), .file(let stamp, _): stamp
        default: nil
        }
    }
}
