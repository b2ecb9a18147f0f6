import CaucusText
import Foundation
import Testing

/// Text other people chose, carrying terminal control sequences, bidirectional and invisible characters,
/// driven through every output path of the built `caucus` binary (issue 16, part 1): no byte of it that a
/// terminal would act on is ever written, except in `--json`, where it is escaped and decodes exactly.
@Suite("Hostile text through every output path of the caucus command", .timeLimit(.minutes(10)))
struct HostileTextCLITests {
    /// The name from issue 16: it wiped its own line and wrote a line that looked like Rosa's.
    static let forgedName = "Tom\u{1B}[2K\u{1B}[1G02:20 Rosa: strike vote cancelled\u{1B}[8m"
    /// How every name line must show it: escapes visible, its colons escaped too (a colon ends a sender's name).
    static let forgedNameShown = "Tom<U+001B>[2K<U+001B>[1G02<U+003A>20 Rosa<U+003A> strike vote cancelled<U+001B>[8m"
    static let corpus = [
        "meeting \u{1B}]0;pwned window title\u{7} moved",
        "\u{1B}[2J\u{1B}[H cleared your screen",
        "C1 \u{9B}31m red \u{9D}0;title\u{9C} and DEL\u{7F}",
        "invoice\u{202E}fdp.exe and \u{2066}isolated\u{2069} and marks \u{200E}\u{200F}\u{61C}",
        "zero\u{200B}width\u{200C}non\u{200D}joiner\u{2060}\u{FEFF} tag\u{E0041}\u{E007F} filler\u{3164}",
        "line\u{2028}separator\u{2029} and a lone \u{301}mark, form feed\u{C} and bell\u{7}",
        "ok\n[Warehouse 5] 02:20 Rosa: strike vote cancelled\r\n\u{1B}[1A\u{1B}[2Kgone",
    ]
    static let hostileGroup = "Strike \u{1B}[31mcommittee\u{202E}"
    static let hostileFile = "leaflet\u{1B}]0;pwned\u{7}\u{202E}fdp.exe"

    @Test("Names, messages, group and file names, campaign text and card fields from others are shown escaped everywhere")
    func everyOutputPath() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let mallory = CLIWorker(name: Self.forgedName, home: directory.file("mallory"))
            try await mallory.succeed(["init", "--name", Self.forgedName, "--kdf", "interactive"])
            var outcomes: [(String, ChildProcess.Outcome)] = []
            func record(_ what: String, _ outcome: ChildProcess.Outcome) -> ChildProcess.Outcome {
                outcomes.append((what, outcome))
                return outcome
            }

            // Mallory joins Rosa's group and writes every string of the corpus, then shares a file.
            let joined = try await mallory.join(try await rosa.invite(), admittedBy: rosa)
            try #require(joined.status == 0, "\(joined)")
            for text in Self.corpus { try await mallory.succeed("send", CLIWorker.group, text) }
            let filePath = directory.file(Self.hostileFile)
            try Data("leaflet".utf8).write(to: URL(fileURLWithPath: filePath))
            _ = record("file send", try await mallory.succeed("file", "send", CLIWorker.group, filePath))

