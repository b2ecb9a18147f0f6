import CaucusCrypto
import Foundation

/// A campaign by `Fixtures.organizer` with two signed cards, a revocation and receipts.
struct CardFixture: Sendable {
    static let shared = CardFixture()
    static let now: UInt64 = 1_750_000_000_000

    let campaign: Campaign
    let cards: [Card]
    let revocation: CardRevocation
    let receipt: CardReceipt, revocationReceipt: RevocationReceipt
    let bundle: EvidenceBundle

    private init() {
        let keys = Fixtures.self
        campaign = try! Campaign.create(
            union: "Warehouse Workers United", employer: "Acme Logistics", unitDescription: "All warehouse associates at site 5",
            unitSize: 4, language: "I authorize Warehouse Workers United to represent me.", cardKey: keys.cardKey.publicKey,
            organizer: keys.organizer, createdAt: Self.now - 86_400_000)
        let signers = [(keys.member, "Amira Haddad", "amira@example.org"), (keys.outsider, "Tomasz Nowak", "tomasz@example.org")]
        let campaign = campaign
        cards = signers.map { key, name, contact in
            try! Card.sign(CardFields(name: name, contact: contact, phone: "+1 555 0100", employer: "Acme Logistics",
                                      language: "I authorize Warehouse Workers United to represent me.", date: CardFields.utcDate(Self.now - 3_600_000)),
                           for: campaign, by: key, at: Self.now - 3_600_000)
        }
        revocation = CardRevocation.sign(revoking: cards[1], by: keys.outsider, at: Self.now - 60_000)
        receipt = CardReceipt.sign(for: cards[0], cardKey: keys.cardKey, at: Self.now)
        revocationReceipt = RevocationReceipt.sign(for: revocation, cardKey: keys.cardKey, at: Self.now)
        let tally = CardTally(campaign: campaign, items: cards.map { .success(.card($0)) }, now: Self.now)
        bundle = EvidenceBundle(tally, talliedAt: Self.now, cardKey: keys.cardKey)
    }
}

extension FuzzTargets {
    /// The card records (`CardItem`, `Campaign`, `CardReceipt`, `RevocationReceipt`): any bytes
    /// decode or throw `CardError`, and a decoded record re-encodes to the same bytes. A card item
    /// is then tallied against the fixture campaign, and a campaign tallies the fixture's cards;
    /// records whose signer is a fixture key are re-signed first, so that hostile but correctly
    /// signed fields reach the tally's checks.
    static let cardRecords = FuzzTarget(
        name: "card-records",
        summary: "CardItem/Campaign/CardReceipt/RevocationReceipt(encoded:), round trip, then the tally",
        seeds: {
            let fixture = CardFixture.shared
            return fixture.cards.map { CardItem.card($0).encoded() } + [CardItem.revocation(fixture.revocation).encoded(),
                fixture.campaign.encoded(), fixture.receipt.encoded(), fixture.revocationReceipt.encoded()]
        },
        check: { input throws(FuzzFailure) in
            let fixture = CardFixture.shared
            if let item = try? CardItem(encoded: input) {
                try require(item.encoded() == input, "a card item does not re-encode to its bytes")
                for item in [item, resigned(item)] {
                    let tally = CardTally(campaign: fixture.campaign, items: [.success(item)], now: CardFixture.now)
                    try require(tally.valid.count + tally.rejected.count + tally.withdrawals.count <= 1, "one item counted twice")
                    _ = (tally.share, tally.reachesPetition, tally.reachesMajority)
                }
            }
            if let campaign = try? Campaign(encoded: input) {
                try require(campaign.encoded() == input, "a campaign does not re-encode to its bytes")
                for campaign in [campaign, resigned(campaign)] {
                    let tally = CardTally(campaign: campaign, items: fixture.cards.map { .success(.card($0)) }, now: CardFixture.now)
                    _ = (tally.share, tally.reachesPetition, tally.reachesMajority, campaign.hasValidSignature)
                }
            }
            if let receipt = try? CardReceipt(encoded: input) {
                try require(receipt.encoded() == input, "a card receipt does not re-encode to its bytes")
                try require(!receipt.confirms(fixture.cards[1], of: fixture.campaign), "a receipt confirms a card it does not name")
            }
            if let receipt = try? RevocationReceipt(encoded: input) {
                try require(receipt.encoded() == input, "a revocation receipt does not re-encode to its bytes")
                _ = receipt.confirms(fixture.revocation, of: fixture.campaign)
            }
        })

