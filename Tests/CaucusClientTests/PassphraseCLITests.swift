import Foundation
import Testing

/// Passphrases and prompts through the built `caucus` (Protocol.md §9.11): weak passphrases are
/// refused, the passphrase can be changed, prompts cancel on Ctrl-C and give a second try, nothing is
/// asked without a terminal, and a message can come from standard input.
@Suite("CLI: passphrases, prompts and messages from standard input", .timeLimit(.minutes(10)))
struct PassphraseCLITests {
    static let newPassphrase = "an injury to one is an injury to all"

    @Test("A weak or common passphrase is refused at init, and nothing is created; CAUCUS_ALLOW_WEAK_PASSPHRASE=1 lets it through")
    func weakPassphrasesAreRefused() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = CLIWorker(name: "Rosa", home: directory.file("rosa"))
        let initialise = ["init", "--name", "Rosa", "--kdf", "interactive"]
        for (weak, why) in [("abc", "below the floor of 2^60"), ("Password123!", "one of the most common passwords"), ("zxcvbnm,./12", "below the floor")] {
            let refused = try await rosa.run(initialise, environment: ["CAUCUS_PASSPHRASE": weak])
            #expect(refused.status != 0, "\(refused)")
            #expect(refused.stderr.contains("that passphrase is too easy to guess: "), "\(refused)")
            #expect(refused.stderr.contains(why), "\(refused)")
            #expect(!FileManager.default.fileExists(atPath: (rosa.home as NSString).appendingPathComponent("identity.key")))
        }
        let allowed = try await rosa.run(initialise, environment: ["CAUCUS_PASSPHRASE": "abc", "CAUCUS_ALLOW_WEAK_PASSPHRASE": "1"])
        #expect(allowed.status == 0, "\(allowed)")
        #expect(try await rosa.run(["whoami"], environment: ["CAUCUS_PASSPHRASE": "abc"]).status == 0)
    }

    @Test("passphrase change re-seals the keystore: the old passphrase stops working, the new one works; a wrong or weak one changes nothing")
    func passphraseChange() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await CLIWorker.make("Rosa", in: directory, relayURL: nil)
        let change = ["passphrase", "change", "--kdf", "interactive"]
        let before = try rosa.files()

        let wrong = try await rosa.run(change, environment: ["CAUCUS_PASSPHRASE": "not the passphrase", "CAUCUS_NEW_PASSPHRASE": Self.newPassphrase])
        #expect(wrong.status != 0, "\(wrong)")
        #expect(wrong.stderr.contains("wrong passphrase; nothing was changed"), "\(wrong)")
        let weak = try await rosa.run(change, environment: ["CAUCUS_NEW_PASSPHRASE": "abcabc"])
        #expect(weak.status != 0, "\(weak)")
        #expect(weak.stderr.contains("that passphrase is too easy to guess"), "\(weak)")
        #expect(try rosa.files() == before)

        let changed = try await rosa.run(change, environment: ["CAUCUS_NEW_PASSPHRASE": Self.newPassphrase])
        #expect(changed.status == 0, "\(changed)")
        #expect(changed.stdout.contains("Changed the passphrase"), "\(changed)")
        #expect(try rosa.files().keys.sorted() == before.keys.sorted(), "a temporary file was left behind")
        let old = try await rosa.run(["whoami"])
        #expect(old.status != 0 && old.stderr.contains("wrong passphrase"), "\(old)")
        let new = try await rosa.run(["whoami", "--json"], environment: ["CAUCUS_PASSPHRASE": Self.newPassphrase])
        #expect(new.status == 0, "\(new)")
        #expect((new.json as? [String: Any])?["name"] as? String == "Rosa", "\(new)")
    }

    @Test("With no terminal and no CAUCUS_PASSPHRASE nothing is asked: a clear error, no prompt, no wrong-passphrase report")
    func noTerminal() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await CLIWorker.make("Rosa", in: directory, relayURL: nil)
        var environment = CLIWorker.environment()
        environment["CAUCUS_PASSPHRASE"] = nil
        let outcome = try await ChildProcess.run(try BuiltBinaries.caucus(), ["whoami", "--home", rosa.home], environment: environment)
        #expect(outcome.status != 0, "\(outcome)")
        #expect(outcome.stdout.isEmpty, "\(outcome)")
        #expect(outcome.stderr == "Error: no terminal to ask for the passphrase: set CAUCUS_PASSPHRASE, or run caucus at a terminal\n", "\(outcome)")
    }

    @Test("send NAME - reads the message, several lines, from standard input; it arrives as typed")
    func sendFromStandardInput() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let text = "meet at the side door\nbring the cards\n  and a pen"
            for arguments in [["-"], ["--stdin"]] {
                let command = ([try BuiltBinaries.caucus(), "send", CLIWorker.group] + arguments + ["--home", rosa.home]).map(Tmux.quoted)
                let script = "printf '%s\\n' \(Tmux.quoted(text)) | \(command.joined(separator: " "))"
                let sent = try await ChildProcess.run("/bin/sh", ["-c", script], environment: CLIWorker.environment())
                #expect(sent.status == 0 && sent.stdout == "Sent.\n", "\(sent)")
            }
            let read = try #require(try await tomasz.json("read") as? [[String: Any]])
            #expect(read.compactMap { $0["text"] as? String }.filter { $0 == text }.count == 2, "\(read)")

            let both = try await rosa.run("send", CLIWorker.group, "--stdin", "words")
            #expect(both.status != 0 && both.stderr.contains("either as text or with --stdin"), "\(both)")
        }
    }

    @Test("At a terminal: Ctrl-C at the passphrase prompt cancels with status 130 and the terminal as it was; a wrong passphrase gets a second try")
    func promptAtATerminal() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await CLIWorker.make("Rosa", in: directory, relayURL: nil)
        try await withTmux { tmux in
            try await tmux.startShell("rosa")
            let before = try await Self.terminalSettings(tmux, in: directory)
            let whoami = ([try BuiltBinaries.caucus(), "whoami", "--home", rosa.home]).map(Tmux.quoted).joined(separator: " ")
            let command = "env -u CAUCUS_PASSPHRASE \(whoami); echo \"exited with $?\""

            try await tmux.type("rosa", command)
            try await tmux.waitFor("rosa", "the passphrase prompt") { Tmux.lastLine($0).hasPrefix("Passphrase for ") }
            try await tmux.type("rosa", "half typed", enter: false)
            try await tmux.press("rosa", "C-c")
            let cancelled = try await tmux.waitFor("rosa", "the exit status") { $0.contains("\nexited with ") }
            #expect(cancelled.contains("caucus: cancelled\nexited with 130"), "\(cancelled)")
            #expect(!cancelled.contains("half typed"), "the passphrase was echoed: \(cancelled)")
            #expect(try await Self.terminalSettings(tmux, in: directory) == before)

            try await tmux.type("rosa", "clear")
            try await tmux.waitFor("rosa", "a cleared screen") { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "$" }
            try await tmux.type("rosa", command)
            try await tmux.waitFor("rosa", "the passphrase prompt") { Tmux.lastLine($0).hasPrefix("Passphrase for ") }
            try await tmux.type("rosa", "not the passphrase")
            try await tmux.waitFor("rosa", "a second try") { $0.contains("Wrong passphrase; try again.") && Tmux.lastLine($0).hasPrefix("Passphrase for ") }
            try await tmux.type("rosa", CLIWorker.passphrase)
            let done = try await tmux.waitFor("rosa", "the exit status") { $0.contains("\nexited with ") }
            #expect(done.contains("did:key:") && done.contains("exited with 0"), "\(done)")
            #expect(!done.contains(CLIWorker.passphrase), "the passphrase was echoed: \(done)")
            #expect(try await Self.terminalSettings(tmux, in: directory) == before)
        }
    }

    /// `stty -a` as the pane's shell sees it.
    private static func terminalSettings(_ tmux: Tmux, in directory: TempDirectory) async throws -> String {
        let file = directory.file("stty-\(UUID().uuidString)")
        try await tmux.type("rosa", "stty -a > \(Tmux.quoted(file + ".part")) && mv \(Tmux.quoted(file + ".part")) \(Tmux.quoted(file))")
        try await eventually("stty -a in the shell", within: .seconds(10)) { FileManager.default.fileExists(atPath: file) }
        return try String(contentsOfFile: file, encoding: .utf8)
    }
}
