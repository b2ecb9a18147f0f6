import ArgumentParser
import CaucusAgent
import CaucusClient
import CaucusLock
import CaucusText
import Foundation

/// Where a command's output goes: this process's standard output and error, or, for a command
/// the agent runs for a `caucus` process (`cli.run`), buffers sent back to it.
final class CommandOutput: Sendable {
    private let buffers = Locked((out: "", err: ""))
    /// The text a command reads as its standard input (`send -`), sent along by the caller.
    let input: String?

    init(input: String?) { self.input = input }

    /// The output of the command running in this task; nil: this process's own.
    @TaskLocal static var captured: CommandOutput?

    var out: String { buffers.withLock { $0.out } }
    var err: String { buffers.withLock { $0.err } }

    /// Writes `text` to standard output.
    static func write(_ text: String) {
        if let captured { captured.buffers.withLock { $0.out += text } } else { print(text, terminator: "") }
    }

    /// Writes `text` to standard error.
    static func writeError(_ text: String) {
        if let captured { captured.buffers.withLock { $0.err += text } } else { FileHandle.standardError.write(Data(text.utf8)) }
    }
}

/// Writes a line to standard output. Every value interpolated into it passes the sanitiser
/// (`TerminalLine`): nothing another person chose reaches the terminal unescaped.
func say(_ line: TerminalLine) {
    CommandOutput.write(line.text + "\n")
}

/// `say`, or with `--json` (whose standard output is the one JSON document) to standard error.
func say(_ line: TerminalLine, beside output: OutputOptions) {
    if output.json { CommandOutput.writeError(line.text + "\n") } else { say(line) }
}

/// Writes JSON for `--json`, exact: JSON's own escapes keep every string as it was sent, and every scalar
/// the sanitiser would escape (a control, DEL, C1, a bidirectional or invisible character) is written as a
/// `\uXXXX` escape too, so that JSON printed on a terminal cannot act on it either.
func printJSON(_ value: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8)
    let text = JSONValue.escapingHidden(String(decoding: data, as: UTF8.self))
    CommandOutput.write(text + "\n")
}

/// A command line as ArgumentParser parsed it, run once by one task (in `main`, or by the agent
/// for `cli.run`): never touched by two tasks at once.
struct ParsedCommand: @unchecked Sendable {
    let command: ParsableCommand
}

extension CaucusCommand {
    /// Runs the command, through the identity's agent when one runs and the command is one it
    /// takes (`AgentForwardable`), else in this process. ArgumentParser's own errors (help, usage, exit
    /// codes) are written as it writes them; any other error (a ClientError may quote a name, a reason an
    /// inviter gave or a relay's error text) passes the sanitiser first.
    static func main() async {
        let command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        if let forwardable = command as? AgentForwardable, let status = await AgentForwarding.forward(forwardable) {
            Glibc.exit(status)
        }
        Glibc.exit(await runParsed(ParsedCommand(command: command)))
    }

    /// Runs a parsed command and returns its exit status, writing errors as `main` does (to the
    /// captured output when the agent runs it).
    nonisolated(nonsending) static func runParsed(_ parsed: ParsedCommand) async -> Int32 {
        let command = parsed.command
        do {
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
            return 0
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, usage and exit codes, which quote only the command line.
            let status = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if status == 0 { CommandOutput.write(message + "\n") } else { CommandOutput.writeError(message + "\n") }
            }
            return status
        } catch {
            let line: TerminalLine = "Error: \(String(describing: error))"
            CommandOutput.writeError(line.text + "\n")
            return exitCode(for: error).rawValue
        }
    }
}
