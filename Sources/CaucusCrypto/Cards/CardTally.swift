import Foundation

/// Counts a campaign's cards the way the labor board would (Protocol.md §10.4): one card per
/// signer (the latest one not revoked), every other item rejected with its reason.
public struct CardTally: Sendable {
    /// How old a card may be before it no longer counts: 12 months, taken as 365 days.
    public static let maximumAgeMilliseconds: UInt64 = 365 * 86_400_000

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

    /// Share of the unit with a valid card, 0...1.
    public var share: Double { unitSize == 0 ? 0 : Double(valid.count) / Double(unitSize) }
    /// At least 30% of the unit: enough for an election petition.
    public var reachesPetition: Bool { UInt64(valid.count) * 10 >= unitSize * 3 }
    /// More than half of the unit: enough for a recognition demand.
    public var reachesMajority: Bool { UInt64(valid.count) * 2 > unitSize }

    /// Tallies `items` (opened, or the reason they could not be) for `campaign` at time `now`
    /// (Unix ms); `unitSize` overrides the campaign's (for example from an imported unit list).
    public init(campaign: Campaign, items: [Result<CardItem, CardError>], now: UInt64, unitSize: UInt64? = nil) {
        self.init(campaign: campaign, items: items, signaturesValid: nil, now: now, unitSize: unitSize)
    }

    /// Opens sealed inbox items with the card key and checks their signatures on `threads`
    /// threads at once (the costly part), then tallies them as `init(campaign:items:now:unitSize:)`.
    public static func opening(
        _ sealed: [[UInt8]], with cardKey: Ed25519.PrivateKey, campaign: Campaign, now: UInt64, unitSize: UInt64? = nil,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> CardTally {
        let agreementKey = X25519.PrivateKey(converting: cardKey)
        let count = sealed.count
        let items = UnsafeMutableBufferPointer<Result<CardItem, CardError>>.allocate(capacity: count)
        let valid = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer {
            items.baseAddress!.deinitialize(count: count)
            items.deallocate()
            valid.deallocate()
        }
        nonisolated(unsafe) let itemsOut = items, validOut = valid
        let slices = max(1, min(threads, count))
        DispatchQueue.concurrentPerform(iterations: slices) { slice in
            for index in stride(from: slice, to: count, by: slices) {
                let result = Result { () throws(CardError) -> CardItem in try CardItem(opening: sealed[index], with: agreementKey) }
                (itemsOut.baseAddress! + index).initialize(to: result)
                validOut[index] = switch result {
                case .success(.card(let card)): card.hasValidSignature
                case .success(.revocation(let revocation)): revocation.hasValidSignature
                case .failure: false
                }
            }
        }
        return CardTally(campaign: campaign, items: Array(items), signaturesValid: Array(valid), now: now, unitSize: unitSize)
    }

    init(campaign: Campaign, items: [Result<CardItem, CardError>], signaturesValid: [Bool]?, now: UInt64, unitSize: UInt64?) {
        self.campaign = campaign
        self.unitSize = unitSize ?? campaign.unitSize
        let campaignHash = campaign.hash
        var rejected: [(Int, CardItem?, Rejection)] = []
        var candidates: [(Int, Card)] = []
        var revocations: [(Int, CardRevocation)] = []

        for (index, result) in items.enumerated() {
            let item: CardItem
            switch result {
            case .failure(let error): rejected.append((index, nil, .unreadable(error.description))); continue
            case .success(let opened): item = opened
            }
            switch item {
            case .revocation(let revocation):
                if revocation.campaign != campaignHash {
                    rejected.append((index, item, .otherCampaign))
                } else if !(signaturesValid?[index] ?? revocation.hasValidSignature) {
                    rejected.append((index, item, .badSignature))
                } else {
                    revocations.append((index, revocation))
                }
            case .card(let card):
                let signatureValid = signaturesValid?[index] ?? card.hasValidSignature
                if let reason = Self.check(card, signatureValid: signatureValid, campaign: campaign, campaignHash: campaignHash, now: now) {
                    rejected.append((index, item, reason))
                } else {
                    candidates.append((index, card))
                }
            }
        }

        // Revocations withdraw the card they name, if its own signer signed them.
        var revoked = Set<[UInt8]>()
        var withdrawals: [CardRevocation] = []
        let byHash = Dictionary(candidates.map { ($0.1.hash, $0.1) }, uniquingKeysWith: { first, _ in first })
        for (index, revocation) in revocations {
            guard let card = byHash[revocation.card] else { continue }
            if card.signer == revocation.signer {
                if revoked.insert(card.hash).inserted { withdrawals.append(revocation) }
            } else {
                rejected.append((index, .revocation(revocation), .revocationBySomeoneElse))
            }
        }

        // One card per signer: the latest not revoked; then one per person as far as names and
        // contacts tell, the latest counting.
        var counted: [(Int, Card)] = []
        var signersSeen = Set<Ed25519.PublicKey>()
        var nameOwner: [String: Ed25519.PublicKey] = [:], contactOwner: [String: Ed25519.PublicKey] = [:]
        for (index, card) in candidates.sorted(by: { ($0.1.signedAt, $0.0) > ($1.1.signedAt, $1.0) }) {
            if revoked.contains(card.hash) {
                rejected.append((index, .card(card), .revoked))
            } else if signersSeen.contains(card.signer) {
                rejected.append((index, .card(card), .superseded))
            } else {
                signersSeen.insert(card.signer)
                let name = Self.normalized(card.fields.name), contact = Self.normalized(card.fields.contact)
                if let other = nameOwner[name] ?? contactOwner[contact], other != card.signer {
                    rejected.append((index, .card(card), .suspectedSamePerson(DID(publicKey: other))))
                } else {
                    nameOwner[name] = card.signer
                    contactOwner[contact] = card.signer
                    counted.append((index, card))
                }
            }
        }
        self.withdrawals = withdrawals
        valid = counted.sorted { ($0.1.signedAt, $0.0) < ($1.1.signedAt, $1.0) }.map(\.1)
        self.rejected = rejected.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
    }

    private static func check(_ card: Card, signatureValid: Bool, campaign: Campaign, campaignHash: [UInt8], now: UInt64) -> Rejection? {
        guard card.campaign == campaignHash else { return .otherCampaign }
        guard signatureValid else { return .badSignature }
        guard card.fields.employer == campaign.employer else { return .alteredText("employer") }
        guard card.fields.language == campaign.language else { return .alteredText("card language") }
        do { try card.fields.validate() } catch { return .invalidFields(error.description) }
        guard now <= card.signedAt || now - card.signedAt <= maximumAgeMilliseconds else { return .stale }
        return nil
    }

    /// Lower case, single spaces, no spaces at the ends: how names and contacts are compared.
    static func normalized(_ text: String) -> String {
        text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
