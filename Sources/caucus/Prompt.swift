import ArgumentParser
import CaucusClient
import CaucusProtocol
import CaucusCrypto
import CaucusTerminal
import CaucusText
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Asking the person at the terminal. Prompts go to the controlling terminal (`/dev/tty`) and are
/// read from it in raw mode, so that Ctrl-C cancels cleanly (status 130) and the terminal comes back
/// as it was; with no terminal in the foreground nothing is asked and the command says what to set.
enum Prompt {
    /// The passphrase: CAUCUS_PASSPHRASE when set (scripts), else asked on the terminal without echo.
    static func passphrase(_ prompt: String) throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment["CAUCUS_PASSPHRASE"] { return Passphrase(value) }
        guard canAsk else {
            throw ClientError.invalidArgument("no terminal to ask for the passphrase: set CAUCUS_PASSPHRASE, or run caucus at a terminal")
        }
        var bytes = try read(prompt, echo: false)
        defer { wipe(&bytes) }
        return Passphrase(String(decoding: bytes, as: UTF8.self))
    }

    /// A new passphrase: CAUCUS_NEW_PASSPHRASE (for `passphrase change`) or CAUCUS_PASSPHRASE (for `init`)
    /// when set, else asked twice. One below the floor (`PassphraseStrength`) is refused, and asked again at
    /// a terminal, unless CAUCUS_ALLOW_WEAK_PASSPHRASE is 1.
    static func newPassphrase(environment name: String = "CAUCUS_PASSPHRASE") throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment[name] {
            try Account.checkStrength(of: Passphrase(value), allowWeak: allowWeak)
            return Passphrase(value)
        }
        for attempt in 1...3 {
            let first = try passphrase("Choose a passphrase (it protects your keys and messages on this computer): ")
            do { try Account.checkStrength(of: first, allowWeak: allowWeak) } catch {
                guard attempt < 3 else { throw error }
                tell("\(error.description). Try another.")
                continue
            }
            let second = try passphrase("Type it again: ")
            guard first.bytes.constantTimeEquals(second.bytes) else {
                guard attempt < 3 else { throw ClientError.invalidArgument("the two passphrases differ; nothing was changed") }
                tell("The two differ. Again:")
                continue
            }
            return first
        }
        throw ClientError.invalidArgument("no passphrase chosen")
    }

    /// A recovery phrase: CAUCUS_RECOVERY_PHRASE when set (scripts), else asked on the terminal
    /// without echo (someone may be looking at the screen).
    static func recoveryPhrase() throws -> String {
        if let value = ProcessInfo.processInfo.environment["CAUCUS_RECOVERY_PHRASE"] { return value }
        guard canAsk else {
            throw ClientError.invalidArgument("no terminal to ask for the recovery phrase: set CAUCUS_RECOVERY_PHRASE, or run caucus at a terminal")
        }
        var bytes = try read("Your recovery phrase (12 words; they are not shown as you type): ", echo: false)
        defer { wipe(&bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether CAUCUS_ALLOW_WEAK_PASSPHRASE=1 lifts the strength floor (tests, and those who choose to).
    static var allowWeak: Bool { ProcessInfo.processInfo.environment["CAUCUS_ALLOW_WEAK_PASSPHRASE"] == "1" }

    /// A line typed at the terminal, shown as it is typed; with no terminal, a line of standard input
    /// (scripts may answer there); nil when there is none.
    static func line(_ prompt: String) throws -> String? {
        guard canAsk else { return readLine(strippingNewline: true) }
        return String(decoding: try read(prompt, echo: true), as: UTF8.self)
    }

    /// Whether there is a terminal to ask: `/dev/tty` opens and this process is in its foreground (a
    /// background job, or a child in its own process group, would be stopped by reading it).
    static var canAsk: Bool {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return tcgetpgrp(fd) == getpgrp()
    }

    /// Writes a line to the terminal (for a second try), or to standard error when there is none.
    static func tell(_ text: String) {
        let fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        let line = Array((TerminalLine.block("", text).text + "\r\n").utf8)
        if fd >= 0 {
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        } else {
            FileHandle.standardError.write(Data(line))
        }
    }

    /// Reads one line from `/dev/tty` in raw mode: Enter ends it, Backspace takes back a character,
    /// Ctrl-U the whole line, and Ctrl-C (or Ctrl-D on an empty line) cancels: the terminal is restored,
    /// "cancelled" written, and the command exits with status 130 (as after SIGINT).
    private static func read(_ prompt: String, echo: Bool) throws -> [UInt8] {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw ClientError.invalidArgument("cannot open the terminal: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let raw = try Terminal.RawMode(fd: fd)
        defer { raw.restore() }
        func put(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        put(Array(prompt.utf8))
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = Glibc.read(fd, &byte, 1)
            if count < 0, errno == EINTR { continue }
            guard count == 1 else { break }
            switch byte {
            case 0x03, 0x04:
                // Ctrl-D ends the line only when it is empty, as at a shell.
                guard byte == 0x03 || line.isEmpty else { continue }
                wipe(&line)
                put(Array("^C\r\n".utf8))
                raw.restore()
                FileHandle.standardError.write(Data("caucus: cancelled\n".utf8))
                throw ExitCode(130)
            case 0x0d, 0x0a:
                put(Array("\r\n".utf8))
                return line
            case 0x7f, 0x08:
                // Take back one character: the last byte that does not continue a UTF-8 sequence.
                guard let start = line.lastIndex(where: { $0 & 0xc0 != 0x80 }) else { continue }
                line.removeSubrange(start...)
                if echo { put([0x08, 0x20, 0x08]) }
            case 0x15:
                if echo {
                    let width = String(decoding: line, as: UTF8.self).count
                    put(Array(repeating: 0x08, count: width) + Array(repeating: 0x20, count: width) + Array(repeating: 0x08, count: width))
                }
                wipe(&line)
                line.removeAll()
            case ..<0x20:
                continue
            default:
                line.append(byte)
                if echo { put([byte]) }
            }
        }
        put(Array("\r\n".utf8))
        return line
    }
}

/// Messages to standard error, and progress bars when it is a terminal.
enum Console {
    static let isTTY = isatty(2) == 1

    /// Progress for the person waiting, on standard error (standard output stays for results).
    static func tell(_ text: String) {
        CommandOutput.writeError(TerminalLine.block("", text).text + "\n")
    }

    /// Whether `fd` is a terminal.
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// A problem for the user. Names in it come from others: it passes the sanitiser, and its later lines
    /// are indented under the first.
    static func warn(_ text: String) {
        CommandOutput.writeError(TerminalLine.block("caucus: warning: ", text).text + "\n")
    }

    /// A progress callback drawing `[#####     ]  45%  2.3 MiB / 5.0 MiB` on standard error.
    static func progress(_ label: String) -> Account.Progress? {
        guard isTTY, CommandOutput.captured == nil else { return nil }
        return { done, total in
            let fraction = total == 0 ? 1 : Double(done) / Double(total)
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
            let text = "\r\(label) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  \(ByteCountText.describe(done)) / \(ByteCountText.describe(total))"
            FileHandle.standardError.write(Data((text + (done >= total ? "\n" : "")).utf8))
        }
    }
}
