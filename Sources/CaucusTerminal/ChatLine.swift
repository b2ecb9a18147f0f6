import Foundation

/// One line of a conversation as the chat screen shows it.
public struct ChatLine: Sendable, Equatable {
    /// Who a line comes from, which decides how it is drawn.
    public enum Kind: Sendable {
        /// A message from someone else.
        case incoming
        /// A message the user sent; the sender is whatever the caller names them, such as "you".
        case outgoing
        /// Something Caucus says, drawn after "*".
        case notice
        /// Something the user must not miss, drawn after "!!" in bold yellow where colour is allowed.
        case warning
    }

    /// When the message was sent or the notice raised.
    public var time: Date
    /// The sender's name; unused for notices and warnings.
    public var sender: String
    /// The text, possibly of several lines.
    public var text: String
    /// How the line is drawn.
    public var kind: Kind

    /// A line of `kind` with `text` from `sender` at `time`.
    public init(time: Date = Date(), sender: String = "", text: String, kind: Kind = .incoming) {
        self.time = time
        self.sender = sender
        self.text = text
        self.kind = kind
    }
}
