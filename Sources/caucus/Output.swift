import ArgumentParser
import CaucusClient
import CaucusText
import Foundation

/// Writes a line to standard output. Every value interpolated into it passes the sanitiser
/// (`TerminalLine`): nothing another person chose reaches the terminal unescaped.
func say(_ line: TerminalLine) {
    print(line.text)
}

/// `say`, or with `--json` (whose standard output is the one JSON document) to standard error.
func say(_ line: TerminalLine, beside output: OutputOptions) {
    if output.json { FileHandle.standardError.write(Data((line.text + "\n").utf8)) } else { say(line) }
}

/// Writes JSON for `--json`, exact: JSON's own escapes keep every string as it was sent, and every scalar
/// the sanitiser would escape (a control, DEL, C1, a bidirectional or invisible character) is written as a
/// `\uXXXX` escape too, so that JSON printed on a terminal cannot act on it either.
func printJSON(_ value: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8)
    var text = ""
    for scalar in String(decoding: data, as: UTF8.self).unicodeScalars {
        // Line breaks are the pretty printer's own: JSON escapes those inside strings already.
        guard scalar != "\n", TerminalText.isHidden(scalar) else {
            text.unicodeScalars.append(scalar)
            continue
        }
        for unit in String(scalar).utf16 { text += String(format: "\\u%04x", unit) }
    }
    print(text)
}

extension CaucusCommand {
    /// Runs the command. ArgumentParser's own errors (help, usage, exit codes) are written as it writes them; any
    /// other error (a ClientError may quote a name, a reason an inviter gave or a relay's error text) passes the
    /// sanitiser first.
    static func main() async {
        let command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, usage and exit codes, which quote only the command line.
            exit(withError: error)
        } catch {
            let line: TerminalLine = "Error: \(String(describing: error))"
            FileHandle.standardError.write(Data((line.text + "\n").utf8))
            exit(withError: ExitCode(exitCode(for: error).rawValue))
        }
    }
}
