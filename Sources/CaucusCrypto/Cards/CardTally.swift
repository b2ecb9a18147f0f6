import Foundation
import Synchronization

/// Counts a campaign's cards the way the labor board would (Protocol.md §10.4): one card per
/// signer (the latest one not revoked), every other item rejected with its reason.
public struct CardTally: Sendable {
    /// How old a card may be before it no longer counts: 12 months, taken as 365 days.
    public static let maximumAgeMilliseconds: UInt64 = 365 * 86_400_000
    /// How far ahead of the tally's clock a card or revocation may be signed (clocks differ).
    public static let clockSkewMilliseconds: UInt64 = 86_400_000

    /// Why an item does not count.
    public enum Rejection: Hashable, Sendable, CustomStringConvertible {
        /// The sealed item did not open or parse.
        case unreadable(String)
        /// Its signature does not verify (altered, or forged).
        case badSignature
        /// It names another campaign.
        case otherCampaign
        /// Its employer or card language differs from the campaign's (the field named).
        case alteredText(String)
        /// A field is empty, malformed or holds what a card must never carry.
        case invalidFields(String)
        /// Signed more than 12 months before the tally.
        case stale
        /// Signed (by its `signed_at` or `revoked_at`) more than a day after the tally's time.
        case signedInFuture
        /// The card's date is not its signer's date at `signed_at` in any time zone.
        case dateDisagrees
        /// The signer signed again later; the later card counts.
        case superseded
        /// The signer withdrew it.
        case revoked
        /// Same name or contact as a card counted under another DID (that DID).
        case suspectedSamePerson(DID)
        /// A revocation signed by someone other than the card's signer.
        case revocationBySomeoneElse

        public var description: String {
            switch self {
            case .unreadable(let why): "unreadable (\(why))"
            case .badSignature: "bad signature"
            case .otherCampaign: "for another campaign"
            case .alteredText(let field): "altered \(field)"
            case .invalidFields(let why): "invalid fields (\(why))"
            case .stale: "stale (signed more than 12 months ago)"
            case .signedInFuture: "signed in the future (more than a day after the tally)"
            case .dateDisagrees: "its date is not the day it was signed"
            case .superseded: "superseded by a later card from the same DID"
            case .revoked: "revoked by its signer"
            case .suspectedSamePerson(let other): "suspected same person as \(other)"
            case .revocationBySomeoneElse: "a revocation signed by someone other than the card's signer"
            }
        }
    }

    /// The campaign counted.
    public let campaign: Campaign
    /// The cards that count, one per signer, oldest first.
    public let valid: [Card]
    /// The revocations that withdrew a card, in input order: signed by the card's own signer and
    /// naming a card that passed the checks (one per card; a repeated withdrawal is not listed again).
    public let withdrawals: [CardRevocation]
    /// Every item that does not count, in input order, with its reason (the item, when it parsed).
    public let rejected: [(item: CardItem?, reason: Rejection)]
    /// Unit size the share is computed against.
    public let unitSize: UInt64
    /// The tally's time (Unix ms): staleness and the clock skew are counted from it.
    public let talliedAt: UInt64
    /// Every item that passed the checks needing no other item at some time, in inbox order: the
    /// cards (stale ones too) and revocations the tally as of an earlier day is made of (`progress`).
    let history: [Screened]

    /// Share of the unit with a valid card, 0...1.
    public var share: Double { unitSize == 0 ? 0 : Double(valid.count) / Double(unitSize) }
    /// At least 30% of the unit: enough for an election petition.
    public var reachesPetition: Bool { UInt128(valid.count) * 10 >= UInt128(unitSize) * 3 }  // no overflow for any unit size
    /// More than half of the unit: enough for a recognition demand.
    public var reachesMajority: Bool { UInt128(valid.count) * 2 > UInt128(unitSize) }

    /// Tallies `items` (opened, or the reason they could not be) for `campaign` at time `now`
    /// (Unix ms); `unitSize` overrides the campaign's (for example from an imported unit list).
    public init(campaign: Campaign, items: [Result<CardItem, CardError>], now: UInt64, unitSize: UInt64? = nil) {
        let screening = Screening(campaign: campaign, now: now)
        self.init(campaign: campaign, screened: items.map(screening.screen), unitSize: unitSize, now: now)
    }

    /// Opens sealed inbox items with the card key and checks each on its own (the costly part:
    /// signature, campaign, fields, age) on `threads` threads at once, then tallies them as
    /// `init(campaign:items:now:unitSize:)`.
    public static func opening(
        _ sealed: [[UInt8]], with cardKey: Ed25519.PrivateKey, campaign: Campaign, now: UInt64, unitSize: UInt64? = nil,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> CardTally {
        let agreementKey = X25519.PrivateKey(converting: cardKey)
        let screening = Screening(campaign: campaign, now: now)
        let screened = concurrentMap(count: sealed.count, threads: threads) { index in
            screening.screen(Result { () throws(CardError) -> CardItem in try CardItem(opening: sealed[index], with: agreementKey) })
        }
        return CardTally(campaign: campaign, screened: screened, unitSize: unitSize, now: now)
    }

    /// `[transform(0), …, transform(count - 1)]` on up to `threads` threads, each taking the next
    /// few indices whenever it is free, so that a thread slowed down (by a busy core) holds up no one.
    static func concurrentMap<T>(count: Int, threads: Int, _ transform: @Sendable (Int) -> T) -> [T] {
        let threads = max(1, min(threads, count))
        guard threads > 1 else { return (0..<count).map(transform) }
        let batch = max(1, min(16, count / (threads * 16)))
        return [T](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            nonisolated(unsafe) let out = buffer
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while case let start = next.add(batch, ordering: .relaxed).oldValue, start < count {
                    for index in start..<min(start + batch, count) {
                        (out.baseAddress! + index).initialize(to: transform(index))
                    }
                }
            }
            initializedCount = count
        }
    }

