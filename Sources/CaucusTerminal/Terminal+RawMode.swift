#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

extension Terminal {
    /// A terminal switched to raw input for as long as this object says so: keys arrive byte by byte,
    /// unechoed, Ctrl-C as byte 3 rather than a signal, while output still turns "\n" into a new line.
    ///
    /// The previous settings come back on `restore()`, on release, and on SIGINT, SIGTERM or SIGHUP, after
    /// which the signal takes its earlier course; the terminal is never left raw.
    public final class RawMode: Sendable {
        /// The terminal descriptor.
        public let fd: Int32
        private let saved: termios
        private let active = Atomic(true)

        /// Switches the terminal on `fd` to raw input.
        public init(fd: Int32 = STDIN_FILENO) throws(TerminalError) {
            var attributes = termios()
            guard tcgetattr(fd, &attributes) == 0 else {
                throw TerminalError.system(operation: "tcgetattr", errno: errno)
            }
            self.fd = fd
            self.saved = attributes
            attributes.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
            attributes.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR | IGNCR | BRKINT | INPCK | ISTRIP)
            attributes.c_cflag |= tcflag_t(CS8)
            withUnsafeMutableBytes(of: &attributes.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            TerminalSignals.arm(fd: fd, restoring: saved)
            guard tcsetattr(fd, TCSANOW, &attributes) == 0 else {
                let code = errno
                TerminalSignals.disarm(fd: fd)
                throw TerminalError.system(operation: "tcsetattr", errno: code)
            }
        }

        deinit {
            restore()
        }

        /// Puts back the settings the terminal had before; later calls do nothing.
        public func restore() {
            guard active.exchange(false, ordering: .acquiringAndReleasing) else { return }
            var attributes = saved
            _ = tcsetattr(fd, TCSANOW, &attributes)
            TerminalSignals.disarm(fd: fd)
        }
    }
}