    /// The item as its signer would have signed it, when the signer is a fixture key.
    private static func resigned(_ item: CardItem) -> CardItem {
        let (signer, statement): (Ed25519.PublicKey, CanonicalMessage) = switch item {
        case .card(let card): (card.signer, card.statement)
        case .revocation(let revocation): (revocation.signer, revocation.statement)
        }
        guard let key = GroupFixture.privateKey(of: signer) else { return item }
        let bytes = item.encoded()
        return (try? CardItem(encoded: bytes.dropLast(64) + key.signature(for: statement).rawRepresentation)) ?? item
    }

    private static func resigned(_ campaign: Campaign) -> Campaign {
        guard let key = GroupFixture.privateKey(of: campaign.organizer) else { return campaign }
        let bytes = campaign.encoded()
        return (try? Campaign(encoded: bytes.dropLast(64) + key.signature(for: campaign.statement).rawRepresentation)) ?? campaign
    }

    /// `UnitList(csv:)` on any text: it parses or throws `CardError`; every employee has a
    /// trimmed, non-empty name; written back as quoted CSV it parses to the same employees.
    static let unitList = FuzzTarget(
        name: "unit-list",
        summary: "UnitList(csv:) on any text; parsed employees survive a quoted CSV round trip",
        seeds: {
            ["name,email\nAmira Haddad,amira@example.org\n\"Nowak, Tomasz\",\"t\"\"n@example.org\"\r\nRosa\n",
             "Name,Department,Email,Shift,Badge\nAmira,Shipping,a@example.org,Night,17\nRosa,,,Day\n",
             "Amira\r\nTomasz,,extra\n\n\"Ro\nsa\"\n"].map { Array($0.utf8) }
        },
        check: { input throws(FuzzFailure) in
            guard let list = try? UnitList(csv: String(decoding: input, as: UTF8.self)) else { return }
            for employee in list.employees {
                try require(!employee.name.isEmpty && employee.name == employee.name.trimmingCharacters(in: .whitespaces),
                            "an employee name is empty or untrimmed")
            }
            // Quotes doubled scalar by scalar: as Characters, a quote before a combining mark is not a quote.
            func quoted(_ text: String) -> String {
                var out = String.UnicodeScalarView(["\""])
                for scalar in text.unicodeScalars {
                    if scalar == "\"" { out.append(scalar) }
                    out.append(scalar)
                }
                out.append("\"")
                return String(out)
            }
            // Names, contacts, departments and shifts; other columns are kept under their headers, which need not survive.
            let written = "name,contact,department,shift\n" + list.employees.map {
                [$0.name, $0.contact ?? "", $0.department ?? "", $0.shift ?? ""].map(quoted).joined(separator: ",") + "\n"
            }.joined()
            let again = try? UnitList(csv: written)
            func kept(_ list: UnitList?) -> [[String?]]? { list?.employees.map { [$0.name, $0.contact, $0.department, $0.shift] } }
            try require(kept(again) == kept(list), "a unit list does not survive being written back as quoted CSV")
        })

    /// `EvidenceBundle(json:)` and `verify()` on any bytes: the JSON parses or throws
    /// `CardError`; a parsed bundle survives `json()` unchanged; verifying it returns a result or
    /// throws `CardError`, counting no more valid cards than it holds.
    static let evidenceBundle = FuzzTarget(
        name: "evidence-bundle",
        summary: "EvidenceBundle(json:), json() round trip, and verify() on any bytes",
        seeds: { [CardFixture.shared.bundle.json()] },
        check: { input throws(FuzzFailure) in
            guard let bundle = try? EvidenceBundle(json: input) else { return }
            try require((try? EvidenceBundle(json: bundle.json())) == bundle, "an evidence bundle does not survive json()")
            guard let verification = try? bundle.verify() else { return }
            try require(verification.validCards <= bundle.cards.count, "verify() counted more cards than the bundle holds")
        })
}
