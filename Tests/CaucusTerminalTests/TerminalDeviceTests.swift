import Foundation
import Synchronization
import Testing
@testable import CaucusTerminal
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tests that put a terminal into raw mode. Raw mode watches process-wide signals, so they run one at a time.
@Suite("On a pseudo-terminal", .serialized)
struct TerminalDeviceTests {}

/// Hangups seen by the handler the signal test installs before raw mode.
private let hangupsSeen = Atomic<Int>(0)

extension TerminalDeviceTests {
    @Test("isTerminal and size tell a terminal from a pipe")
    func detection() throws {
        let terminal = try PseudoTerminal(rows: 30, columns: 100)
        let pipe = Pipe()
        #expect(Terminal.isTerminal(terminal.slave))
        #expect(!Terminal.isTerminal(pipe.fileHandleForReading.fileDescriptor))
        #expect(Terminal.size(terminal.slave) == (30, 100))
        #expect(Terminal.size(pipe.fileHandleForReading.fileDescriptor) == (24, 80))
    }

    @Test("raw mode turns off echo, line editing and signal keys, keeps output processing, and restores once")
    func rawMode() async throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        #expect(before.c_lflag & tcflag_t(ICANON | ECHO | ISIG) == tcflag_t(ICANON | ECHO | ISIG))
        let raw = try Terminal.RawMode(fd: terminal.slave)
        let during = terminal.attributes
        #expect(during.c_lflag & tcflag_t(ICANON | ECHO | ISIG | IEXTEN) == 0)
        #expect(during.c_iflag & tcflag_t(ICRNL | IXON) == 0)
        #expect(during.c_oflag & tcflag_t(OPOST) != 0)
        withUnsafeBytes(of: during.c_cc) { cc in
            #expect(cc[Int(VMIN)] == 1)
            #expect(cc[Int(VTIME)] == 0)
        }

        terminal.type("\u{3}\r")
        var bytes = [UInt8](repeating: 0, count: 8)
        #expect(read(terminal.slave, &bytes, 8) == 2)
        #expect(Array(bytes[..<2]) == [0x03, 0x0D])
        _ = write(terminal.slave, "a\n", 2)
        await terminal.waitFor("a\r\n")

        raw.restore()
        #expect(sameSettings(terminal.attributes, before))
        var changed = before
        changed.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(terminal.slave, TCSANOW, &changed)
        raw.restore()
        #expect(sameSettings(terminal.attributes, changed))
    }

    @Test("releasing raw mode restores the terminal")
    func releaseRestores() throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        do {
            _ = try Terminal.RawMode(fd: terminal.slave)
        }
        #expect(sameSettings(terminal.attributes, before))
    }

    @Test("raw mode on a pipe throws")
    func notATerminal() {
        let pipe = Pipe()
        #expect(throws: TerminalError.self) {
            try Terminal.RawMode(fd: pipe.fileHandleForReading.fileDescriptor)
        }
    }

    /// Sends SIGHUP to the process (test threads block signals, so `raise` would not do) and waits for the
    /// handler to have run `count` times in all, for at most five seconds.
    static func hangUp(until count: Int) async {
        kill(getpid(), SIGHUP)
        let deadline = ContinuousClock.now + .seconds(5)
        while hangupsSeen.load(ordering: .acquiring) < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("a hangup restores the terminal and then reaches the handler that was there before")
    func signalRestores() async throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        let previous = signal(SIGHUP) { _ in hangupsSeen.add(1, ordering: .releasing) }
        defer { signal(SIGHUP, previous) }
        hangupsSeen.store(0, ordering: .releasing)
        let raw = try Terminal.RawMode(fd: terminal.slave)
        #expect(!sameSettings(terminal.attributes, before))
        await Self.hangUp(until: 1)
        #expect(hangupsSeen.load(ordering: .acquiring) == 1)
        #expect(sameSettings(terminal.attributes, before))
        await Self.hangUp(until: 2)
        #expect(hangupsSeen.load(ordering: .acquiring) == 2)  // the handler from before raw mode is back in place
        raw.restore()
        #expect(sameSettings(terminal.attributes, before))
    }
}
