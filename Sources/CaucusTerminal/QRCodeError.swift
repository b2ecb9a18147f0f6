/// Why a QR code could not be made.
public enum QRCodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text needs more bytes than a version 40 symbol holds at the chosen correction level.
    case tooLong(byteCount: Int, maximum: Int)

    /// The error in a sentence for the person at the terminal.
    public var description: String {
        switch self {
        case let .tooLong(byteCount, maximum):
            return "the text is \(byteCount) bytes; a QR code at this correction level holds at most \(maximum)"
        }
    }
}
