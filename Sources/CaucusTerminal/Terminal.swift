#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about the controlling terminal: whether a descriptor is one, and its size.
public enum Terminal {
    /// Whether `fd` refers to a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool {
        isatty(fd) == 1
    }

    /// Rows and columns of the terminal on `fd`, or 24×80 when it is not a terminal or does not say.
    public static func size(_ fd: Int32 = STDOUT_FILENO) -> (rows: Int, columns: Int) {
        var window = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &window) == 0, window.ws_row > 0, window.ws_col > 0 else {
            return (24, 80)
        }
        return (Int(window.ws_row), Int(window.ws_col))
    }
}
