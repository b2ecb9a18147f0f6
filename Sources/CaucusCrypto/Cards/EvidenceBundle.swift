import Foundation

/// The evidence a union files with the labor board (Protocol.md §10.5): the campaign record, the
/// organizers' signed tally statement (§10.9), and every counted card with its signature and
/// signer's DID, as JSON that anyone can check with any Ed25519 library, without Caucus. The
/// statement commits to the card set: a card added, removed, changed or moved, or another unit
/// size, fails verification.
public struct EvidenceBundle: Encodable, Equatable, Sendable {
    /// The format tag every bundle carries.
    public static let formatTag = "caucus-evidence/v2"

    /// The campaign record, field by field.
    public struct CampaignRecord: Encodable, Equatable, Sendable {
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

    /// The tally statement, field by field (its campaign is the record's).
    public struct StatementRecord: Encodable, Equatable, Sendable {
        public var talliedAtMs: UInt64
        public var counted: UInt64
        public var unitSize: UInt64
        public var unitListHash: String
        public var merkleRoot: String
        public var signature: String
    }

    /// One counted card, field by field.
    public struct CardRecord: Encodable, Equatable, Sendable {
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

    /// Always `caucus-evidence/v2`.
    public var format: String
    /// The campaign.
    public var campaign: CampaignRecord
    /// The organizers' signed statement of the tally.
    public var statement: StatementRecord
    /// The cards that counted, in ascending order of their hashes.
    public var cards: [CardRecord]

    /// When the tally was made (Unix ms): cards are judged stale against it.
    public var talliedAtMs: UInt64 { statement.talliedAtMs }
    /// The unit size the share is counted against: the campaign's, or a unit list's.
    public var countedUnitSize: UInt64 { statement.unitSize }

