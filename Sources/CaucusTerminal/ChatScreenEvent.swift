/// Something that happens while the chat screen runs, other than the user's typing.
public enum ChatScreenEvent: Sendable {
    /// A line to print above the input line, such as an incoming message.
    case line(ChatLine)
    /// A short state of the connection, such as "reconnecting in 4 s…", printed as a notice.
    case status(String)
    /// Close the screen.
    case quit
}
