import Foundation

/// The employees of a bargaining unit, imported from a CSV file, to check cards against
/// (Protocol.md §10.7): the first column is the name, an optional second one an email or other
/// contact; a first row whose first cell is `name` is a header, which may name `department` and
/// `shift` columns and any others, kept as text.
public struct UnitList: Sendable, Equatable {
    /// One employee.
    public struct Employee: Sendable, Equatable {
        public var name: String
        public var contact: String?
        /// The employee's department, from a column headed `department`.
        public var department: String?
        /// The employee's shift, from a column headed `shift`.
        public var shift: String?
        /// Every other non-empty cell, under its column's header (`column N` without a header), in file order.
        public var other: [Cell] = []

        public init(name: String, contact: String? = nil, department: String? = nil, shift: String? = nil, other: [Cell] = []) {
            self.name = name
            self.contact = contact
            self.department = department
            self.shift = shift
            self.other = other
        }
    }

    /// A cell of a column the list does not interpret, kept as text.
    public struct Cell: Sendable, Equatable, Encodable {
        /// The column's header.
        public var column: String
        public var value: String
    }

    /// What a column holds.
    enum Column: Equatable {
        case name, contact, department, shift
        case other(String)
    }

    /// The employees, in file order.
    public let employees: [Employee]
    /// Whether the list has a department column, a shift column.
    public let hasDepartments: Bool, hasShifts: Bool

    /// Parses CSV text (RFC 4180: commas, double quotes, doubled quotes inside them).
    public init(csv text: String) throws(CardError) {
        var rows = try Self.rows(text)
        var header: [String]?
        if let first = rows.first?.first, CardTally.normalized(first) == "name" { header = rows.removeFirst() }
        let width = max(header?.count ?? 0, rows.map(\.count).max() ?? 0)
        let columns = (0..<width).map { Self.column($0, header: header) }
        employees = rows.compactMap { row in
            var employee = Employee(name: row[0].trimmingCharacters(in: .whitespaces))
            guard !employee.name.isEmpty else { return nil }
            for (index, cell) in row.enumerated().dropFirst() {
                let value = cell.trimmingCharacters(in: .whitespaces)
                guard !value.isEmpty else { continue }
                switch columns[index] {
                case .name: break
                case .contact: employee.contact = value
                case .department: employee.department = value
                case .shift: employee.shift = value
                case .other(let column): employee.other.append(Cell(column: column, value: value))
                }
            }
            return employee
        }
        guard !employees.isEmpty else { throw CardError.malformed("the unit list has no employees") }
        hasDepartments = columns.contains(.department)
        hasShifts = columns.contains(.shift)
    }

    /// What the column at `index` (from 0) holds: the first is the name; one headed `department`
    /// or `shift` (compared as names are) is that; the second is otherwise the contact; any other
    /// is kept under its header.
    static func column(_ index: Int, header: [String]?) -> Column {
        guard index > 0 else { return .name }
        let title = header.flatMap { index < $0.count ? $0[index].trimmingCharacters(in: .whitespaces) : nil } ?? ""
        switch CardTally.normalized(title) {
        case "department": return .department
        case "shift": return .shift
        default: return index == 1 ? .contact : .other(title.isEmpty ? "column \(index + 1)" : title)
        }
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
        /// The card matched to each employee (by index in the list), nil for those without one.
        public var cardOfEmployee: [Card?]
        /// Matched cards over the list's size: unmatched cards never count toward it.
        public var share: Double { unitSize == 0 ? 0 : Double(matched.count) / Double(unitSize) }
        /// At least 30 % of the list has a matched card (as `CardTally.reachesPetition`).
        public var reachesPetition: Bool { UInt128(matched.count) * 10 >= UInt128(unitSize) * 3 }
        /// More than half of the list has a matched card.
        public var reachesMajority: Bool { UInt128(matched.count) * 2 > UInt128(unitSize) }
    }

    /// Matches each counted card to at most one employee, by name or contact (compared as in the
    /// tally): the first employee in the list, not matched yet, whose name or contact is the card's.
    public func coverage(of tally: CardTally) -> Coverage { coverage(of: tally.valid) }

    /// `coverage(of:)` for counted cards, in the tally's order.
    public func coverage(of cards: [Card]) -> Coverage {
        // The employees by name and by contact as compared, each in list order, made once; a
        // cursor per key skips those matched already.
        var byName: [String: [Int]] = [:], byContact: [String: [Int]] = [:]
        for (index, employee) in employees.enumerated() {
            byName[CardTally.normalized(employee.name), default: []].append(index)
            if let contact = employee.contact { byContact[CardTally.normalized(contact), default: []].append(index) }
        }
        var taken = [Card?](repeating: nil, count: employees.count)
        var nameCursor: [String: Int] = [:], contactCursor: [String: Int] = [:]
        func firstFree(_ key: String, in index: [String: [Int]], cursor: inout [String: Int]) -> Int? {
            guard let list = index[key] else { return nil }
            var position = cursor[key] ?? 0
            while position < list.count, taken[list[position]] != nil { position += 1 }
            cursor[key] = position
            return position < list.count ? list[position] : nil
        }
        var matched: [Card] = [], unmatched: [Card] = []
        for card in cards {
            let byItsName = firstFree(CardTally.normalized(card.fields.name), in: byName, cursor: &nameCursor)
            let byItsContact = firstFree(CardTally.normalized(card.fields.contact), in: byContact, cursor: &contactCursor)
            if let position = [byItsName, byItsContact].compactMap({ $0 }).min() {
                taken[position] = card
                matched.append(card)
            } else {
                unmatched.append(card)
            }
        }
        let missing = employees.indices.filter { taken[$0] == nil }.map { employees[$0] }
        return Coverage(matched: matched, unmatched: unmatched, missing: missing, unitSize: employees.count, cardOfEmployee: taken)
    }
}