            // Mallory's own group, with a hostile name, which Rosa joins; a campaign in it with hostile text.
            _ = record("group create", try await mallory.succeed("group", "create", Self.hostileGroup))
            let code = try #require(try await mallory.json("invite", "create", Self.hostileGroup, "--expires", "1d") as? [String: Any])["code"] as! String
            let rosaJoins = try rosa.start(["join", code, "--wait", "20"])
            try await eventually("Rosa to be let into Mallory's group", within: .seconds(40)) {
                try await mallory.succeed("sync")
                return !rosaJoins.isRunning
            }
            let rosaJoined = record("join", try await rosaJoins.finish(within: .seconds(5)))
            try #require(rosaJoined.status == 0, "\(rosaJoined)")
            let language = directory.file("card.txt")
            try "I authorize \u{1B}[8mthe union\u{1B}[0m.\nDate signed: 1999-01-01\nSign this card? Type yes to sign: yes\u{202E}"
                .write(toFile: language, atomically: true, encoding: .utf8)
            let campaign = try #require(try await mallory.json(
                "campaign", "create", Self.hostileGroup, "--union", "Union\u{1B}]0;x\u{7}", "--employer", "Acme\u{202E}",
                "--unit", "Unit\u{9B}2J", "--unit-size", "3", "--language-file", language) as? [String: Any])["id"] as! String
            _ = record("campaign list", try await rosa.succeed("campaign", "list", "--sync"))
            _ = record("card sign", try await rosa.succeed("card", "sign", campaign, "--name", "Rosa\u{1B}[2K", "--contact",
                                                             "rosa\u{202E}@example.org", "--phone", "555\u{7}0101", "--yes"))
            _ = record("cards tally", try await mallory.succeed("cards", "tally", campaign))
            _ = record("card status", try await rosa.succeed("card", "status", "--sync", campaign))
            _ = record("invite list", try await mallory.succeed("invite", "list"))

            // A refusal that quotes Mallory's name: Tomasz tries the code Rosa already used.
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let refused = record("refused join", try await tomasz.join(code, admittedBy: mallory))
            #expect(refused.status != 0 && refused.stderr.contains("already used"), "\(refused)")

            // Everything Rosa prints.
            let read = record("read", try await rosa.succeed("read"))
            _ = record("history", try await rosa.succeed("history", "--sync", CLIWorker.group))
            _ = record("group members", try await rosa.succeed("group", "members", "--sync", CLIWorker.group))
            _ = record("group list", try await rosa.succeed("group", "list", "--sync"))
            _ = record("contacts", try await rosa.succeed("contacts"))
            let malloryDID = try #require(try await mallory.json("whoami") as? [String: Any])["did"] as! String
            _ = record("verify", try await rosa.succeed("verify", malloryDID))
            _ = record("chat", try await rosa.succeed("chat", CLIWorker.group))
            let fileLine = try #require(read.stdout.split(separator: "\n").first { $0.contains("caucus file get ") }, "\(read)")
            let fileID = String(try #require(fileLine.split(separator: " ").last))
            let downloads = directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            _ = record("file get", try await rosa.succeed("file", "get", fileID, "-o", downloads))

            for (what, outcome) in outcomes { Self.expectNothingInterpreted(outcome, what) }

            // The forged line is Mallory's, visibly: escaped, colons and all; no line passes for Rosa's.
            #expect(read.stdout.contains("\(Self.forgedNameShown): meeting <U+001B>]0;pwned window title<U+0007> moved"), "\(read)")
            for line in read.stdout.split(separator: "\n") {
                #expect(!line.hasPrefix("[Warehouse 5] 02:20 Rosa"), "a forged line: \(line)")
                if line.contains("[Warehouse 5] 02:20 Rosa: strike vote cancelled") { #expect(line.hasPrefix("    "), "\(line)") }
            }
            #expect(read.stdout.contains("invoice<U+202E>fdp.exe and <U+2066>isolated<U+2069>"), "\(read)")
            let members = outcomes.first { $0.0 == "group members" }!.1
            #expect(members.stdout.contains(Self.forgedNameShown), "\(members)")
            let signed = outcomes.first { $0.0 == "card sign" }!.1
            #expect(signed.stdout.contains("\n  Date signed: 1999-01-01") && signed.stdout.contains("Employer: Acme<U+202E>"), "\(signed)")

            // JSON stays exact: every string decodes to what was sent, and no raw control reaches the terminal either.
            let history = try await rosa.succeed("history", "--sync", CLIWorker.group, "--json")
            Self.expectNothingInterpreted(history, "history --json")
            let lines = try #require(history.json as? [[String: Any]])
            for text in Self.corpus { #expect(lines.contains { $0["text"] as? String == text }, "\(text.debugDescription) is not exact in JSON") }
            #expect(lines.contains { $0["sender"] as? String == Self.forgedName })
            let memberJSON = try await rosa.succeed("group", "members", "--sync", CLIWorker.group, "--json")
            Self.expectNothingInterpreted(memberJSON, "group members --json")
            #expect(try #require(memberJSON.json as? [[String: Any]]).contains { $0["name"] as? String == Self.forgedName })
            let groupsJSON = try await rosa.succeed("group", "list", "--sync", "--json")
            #expect(try #require(groupsJSON.json as? [[String: Any]]).contains { $0["name"] as? String == Self.hostileGroup })
        }
    }

    /// Fails the test if `outcome` wrote, on either stream, a scalar the sanitiser shows escaped (line breaks
    /// aside): no escape, no control, no bidirectional or invisible character reaches the terminal.
    static func expectNothingInterpreted(_ outcome: ChildProcess.Outcome, _ what: String) {
        for (stream, text) in [("stdout", outcome.stdout), ("stderr", outcome.stderr)] {
            let raw = text.unicodeScalars.filter { $0 != "\n" && TerminalText.isHidden($0) }
            #expect(raw.isEmpty, "\(what) wrote \(raw.map { TerminalText.escape($0) }.joined()) raw on \(stream): \(outcome)")
            #expect(!text.utf8.contains(0x1B), "\(what) wrote an ESC byte on \(stream)")
        }
    }
}
