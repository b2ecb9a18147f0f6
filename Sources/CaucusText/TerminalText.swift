/// The one sanitiser: text someone else chose (a name, a message, a group name, a file name, a card
/// field, a refusal reason, a relay's error text) made safe to write to a terminal (Protocol.md §9.5).
///
/// Nothing in it is interpreted: every scalar a terminal would act on, or that a reader could not see,
/// is written as `<U+XXXX>` (its code point in hexadecimal, at least four digits), so
/// `Tom<ESC>[2K` shows as `Tom<U+001B>[2K`. That covers controls (C0, DEL, C1), format characters
/// (bidirectional overrides, isolates and marks, zero-width characters, the byte order mark, tag
/// characters), line and paragraph separators, private-use and unassigned code points, every other
/// default-ignorable code point (fillers such as U+3164), and a combining mark or variation selector
/// with no character before it to attach to. A tab is shown as one space. Only a variation selector or
/// joiner inside one character (an emoji sequence such as 👩‍💻) is kept.
public enum TerminalText {
    /// `text` on one line, as described above; a line break is shown as `<U+000A>` too.
    /// `alsoEscaping` names further scalars to show escaped (the marks a caller reserves for itself).
    public static func visible(_ text: some StringProtocol, alsoEscaping reserved: (Unicode.Scalar) -> Bool = { _ in false }) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            let scalars = Array(character.unicodeScalars)
            for (index, scalar) in scalars.enumerated() {
                if scalar == "\t" {
                    result.append(" ")
                } else if reserved(scalar) || !isShown(scalar, at: index, in: scalars) {
                    result.append(escape(scalar))
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// The lines of `text` (split at LF or CR LF), each as `visible` shows it; empty lines at the end are
    /// dropped. Any other line break (a lone CR, VT, FF, NEL, U+2028, U+2029) is shown escaped.
    public static func lines(_ text: some StringProtocol) -> [String] {
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        while lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { visible($0) }
    }

    /// Whether `scalar` is never written as it is, wherever it stands (what JSON output escapes too).
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .unassigned, .surrogate, .lineSeparator, .paragraphSeparator:
            return true
        default:
            return scalar.properties.isDefaultIgnorableCodePoint
        }
    }

    /// `<U+XXXX>` for `scalar`.
    public static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "<U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + ">"
    }

    /// Whether the scalar at `index` of one character's `scalars` may be written as it is.
    private static func isShown(_ scalar: Unicode.Scalar, at index: Int, in scalars: [Unicode.Scalar]) -> Bool {
        if index == 0 {
            // Nothing to attach to: a lone mark would sit on whatever the terminal printed before it.
            return !isHidden(scalar) && !isMark(scalar)
        }
        guard isHidden(scalar) else { return true }
        if isVariationSelector(scalar) { return !isHidden(scalars[index - 1]) }
        if scalar == zeroWidthJoiner, index + 1 < scalars.count,
           let before = scalars[..<index].last(where: { !isVariationSelector($0) }) {
            return isEmoji(before) && isEmoji(scalars[index + 1])
        }
        return false
    }

    private static let zeroWidthJoiner: Unicode.Scalar = "\u{200D}"

    private static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: false
        }
    }

    private static func isVariationSelector(_ scalar: Unicode.Scalar) -> Bool {
        (0xFE00...0xFE0F).contains(scalar.value) || (0xE0100...0xE01EF).contains(scalar.value)
            || (0x180B...0x180D).contains(scalar.value) || scalar.value == 0x180F
    }

    /// Emoji that a joiner may bind (digits and `#` and `*` are emoji too, but never joined).
    private static func isEmoji(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isEmoji && scalar.value > 0x7F
    }
}
