import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Asking the person at the terminal.
enum Prompt {
    /// The passphrase: CAUCUS_PASSPHRASE when set (scripts), else asked on the terminal without echo.
    static func passphrase(_ prompt: String) throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment["CAUCUS_PASSPHRASE"] { return Passphrase(value) }
        guard let raw = getpass(prompt) else {
            throw ClientError.invalidArgument("no terminal to ask for the passphrase; set CAUCUS_PASSPHRASE")
        }
        defer { memset(raw, 0, strlen(raw)) }
        return Passphrase(String(cString: raw))
    }

    /// A new passphrase, asked twice.
    static func newPassphrase() throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment["CAUCUS_PASSPHRASE"] { return Passphrase(value) }
        let first = try passphrase("Choose a passphrase (it protects your keys and messages on this computer): ")
        let second = try passphrase("Type it again: ")
        guard first.bytes.constantTimeEquals(second.bytes) else { throw ClientError.invalidArgument("the two passphrases differ; nothing was created") }
        return first
    }

    /// A line typed at the terminal.
    static func line(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        return readLine(strippingNewline: true)
    }
}

/// Messages to standard error, and progress bars when it is a terminal.
enum Console {
    static let isTTY = isatty(2) == 1

    /// A problem for the user. Names in it come from others: it passes the sanitiser, and its later lines
    /// are indented under the first.
    static func warn(_ text: String) {
        FileHandle.standardError.write(Data((TerminalLine.block("caucus: warning: ", text).text + "\n").utf8))
    }

    /// A progress callback drawing `[#####     ]  45%  2.3 MiB / 5.0 MiB` on standard error.
    static func progress(_ label: String) -> Account.Progress? {
        guard isTTY else { return nil }
        return { done, total in
            let fraction = total == 0 ? 1 : Double(done) / Double(total)
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
            let text = "\r\(label) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  \(Account.describe(bytes: done)) / \(Account.describe(bytes: total))"
            FileHandle.standardError.write(Data((text + (done >= total ? "\n" : "")).utf8))
        }
    }
}
