import Foundation

extension ChatLine {
    /// The line as the chat screen prints it, without a final newline: "HH:mm sender: text", "HH:mm * text"
    /// or "HH:mm !! text", later lines of the text indented under the first.
    ///
    /// Control characters and bidirectional overrides that others could send to rewrite the terminal or
    /// disguise text are shown as U+FFFD; with `colour`, warnings are bold yellow.
    public func formatted(colour: Bool, timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let clock = calendar.dateComponents([.hour, .minute], from: time)
        let stamp = String(format: "%02d:%02d", clock.hour ?? 0, clock.minute ?? 0)
        let head: String
        switch kind {
        case .incoming, .outgoing: head = "\(stamp) \(Self.displayable(sender)): "
        case .notice: head = "\(stamp) * "
        case .warning: head = "\(stamp) !! "
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        while lines.count > 1, lines.last?.isEmpty == true {
            lines.removeLast()
        }
        let indent = String(repeating: " ", count: head.reduce(0) { $0 + $1.terminalColumns })
        let body = lines.enumerated()
            .map { ($0.offset == 0 ? head : indent) + Self.displayable($0.element) }
            .joined(separator: "\n")
        guard colour, kind == .warning else { return body }
        return "\u{1B}[1;33m" + body + "\u{1B}[0m"
    }

    /// `text` with tabs as spaces and every control character or bidirectional override as U+FFFD.
    public static func displayable(_ text: some StringProtocol) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\t" {
                scalars.append(" ")
            } else if scalar.properties.generalCategory == .control || (0x202A...0x202E).contains(scalar.value)
                || (0x2066...0x2069).contains(scalar.value)
            {
                scalars.append("\u{FFFD}")
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }
}
