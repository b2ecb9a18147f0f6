#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the terminal could not be switched into or out of a mode.
public enum TerminalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A termios call failed, for example because the descriptor is not a terminal.
    case system(operation: String, errno: Int32)

    /// The error in a sentence for the person at the terminal.
    public var description: String {
        switch self {
        case let .system(operation, code):
            return "\(operation) failed: \(String(cString: strerror(code)))"
        }
    }
}
