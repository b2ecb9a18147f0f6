import CaucusText
import Foundation

extension ChatLine {
    /// The line as the chat screen prints it, without a final newline: "HH:mm sender: text", "HH:mm * text"
    /// or "HH:mm !! text", later lines of the text indented under the first.
    ///
    /// The sender and the text pass `TerminalText` (the sender on one line): nothing others wrote can rewrite
    /// the terminal or disguise text. With `colour`, warnings are bold yellow.
    public func formatted(colour: Bool, timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let clock = calendar.dateComponents([.hour, .minute], from: time)
        let stamp = String(format: "%02d:%02d", clock.hour ?? 0, clock.minute ?? 0)
        let head: TerminalLine
        switch kind {
        case .incoming, .outgoing: head = "\(stamp) \(sender): "
        case .notice: head = "\(stamp) * "
        case .warning: head = "\(stamp) !! "
        }
        let body = TerminalLine.block(head, text).text
        guard colour, kind == .warning else { return body }
        return "\u{1B}[1;33m" + body + "\u{1B}[0m"
    }
}
