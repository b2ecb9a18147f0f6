import Foundation

/// What an organizer reads from a tally (organizers hold the card key, so cards are named by the
/// name on them): how far the campaign is from each threshold, who signed, who on the unit list
/// has not, by department and shift, what was rejected and why, and the count day by day.
/// Every text in it comes from a card or a unit list: hostile, to be escaped wherever it is shown.
public struct CampaignReport: Sendable, Encodable {
    /// The campaign, as its record states it.
    public struct CampaignInfo: Sendable, Encodable {
        /// The campaign's short hash as users type it (Protocol.md §10.1), not the record's `id`.
        public let id: String
        public let union: String, employer: String, unit: String
        /// The unit size the campaign record states.
        public let unitSize: UInt64
    }

    /// A card that counts, by the name on it.
    public struct Signer: Sendable, Encodable, Equatable {
        public let name: String
        /// The date on the card, `YYYY-MM-DD`.
        public let date: String
        /// The signer's DID, when asked for.
        public let did: String?
        /// From the unit list entry the card matched.
        public let department: String?, shift: String?
    }

    /// An item that does not count, by the name on it (a revocation by its signer's card's name).
    public struct Rejected: Sendable, Encodable, Equatable {
        /// `card`, `revocation` or `unreadable`.
        public let kind: String
        public let name: String?
        /// The date on the card.
        public let date: String?
        public let did: String?
        public let reason: String
    }

    /// Someone on the unit list without a counted card.
    public struct Person: Sendable, Encodable, Equatable {
        public let name: String, contact: String?, department: String?, shift: String?
        public let other: [UnitList.Cell]
    }

    /// The unit list's people of one department and shift.
    public struct Group: Sendable, Encodable, Equatable {
        public let department: String?, shift: String?
        public let listed: Int, signed: Int
        public var notSigned: Int { listed - signed }