    /// Cards in the order of the bundle and the statement's tree: ascending hashes.
    public static func ordered(_ cards: [Card]) -> [Card] {
        cards.map { ($0.hash, $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
    }

    /// The bundle of a tally: its counted cards, or `counting` (those matched to a unit list,
    /// whose size the tally was given, and whose file's BLAKE2b-256 is `unitList`), against the
    /// tally's unit size, with a statement signed now by the campaign's card key.
    public init(_ tally: CardTally, talliedAt: UInt64, cardKey: Ed25519.PrivateKey, counting: [Card]? = nil, unitList: [UInt8]? = nil) {
        let campaign = tally.campaign
        let counted = Self.ordered(counting ?? tally.valid)
        let statement = TallyStatement.sign(campaign: campaign, counted: counted, unitSize: tally.unitSize, unitList: unitList,
                                            at: talliedAt, cardKey: cardKey)
        format = Self.formatTag
        self.campaign = CampaignRecord(
            id: Hex.encode(campaign.id), union: campaign.union, employer: campaign.employer,
            unitDescription: campaign.unitDescription, unitSize: campaign.unitSize, language: campaign.language,
            cardKey: Hex.encode(campaign.cardKey.rawRepresentation), organizer: DID(publicKey: campaign.organizer).description,
            createdAtMs: campaign.createdAt, signature: Hex.encode(campaign.signature.rawRepresentation), hash: Hex.encode(campaign.hash))
        self.statement = StatementRecord(
            talliedAtMs: statement.talliedAt, counted: statement.counted, unitSize: statement.unitSize,
            unitListHash: Hex.encode(statement.unitList), merkleRoot: Hex.encode(statement.root),
            signature: Hex.encode(statement.signature.rawRepresentation))
        cards = counted.map { card in
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

    /// Parses a bundle's JSON strictly (`StrictJSON`): exactly the fields of §10.5, each once,
    /// integers in plain digits, hex in lower case at its length, nothing after the document.
    /// The error names the first field that is wrong.
    public init(json: [UInt8]) throws(CardError) {
        var document = try StrictJSON.Object(try StrictJSON.parse(json), path: "")
        format = try document.string("format")
        guard format == Self.formatTag else {
            throw CardError.malformed("format: \"\(format)\" is not \(Self.formatTag) (a bundle from an older Caucus: export it again)")
        }
        var record = try StrictJSON.Object(try document.value("campaign"), path: "campaign")
        campaign = CampaignRecord(
            id: try record.hex("id", bytes: 16), union: try record.string("union"), employer: try record.string("employer"),
            unitDescription: try record.string("unit_description"), unitSize: try record.uint64("unit_size"),
            language: try record.string("language"), cardKey: try record.hex("card_key", bytes: 32),
            organizer: try record.string("organizer"), createdAtMs: try record.uint64("created_at_ms"),
            signature: try record.hex("signature", bytes: 64), hash: try record.hex("hash", bytes: 32))
        try record.finish()
        var tally = try StrictJSON.Object(try document.value("statement"), path: "statement")
        statement = StatementRecord(
            talliedAtMs: try tally.uint64("tallied_at_ms"), counted: try tally.uint64("counted"), unitSize: try tally.uint64("unit_size"),
            unitListHash: try tally.hex("unit_list_hash", bytes: 32), merkleRoot: try tally.hex("merkle_root", bytes: 32),
            signature: try tally.hex("signature", bytes: 64))
        try tally.finish()
        var cards: [CardRecord] = []
        for (index, value) in try document.array("cards").enumerated() {
            var card = try StrictJSON.Object(value, path: "cards[\(index)]")
            cards.append(CardRecord(
                name: try card.string("name"), contact: try card.string("contact"), phone: try card.string("phone"),
                employer: try card.string("employer"), language: try card.string("language"), date: try card.string("date"),
                signer: try card.string("signer"), signedAtMs: try card.uint64("signed_at_ms"),
                signature: try card.hex("signature", bytes: 64), hash: try card.hex("hash", bytes: 32)))
            try card.finish()
        }
        self.cards = cards
        try document.finish()
    }

    /// What checking a bundle found: the campaign record is genuine, and how many cards are.
    public struct Verification: Equatable, Sendable {
        /// Cards whose signature, campaign, hash and fields all check.
        public var validCards: Int
        /// Each card that failed, by position, and why.
        public var failures: [(index: Int, reason: String)]
        /// Where the bundle's cards differ from what the tally statement commits to; empty when
        /// the statement is signed by the card key and covers exactly these cards in this order.
        public var statementProblems: [String]
        /// Whether the bundle's own count of the unit's share holds.
        public var reachesPetition: Bool
        public var reachesMajority: Bool

        /// Whether every card verifies and the statement covers exactly them.
        public var holds: Bool { failures.isEmpty && statementProblems.isEmpty }

        public static func == (a: Verification, b: Verification) -> Bool {
            a.validCards == b.validCards && a.failures.map(\.index) == b.failures.map(\.index)
                && a.failures.map(\.reason) == b.failures.map(\.reason) && a.statementProblems == b.statementProblems
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
        // Where each card's hash first appears in the bundle, to name a rejected card by its place.
        var places: [String: Int] = [:]
        places.reserveCapacity(cards.count)
        for (index, card) in cards.enumerated() where places[card.hash] == nil { places[card.hash] = index }
        for rejection in tally.rejected {
            guard case .card(let card)? = rejection.item, let index = places[Hex.encode(card.hash)] else { continue }
            failures.append((index, rejection.reason.description))
        }
        return Verification(validCards: tally.valid.count, failures: failures.sorted { $0.0 < $1.0 },
                            statementProblems: statementProblems(campaign),
                            reachesPetition: tally.reachesPetition, reachesMajority: tally.reachesMajority)
    }

    /// What keeps the statement from covering exactly this bundle's cards (Protocol.md §10.5 steps 3–5).
    private func statementProblems(_ campaign: Campaign) -> [String] {
        var problems: [String] = []
        let signature = Hex.decode(statement.signature).map(Ed25519.Signature.init(unchecked:))
        let signed = signature.map { signature in
            TallyStatement(campaign: campaign.hash, talliedAt: statement.talliedAtMs, counted: statement.counted,
                           unitSize: statement.unitSize, unitList: Hex.decode(statement.unitListHash) ?? [],
                           root: Hex.decode(statement.merkleRoot) ?? [], signature: signature)
        }
        if signed?.isSigned(for: campaign) != true {
            problems.append("statement: the card key's signature does not verify: one of tallied_at_ms, counted, unit_size, "
                + "unit_list_hash, merkle_root was changed, or it was not signed for this campaign")
        }
        if statement.counted != UInt64(cards.count) {
            problems.append("statement.counted: the statement counts \(statement.counted) cards; the bundle holds \(cards.count)")
        }
        let hashes = cards.map { Hex.decode($0.hash) ?? [] }
        for index in hashes.indices.dropFirst() where !hashes[index - 1].lexicographicallyPrecedes(hashes[index]) {
            problems.append(hashes[index - 1] == hashes[index]
                ? "cards[\(index)]: the same card as cards[\(index - 1)]"
                : "cards[\(index)]: out of order (cards go in ascending order of hash; it belongs before cards[\(index - 1)])")
        }
        if Hex.encode(CardMerkleTree(hashes).root) != statement.merkleRoot {
            problems.append("statement.merkle_root: does not match the bundle's cards (a card was added, removed or changed)")
        }
        return problems
    }
}
