/// Text for a terminal built by string interpolation: the literal parts are the program's own words,
/// and every value interpolated into them is shown as `TerminalText.visible` shows it, so nothing
/// another person chose can slip into a terminal unescaped. `"Saved \(path)"` escapes `path`.
public struct TerminalLine: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// What is written to the terminal.
    public let text: String

    /// The text, as it is written.
    public var description: String { text }

    /// The program's own words, as they are.
    public init(stringLiteral literal: String) {
        text = literal
    }

    /// Literals and values put together, the values shown visibly.
    public init(stringInterpolation: Interpolation) {
        text = stringInterpolation.text
    }

    /// Builds the text of a `TerminalLine`.
    public struct Interpolation: StringInterpolationProtocol {
        var text = ""

        /// Room for the literals and a guess at the values.
        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        /// The program's own words.
        public mutating func appendLiteral(_ literal: String) {
            text += literal
        }

        /// A value: shown visibly, on one line.
        public mutating func appendInterpolation(_ value: some CustomStringConvertible) {
            text += TerminalText.visible(value.description)
        }

        /// Terminal text made safe already (a name with its marks, a block), as it is.
        public mutating func appendInterpolation(_ line: TerminalLine) {
            text += line.text
        }
    }

    /// `head` followed by the lines of `body` (`TerminalText.lines`), every line after the first indented
    /// to where the first one's text starts: a line break in `body` cannot start a line that passes for
    /// one of the program's own, such as another sender's message.
    public static func block(_ head: TerminalLine, _ body: some StringProtocol) -> TerminalLine {
        let indent = String(repeating: " ", count: max(2, head.text.reduce(0) { $0 + $1.terminalColumns }))
        let lines = TerminalText.lines(body)
        return TerminalLine(safe: lines.enumerated().map { ($0.offset == 0 ? head.text : indent) + $0.element }.joined(separator: "\n"))
    }

    /// Lines joined by line breaks.
    public static func joined(_ lines: [TerminalLine], separator: TerminalLine = "\n") -> TerminalLine {
        TerminalLine(safe: lines.map(\.text).joined(separator: separator.text))
    }

    private init(safe text: String) {
        self.text = text
    }
}
