import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pseudo-terminal pair: the code under test gets the slave side as its terminal, and the test plays the
/// user and the screen on the master side.
final class PseudoTerminal {
    let master: Int32
    let slave: Int32
    private var received: [UInt8] = []
    private var searchFrom = 0

    /// A fresh pair whose terminal is `rows` × `columns`.
    init(rows: UInt16 = 24, columns: UInt16 = 80) throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&master, &slave, nil, nil, &size) == 0 else { throw POSIXError(.ENOTTY) }
        self.master = master
        self.slave = slave
    }

    deinit {
        close(slave)
        close(master)
    }

    /// The terminal's current settings.
    var attributes: termios {
        var attributes = termios()
        tcgetattr(slave, &attributes)
        return attributes
    }

    /// Sends `text` as if typed on the keyboard.
    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Waits until the screen has written `expected` after the previous match and returns everything written
    /// since then; records an issue if it does not come within `timeout`.
    @discardableResult
    func waitFor(_ expected: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) async -> String {
        let needle = Array(expected.utf8)
        let deadline = ContinuousClock.now + timeout
        while true {
            drain()
            if let range = Self.find(needle, in: received, from: searchFrom) {
                let text = String(decoding: received[searchFrom..<range.upperBound], as: UTF8.self)
                searchFrom = range.upperBound
                return text
            }
            guard ContinuousClock.now < deadline else {
                let text = String(decoding: received[searchFrom...], as: UTF8.self)
                Issue.record("timed out waiting for \(expected.debugDescription); got \(text.debugDescription)", sourceLocation: sourceLocation)
                return text
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Everything the screen has written after the previous match.
    func remaining() -> String {
        drain()
        return String(decoding: received[searchFrom...], as: UTF8.self)
    }

    private func drain() {
        var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while poll(&descriptor, 1, 0) > 0, descriptor.revents & Int16(POLLIN) != 0 {
            let count = read(master, &buffer, buffer.count)
            guard count > 0 else { return }
            received += buffer[..<count]
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Range<Int>? {
        guard haystack.count - start >= needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index..<(index + needle.count)
        }
        return nil
    }
}

/// Whether two terminal settings are the same in every flag and control character.
func sameSettings(_ a: termios, _ b: termios) -> Bool {
    a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag
        && withUnsafeBytes(of: a.c_cc) { x in withUnsafeBytes(of: b.c_cc) { y in x.elementsEqual(y) } }
}
