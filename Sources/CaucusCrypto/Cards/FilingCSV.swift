/// The CSV of counted cards an organizer files (Protocol.md §10.8): a header, then one row per
/// card with its six fields, every field quoted (RFC 4180), lines ended by CR LF. Workers choose
/// what their fields hold, so a field a spreadsheet would take for a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) is written after an apostrophe, which makes it text.
public enum FilingCSV {
    public static let header = "name,contact,phone,employer,language,date_signed"

    /// The file's text for `cards`, in their order.
    public static func text(_ cards: [Card]) -> String {
        var lines = [header]
        lines.reserveCapacity(cards.count + 1)
        for card in cards {
            lines.append(card.fields.named.map { field($0.1) }.joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// One field, quoted, with its quotes doubled and a formula's start defused.
    static func field(_ value: String) -> String {
        let formula = value.unicodeScalars.first.map { ["=", "+", "-", "@", "\t", "\r"].contains($0) } ?? false
        return "\"" + (formula ? "'" : "") + value.replacing("\"", with: "\"\"") + "\""
    }
}