        enum CodingKeys: String, CodingKey { case department, shift, listed, signed, notSigned }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(department, forKey: .department)
            try container.encodeIfPresent(shift, forKey: .shift)
            try container.encode(listed, forKey: .listed)
            try container.encode(signed, forKey: .signed)
            try container.encode(notSigned, forKey: .notSigned)
        }
    }

    /// One threshold: the cards it takes, whether they are there, and how many more are needed.
    public struct Threshold: Sendable, Encodable, Equatable {
        public let cards: UInt64, reached: Bool, more: UInt64
    }

    public let campaign: CampaignInfo
    /// The tally's time, Unix ms, and its UTC date.
    public let talliedAtMs: UInt64, talliedOn: String
    /// Cards that count toward the thresholds (with a unit list, those matched to it).
    public let counted: Int
    /// Valid cards, one per signer, on the list or not.
    public let valid: Int
    /// The size the share is counted against (the unit list's length, when there is one).
    public let unitSize: UInt64
    public let share: Double
    /// 30 % of the unit: an election petition.
    public let petition: Threshold
    /// More than half of the unit: a recognition demand.
    public let majority: Threshold
    /// The counted cards' signers, by name.
    public let signers: [Signer]
    /// With a unit list: valid cards that match no one on it (they count toward nothing).
    public let unmatched: [Signer]?
    /// With a unit list: those on it without a counted card, by department (then list order).
    public let notSigned: [Person]?
    /// With a unit list that has a department or shift column: its people by department and shift.
    public let groups: [Group]?
    /// Every item that does not count, in inbox order.
    public let rejected: [Rejected]
    /// How many items were rejected for each reason.
    public let rejections: [String: Int]
    /// Counted cards at the end of each day (`CardTally.progress`).
    public let progress: [CardTally.DayCount]

    /// The report of `tally`, against `unitList` when given; DIDs are included when `dids`, and
    /// the count by day (`progress`, the costly part) unless `byDay` is false.
    public init(_ tally: CardTally, campaignID: String, unitList: UnitList? = nil, dids: Bool = false, byDay: Bool = true) {
        let campaign = tally.campaign
        self.campaign = CampaignInfo(id: campaignID, union: campaign.union, employer: campaign.employer,
                                     unit: campaign.unitDescription, unitSize: campaign.unitSize)
        talliedAtMs = tally.talliedAt
        talliedOn = CardFields.utcDate(tally.talliedAt)
        valid = tally.valid.count
        let coverage = unitList?.coverage(of: tally)
        counted = coverage?.matched.count ?? tally.valid.count
        unitSize = coverage.map { UInt64($0.unitSize) } ?? tally.unitSize
        share = unitSize == 0 ? 0 : Double(counted) / Double(unitSize)
        petition = Self.threshold(cards: (unitSize * 3 + 9) / 10, counted: counted)
        majority = Self.threshold(cards: unitSize / 2 + 1, counted: counted)
        func did(_ key: Ed25519.PublicKey) -> String? { dids ? DID(publicKey: key).description : nil }
        func signer(_ card: Card, _ employee: UnitList.Employee?) -> Signer {
            Signer(name: card.fields.name, date: card.fields.date, did: did(card.signer),
                   department: employee?.department, shift: employee?.shift)
        }
        if let unitList, let coverage {
            signers = zip(unitList.employees, coverage.cardOfEmployee).compactMap { employee, card in card.map { signer($0, employee) } }
                .sorted(by: Self.byName)
            unmatched = coverage.unmatched.map { signer($0, nil) }.sorted(by: Self.byName)
            notSigned = zip(unitList.employees, coverage.cardOfEmployee).filter { $0.1 == nil }
                .map { Person(name: $0.0.name, contact: $0.0.contact, department: $0.0.department, shift: $0.0.shift, other: $0.0.other) }
                .enumerated().sorted { Self.before($0.element.department, $1.element.department, or: $0.offset < $1.offset) }.map(\.element)
            groups = unitList.hasDepartments || unitList.hasShifts ? Self.groups(unitList, coverage) : nil
        } else {
            signers = tally.valid.map { signer($0, nil) }.sorted(by: Self.byName)
            unmatched = nil
            notSigned = nil
            groups = nil
        }
        // A revocation carries no name: it is named by its signer's card, when the inbox holds one.
        var names: [Ed25519.PublicKey: String] = [:]
        for card in tally.valid { names[card.signer] = card.fields.name }
        for case (.card(let card)?, _) in tally.rejected where names[card.signer] == nil { names[card.signer] = card.fields.name }
        rejected = tally.rejected.map { item, reason in
            switch item {
            case .card(let card)?:
                Rejected(kind: "card", name: card.fields.name, date: card.fields.date, did: did(card.signer), reason: reason.description)
            case .revocation(let revocation)?:
                Rejected(kind: "revocation", name: names[revocation.signer], date: nil, did: did(revocation.signer), reason: reason.description)
            case nil:
                Rejected(kind: "unreadable", name: nil, date: nil, did: nil, reason: reason.description)
            }
        }
        rejections = rejected.reduce(into: [:]) { $0[$1.reason, default: 0] += 1 }
        progress = byDay ? tally.progress(unitList: unitList) : []
    }

    static func threshold(cards: UInt64, counted: Int) -> Threshold {
        Threshold(cards: cards, reached: UInt64(counted) >= cards, more: cards > UInt64(counted) ? cards - UInt64(counted) : 0)
    }

    static func byName(_ first: Signer, _ second: Signer) -> Bool {
        first.name.lowercased() == second.name.lowercased() ? first.date < second.date : first.name.lowercased() < second.name.lowercased()
    }

    /// Whether department `first` sorts before `second` (none last), else `tie`.
    static func before(_ first: String?, _ second: String?, or tie: Bool) -> Bool {
        switch (first, second) {
        case (nil, nil): tie
        case (nil, _): false
        case (_, nil): true
        case (let first?, let second?): first == second ? tie : first.lowercased() < second.lowercased()
        }
    }

    static func groups(_ list: UnitList, _ coverage: UnitList.Coverage) -> [Group] {
        var order: [[String?]] = [], counts: [[String?]: (listed: Int, signed: Int)] = [:]
        for (employee, card) in zip(list.employees, coverage.cardOfEmployee) {
            let key = [employee.department, employee.shift]
            if counts[key] == nil { order.append(key) }
            counts[key, default: (0, 0)].listed += 1
            if card != nil { counts[key, default: (0, 0)].signed += 1 }
        }
        return order.enumerated()
            .sorted { first, second in
                first.element[0] == second.element[0]
                    ? before(first.element[1], second.element[1], or: first.offset < second.offset)
                    : before(first.element[0], second.element[0], or: first.offset < second.offset)
            }
            .map { _, key in Group(department: key[0], shift: key[1], listed: counts[key]!.listed, signed: counts[key]!.signed) }
    }

    /// The report as JSON (`--json`): snake_case keys, sorted; a field without a value is left out.
    public func json() throws -> Data { try Self.json(self) }

    /// A part of the report as JSON, written as `json()` writes the whole.
    public static func json(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Those on the unit list without a counted card as a CSV (`--csv`), written as the filing
    /// CSV is (Protocol.md §10.8: quoted, CR LF, a formula's start defused): name, contact,
    /// department, shift, then the list's other columns. Nil without a unit list.
    public func notSignedCSV() -> String? {
        guard let notSigned else { return nil }
        var columns: [String] = []
        for person in notSigned { for cell in person.other where !columns.contains(cell.column) { columns.append(cell.column) } }
        var lines = [(["name", "contact", "department", "shift"] + columns).map(FilingCSV.field).joined(separator: ",")]
        for person in notSigned {
            let values = [person.name, person.contact ?? "", person.department ?? "", person.shift ?? ""]
                + columns.map { column in person.other.first { $0.column == column }?.value ?? "" }
            lines.append(values.map(FilingCSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
