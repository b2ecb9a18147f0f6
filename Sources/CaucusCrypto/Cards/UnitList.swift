import Foundation

/// The employees of a bargaining unit, imported from a CSV file, to check cards against
/// (Protocol.md §10.7): the first column is the name, an optional second one an email or other
/// contact; a first row whose first cell is `name` is a header.
public struct UnitList: Sendable, Equatable {
    /// One employee.
    public struct Employee: Sendable, Equatable {
        public var name: String
        public var contact: String?
    }

    /// The employees, in file order.
    public let employees: [Employee]

    /// Parses CSV text (RFC 4180: commas, double quotes, doubled quotes inside them).
    public init(csv text: String) throws(CardError) {
        var rows = try Self.rows(text)
        if let first = rows.first?.first, CardTally.normalized(first) == "name" { rows.removeFirst() }
        employees = rows.compactMap { row in
            let name = row[0].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { return nil }
            let contact = row.count > 1 ? row[1].trimmingCharacters(in: .whitespaces) : ""
            return Employee(name: name, contact: contact.isEmpty ? nil : contact)
        }
        guard !employees.isEmpty else { throw CardError.malformed("the unit list has no employees") }
    }

    static func rows(_ text: String) throws(CardError) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, afterQuote = false
        // Unicode scalars, not Characters: a quote or comma followed by a combining mark is still a
        // quote or a comma (as Characters they would merge into one).
        var chars = Array(text.unicodeScalars)[...]
        while let char = chars.popFirst() {
            if quoted {
                if char == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false; afterQuote = true }
                } else {
                    field.unicodeScalars.append(char)
                }
                continue
            }
            switch char {
            case "\"" where field.isEmpty && !afterQuote: quoted = true
            case ",": row.append(field); field = ""; afterQuote = false
            case "\n", "\r":
                if char == "\r", chars.first == "\n" { chars.removeFirst() }
                row.append(field)
                if row != [""] { rows.append(row) }
                row = []; field = ""; afterQuote = false
            default:
                guard !afterQuote else { throw CardError.malformed("unit list: text after a closing quote on line \(rows.count + 1)") }
                field.unicodeScalars.append(char)
            }
        }
        guard !quoted else { throw CardError.malformed("unit list: a quote is never closed") }
        row.append(field)
        if row != [""] { rows.append(row) }
        return rows
    }

    /// How the counted cards cover the unit.
    public struct Coverage: Sendable {
        /// Counted cards whose name (or contact) is on the list.
        public var matched: [Card]
        /// Counted cards matching no employee: not in the unit as listed.
        public var unmatched: [Card]
        /// Employees with no counted card.
        public var missing: [Employee]
        /// The list's size.
        public var unitSize: Int
        /// Matched cards over the list's size: unmatched cards never count toward it.
        public var share: Double { unitSize == 0 ? 0 : Double(matched.count) / Double(unitSize) }
        /// At least 30 % of the list has a matched card (as `CardTally.reachesPetition`).
        public var reachesPetition: Bool { UInt128(matched.count) * 10 >= UInt128(unitSize) * 3 }
        /// More than half of the list has a matched card.
        public var reachesMajority: Bool { UInt128(matched.count) * 2 > UInt128(unitSize) }
    }

    /// Matches each counted card to at most one employee, by name or contact (compared as in the tally).
    public func coverage(of tally: CardTally) -> Coverage {
        var free = Array(employees.indices)
        // Each employee's name and contact as compared, made once (not once per card).
        let keys = employees.map { (name: CardTally.normalized($0.name), contact: $0.contact.map(CardTally.normalized)) }
        var matched: [Card] = [], unmatched: [Card] = []
        for card in tally.valid {
            let name = CardTally.normalized(card.fields.name), contact = CardTally.normalized(card.fields.contact)
            if let position = free.firstIndex(where: { keys[$0].name == name || keys[$0].contact == contact }) {
                free.remove(at: position)
                matched.append(card)
            } else {
                unmatched.append(card)
            }
        }
        return Coverage(matched: matched, unmatched: unmatched, missing: free.map { employees[$0] }, unitSize: employees.count)
    }
}
