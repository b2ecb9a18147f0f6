import CaucusTestSupport
import Foundation
import Testing

/// `caucus-relay` as an operator starts it: settings no relay can run with are refused at start,
/// naming the option, before anything is created; the help text reads as written.
@Suite("Relay: the command line", .timeLimit(.minutes(2)))
struct RelayCommandLineTests {
    @Test("Impossible settings are refused at start, naming the option, and create nothing")
    func impossibleSettings() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let data = directory.path + "/data"
        let cases: [([String], String)] = [
            (["--port", "70000"], "--port must be 0 to 65535"),
            (["--port=-1"], "--port must be 0 to 65535"),
            (["--mailbox-messages", "0"], "--mailbox-messages must be at least 1"),
            (["--mailbox-messages=-5"], "--mailbox-messages must be at least 1"),
            (["--max-payload-bytes", "0"], "--max-payload-bytes must be at least 1"),
            (["--max-blob-bytes", "0"], "--max-blob-bytes must be at least 1"),
            (["--blob-quota-bytes", "0"], "--blob-quota-bytes must be at least 1"),
            (["--rate-limit", "0"], "--rate-limit must be above 0"),
            (["--rate-limit", "inf"], "--rate-limit must be above 0"),
            (["--rate-burst", "0.5"], "--rate-burst must be at least 1"),
            (["--max-connections", "0"], "--max-connections must be at least 1"),
            (["--ttl-days", "0"], "--ttl-days must be in (0, 365]"),
        ]
        for (arguments, expected) in cases {
            let outcome = try await ChildProcess.run(RelayProcess.executable, ["--host", "127.0.0.1", "--data-dir", data] + arguments,
                                                     environment: ProcessInfo.processInfo.environment)
            #expect(outcome.status != 0, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(expected), "\(arguments): \(outcome)")
            #expect(!FileManager.default.fileExists(atPath: data), "\(arguments) created the data directory")
        }
    }

    @Test("--help wraps each paragraph of its overview where the terminal ends, never mid-sentence")
    func helpWrapsParagraphs() async throws {
        let outcome = try await ChildProcess.run(RelayProcess.executable, ["--help"], environment: ProcessInfo.processInfo.environment)
        #expect(outcome.status == 0, "\(outcome)")
        let overview = try #require(outcome.stdout.components(separatedBy: "USAGE:").first)
        // Wrapped at 80 columns, every line of a paragraph but its last is long; a line break
        // written into the text shows as a short line in the middle of one.
        for paragraph in overview.components(separatedBy: "\n\n") {
            let lines = paragraph.split(separator: "\n")
            for line in lines.dropLast() {
                #expect(line.count > 60, "a short line inside a paragraph of the help: \(line)")
            }
        }
        let flat = overview.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("It keeps its data in one SQLite file, relay.sqlite, in the data directory"), "\(flat)")
    }
}
