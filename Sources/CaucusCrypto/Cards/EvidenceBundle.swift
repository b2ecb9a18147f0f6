import Foundation

/// The evidence a union files with the labor board (Protocol.md §10.5): the campaign record and
/// every counted card with its signature and signer's DID, as JSON that anyone can check with any
/// Ed25519 library, without Caucus.
public struct EvidenceBundle: Codable, Equatable, Sendable {
    /// The format tag every bundle carries.
    public static let formatTag = "caucus-evidence/v1"

    /// The campaign record, field by field.
    public struct CampaignRecord: Codable, Equatable, Sendable {
        public var id: String
        public var union: String
        public var employer: String
        public var unitDescription: String
        public var unitSize: UInt64
        public var language: String
        public var cardKey: String
        public var organizer: String
        public var createdAtMs: UInt64
        public var signature: String
        public var hash: String
    }

    /// One counted card, field by field.
    public struct CardRecord: Codable, Equatable, Sendable {
        public var name: String
        public var contact: String
        public var phone: String
        public var employer: String
        public var language: String
        public var date: String
        public var signer: String
        public var signedAtMs: UInt64
        public var signature: String
        public var hash: String
    }

    /// Always `caucus-evidence/v1`.
    public var format: String
    /// When the tally was made (Unix ms): cards are judged stale against it.
    public var talliedAtMs: UInt64
    /// The unit size the share is counted against: the campaign's, or an imported unit list's.
    public var countedUnitSize: UInt64
    /// The campaign.
    public var campaign: CampaignRecord
    /// The cards that counted.
    public var cards: [CardRecord]

    /// The bundle of a tally: its counted cards, or `counting` (those matched to a unit list,
    /// whose size the tally was given), against the tally's unit size.
    public init(_ tally: CardTally, talliedAt: UInt64, counting: [Card]? = nil) {
        let campaign = tally.campaign
        format = Self.formatTag
        talliedAtMs = talliedAt
        countedUnitSize = tally.unitSize
        self.campaign = CampaignRecord(
            id: Hex.encode(campaign.id), union: campaign.union, employer: campaign.employer,
            unitDescription: campaign.unitDescription, unitSize: campaign.unitSize, language: campaign.language,
            cardKey: Hex.encode(campaign.cardKey.rawRepresentation), organizer: DID(publicKey: campaign.organizer).description,
            createdAtMs: campaign.createdAt, signature: Hex.encode(campaign.signature.rawRepresentation), hash: Hex.encode(campaign.hash))
        cards = (counting ?? tally.valid).map { card in
            CardRecord(name: card.fields.name, contact: card.fields.contact, phone: card.fields.phone, employer: card.fields.employer,
                       language: card.fields.language, date: card.fields.date, signer: DID(publicKey: card.signer).description,
                       signedAtMs: card.signedAt, signature: Hex.encode(card.signature.rawRepresentation), hash: Hex.encode(card.hash))
        }
    }

    /// The JSON text: sorted keys, snake_case, indented.
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(self))
    }

    /// Parses a bundle's JSON.
    public init(json: [UInt8]) throws(CardError) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { self = try decoder.decode(Self.self, from: Data(json)) } catch {
            throw CardError.malformed("not an evidence bundle: \(error.localizedDescription)")
        }
        guard format == Self.formatTag else { throw CardError.malformed("unknown bundle format \(format)") }
    }

    /// What checking a bundle found: the campaign record is genuine, and how many cards are.
    public struct Verification: Equatable, Sendable {
        /// Cards whose signature, campaign, hash and fields all check.
        public var validCards: Int
        /// Each card that failed, by position, and why.
        public var failures: [(index: Int, reason: String)]
        /// Whether the bundle's own count of the unit's share holds.
        public var reachesPetition: Bool
        public var reachesMajority: Bool

        public static func == (a: Verification, b: Verification) -> Bool {
            a.validCards == b.validCards && a.failures.map(\.index) == b.failures.map(\.index)
                && a.failures.map(\.reason) == b.failures.map(\.reason)
                && a.reachesPetition == b.reachesPetition && a.reachesMajority == b.reachesMajority
        }
    }

    /// Checks every signature and hash from the fields alone; throws if the campaign record is not genuine.
    public func verify() throws(CardError) -> Verification {
        let record = campaign
        guard let organizer = DID(record.organizer), let id = Hex.decode(record.id), id.count == 16,
              let cardKeyBytes = Hex.decode(record.cardKey), let cardKey = try? Ed25519.PublicKey(rawRepresentation: cardKeyBytes),
              let signatureBytes = Hex.decode(record.signature), let signature = try? Ed25519.Signature(rawRepresentation: signatureBytes)
        else { throw CardError.malformed("the campaign record's keys or signature are not valid hex or DIDs") }
        let unitSizes = 1...Campaign.maximumUnitSize
        guard unitSizes.contains(record.unitSize), unitSizes.contains(countedUnitSize) else {
            throw CardError.malformed("a unit size is out of range (1 to \(Campaign.maximumUnitSize))")
        }
        let campaign = Campaign(id: id, union: record.union, employer: record.employer, unitDescription: record.unitDescription,
                                unitSize: record.unitSize, language: record.language, cardKey: cardKey,
                                organizer: organizer.publicKey, createdAt: record.createdAtMs, signature: signature)
        guard campaign.hasValidSignature else { throw CardError.badSignature }
        guard Hex.encode(campaign.hash) == record.hash else { throw CardError.malformed("the campaign hash does not match its record") }
        var items: [Result<CardItem, CardError>] = []
        var failures: [(Int, String)] = []
        for (index, card) in cards.enumerated() {
            guard let signer = DID(card.signer), let bytes = Hex.decode(card.signature),
                  let signature = try? Ed25519.Signature(rawRepresentation: bytes)
            else {
                failures.append((index, "the signer or signature is not a valid DID or hex"))
                continue
            }
            let rebuilt = Card(campaign: campaign.hash, fields: CardFields(name: card.name, contact: card.contact, phone: card.phone,
                                                                          employer: card.employer, language: card.language, date: card.date),
                               signer: signer.publicKey, signedAt: card.signedAtMs, signature: signature)
            if !rebuilt.hasValidSignature {
                failures.append((index, CardTally.Rejection.badSignature.description))
            } else if Hex.encode(rebuilt.hash) != card.hash {
                failures.append((index, "its hash does not match"))
            } else {
                items.append(.success(.card(rebuilt)))
            }
        }
        let tally = CardTally(campaign: campaign, items: items, now: talliedAtMs, unitSize: countedUnitSize)
        for rejection in tally.rejected {
            guard case .card(let card)? = rejection.item,
                  let index = cards.firstIndex(where: { $0.hash == Hex.encode(card.hash) }) else { continue }
            failures.append((index, rejection.reason.description))
        }
        return Verification(validCards: tally.valid.count, failures: failures.sorted { $0.0 < $1.0 },
                            reachesPetition: tally.reachesPetition, reachesMajority: tally.reachesMajority)
    }
}
