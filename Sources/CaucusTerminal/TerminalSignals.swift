#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Restores a raw terminal when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrives, or when the process crashes
/// (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT: a Swift runtime trap is one of these), then lets the
/// signal take its earlier course (for a crash, the runtime's backtrace and the core dump).
///
/// A signal handler may only touch memory that is ready before it runs, so the settings to restore and the
/// former actions live in storage allocated once, up front. One raw terminal is covered at a time: the most
/// recently armed one.
enum TerminalSignals {
    nonisolated(unsafe) private static let savedAttributes = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    nonisolated(unsafe) private static let previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: signalCount)
    /// The terminal to restore, or -1 while disarmed. Atomic (lock-free), so the handler and
    /// `disarm` can race for it and exactly one of them wins.
    private static let armedFD = Atomic<Int32>(-1)

    /// Starts restoring `attributes` on `fd` when one of the signals arrives.
    static func arm(fd: Int32, restoring attributes: termios) {
        disarm(fd: armedFD.load(ordering: .acquiring))
        savedAttributes.pointee = attributes
        for index in 0..<signalCount {
            sigaction(signal(index), nil, previousActions + index)
        }
        armedFD.store(fd, ordering: .releasing)
        for index in 0..<signalCount where !isIgnored(previousActions[index]) {
            var action = sigaction()
            sigemptyset(&action.sa_mask)
            setHandler(&action) { number in TerminalSignals.handle(number) }
            sigaction(signal(index), &action, nil)
        }
    }

    /// Stops watching `fd` and gives every signal back its former action; does nothing if `fd` is not armed.
    static func disarm(fd: Int32) {
        guard fd >= 0, armedFD.compareExchange(expected: fd, desired: -1, ordering: .acquiringAndReleasing).exchanged else { return }
        putBackPreviousActions()
    }

    /// The handler: restore the terminal, put the former actions back, and raise the signal again.
    private static func handle(_ number: Int32) {
        // The interrupted code may be about to read errno; tcsetattr and sigaction change it.
        let savedErrno = errno
        defer { errno = savedErrno }
        let fd = armedFD.exchange(-1, ordering: .acquiringAndReleasing)
        guard fd >= 0 else { return }
        _ = tcsetattr(fd, TCSANOW, savedAttributes)
        putBackPreviousActions()
        raise(number)
    }

    private static func putBackPreviousActions() {
        for index in 0..<signalCount {
            sigaction(signal(index), previousActions + index, nil)
        }
    }

    private static let signalCount = 10

    /// The watched signals by index, without an array a handler would have to read. A crash signal
    /// raised again from the handler stays blocked until the handler returns; the faulting
    /// instruction then runs again under the former action.
    private static func signal(_ index: Int) -> Int32 {
        switch index {
        case 0: return SIGINT
        case 1: return SIGTERM
        case 2: return SIGHUP
        case 3: return SIGQUIT
        case 4: return SIGSEGV
        case 5: return SIGBUS
        case 6: return SIGILL
        case 7: return SIGTRAP
        case 8: return SIGFPE
        default: return SIGABRT
        }
    }

    private static func isIgnored(_ action: sigaction) -> Bool {
        #if canImport(Glibc)
        let handler = action.__sigaction_handler.sa_handler
        #else
        let handler = action.__sigaction_u.__sa_handler
        #endif
        return unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    private static func setHandler(_ action: inout sigaction, _ handler: @convention(c) (Int32) -> Void) {
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
    }
}