    /// The steps that weigh items against each other: revocations, one card per signer, one per person.
    init(campaign: Campaign, screened: [Screened], unitSize: UInt64?, now: UInt64) {
        self.campaign = campaign
        self.unitSize = unitSize ?? campaign.unitSize
        talliedAt = now
        history = screened.filter { if case .rejected = $0 { false } else { true } }
        var rejected: [(Int, CardItem?, Rejection)] = []
        var candidates: [Int] = []
        var revocations: [(Int, CardRevocation)] = []
        for (index, item) in screened.enumerated() {
            switch item {
            case .rejected(let item, let reason): rejected.append((index, item, reason))
            case .stale(let candidate): rejected.append((index, .card(candidate.card), .stale))
            case .card: candidates.append(index)
            case .revocation(let revocation): revocations.append((index, revocation))
            }
        }
        func candidate(_ index: Int) -> Candidate {
            guard case .card(let candidate) = screened[index] else { preconditionFailure("not a candidate") }
            return candidate
        }

        // A revocation that names a card of its own signer withdraws every card of that signer
        // signed at or before it (not only the one it names: else an older card would count again).
        var revokedUpTo: [Ed25519.PublicKey: UInt64] = [:]
        var withdrawals: [CardRevocation] = []
        if !revocations.isEmpty {
            let byHash = Dictionary(candidates.map { (candidate($0).hash, candidate($0).card) }, uniquingKeysWith: { first, _ in first })
            var named = Set<[UInt8]>()
            for (index, revocation) in revocations {
                guard let card = byHash[revocation.card] else { continue }
                if let upTo = Self.withdrawal(by: revocation, of: card) {
                    revokedUpTo[card.signer] = max(revokedUpTo[card.signer] ?? 0, upTo)
                    if named.insert(revocation.card).inserted { withdrawals.append(revocation) }
                } else {
                    rejected.append((index, .revocation(revocation), .revocationBySomeoneElse))
                }
            }
        }

        // One card per signer: the latest not revoked; then one per person as far as names and
        // contacts tell, the latest counting.
        var counted: [Card] = []
        var signersSeen = Set<Ed25519.PublicKey>()
        var nameOwner: [String: Ed25519.PublicKey] = [:], contactOwner: [String: Ed25519.PublicKey] = [:]
        for (_, index) in candidates.map({ (candidate($0).card.signedAt, $0) }).sorted(by: >) {
            let candidate = candidate(index)
            let card = candidate.card
            if !revokedUpTo.isEmpty, let upTo = revokedUpTo[card.signer], card.signedAt <= upTo {
                rejected.append((index, .card(card), .revoked))
            } else if !signersSeen.insert(card.signer).inserted {
                rejected.append((index, .card(card), .superseded))
            } else if let other = nameOwner[candidate.name] ?? contactOwner[candidate.contact], other != card.signer {
                rejected.append((index, .card(card), .suspectedSamePerson(DID(publicKey: other))))
            } else {
                nameOwner[candidate.name] = card.signer
                contactOwner[candidate.contact] = card.signer
                counted.append(card)
            }
        }
        self.withdrawals = withdrawals
        counted.reverse()
        valid = counted
        self.rejected = rejected.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
    }

    /// The `signed at` up to which `revocation` withdraws its signer's cards (Protocol.md §10.3):
    /// its own time, or that of `card`, the card it names, if later; nil when the card's signer
    /// did not sign the revocation, which then withdraws nothing. The caller found `card` by the
    /// hash the revocation names.
    public static func withdrawal(by revocation: CardRevocation, of card: Card) -> UInt64? {
        guard card.signer == revocation.signer else { return nil }
        return max(revocation.revokedAt, card.signedAt)
    }

    /// How names and contacts are compared (Protocol.md §10.4): canonical decomposition, full case
    /// folding, every run of White_Space one space and none at the ends; the results are equal
    /// when canonically equivalent (as Swift compares strings).
    static func normalized(_ text: String) -> String {
        var text = text
        text.makeContiguousUTF8()
        if let ascii = text.utf8.withContiguousStorageIfAvailable(normalizedASCII), let ascii { return ascii }
        return normalizedUnicode(text)
    }

    /// `normalized` of any text, scalar by scalar.
    static func normalizedUnicode(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var spaced = false
        for scalar in text.decomposedStringWithCanonicalMapping.unicodeScalars {
            if CaseFolding.isWhiteSpace(scalar) {
                spaced = true
                continue
            }
            if spaced && !out.isEmpty { out.append(" ") }
            spaced = false
            CaseFolding.append(scalar, to: &out)
        }
        return String(out)
    }

    /// `normalized` of ASCII text, byte by byte (ASCII is its own decomposition, folding changes
    /// only A-Z, and its White_Space is tab, LF, VT, FF, CR and space); nil for other text.
    static func normalizedASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        return String(unsafeUninitializedCapacity: bytes.count) { out in
            var count = 0, spaced = true
            for byte in bytes {
                if byte == 0x20 || (0x09...0x0D).contains(byte) {
                    spaced = true
                    continue
                }
                if spaced && count > 0 {
                    out[count] = 0x20
                    count += 1
                }
                spaced = false
                out[count] = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
                count += 1
            }
            return count
        }
    }
}
