import Foundation
import Testing

/// `caucus chat` in real terminals: each worker's shell runs in a pane of a private tmux server and
/// the test types into it as a person would.
@Suite("caucus chat in a terminal", .timeLimit(.minutes(10)))
struct ChatTerminalTests {
    @Test("Two workers chat live: lines arrive with the sender's name, /members lists both, /quit gives each shell back as it was")
    func chatBothWays() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            try await withTmux { tmux in
                var before: [String: String] = [:]
                for worker in workers {
                    let session = worker.name.lowercased()
                    try await tmux.startShell(session)
                    before[session] = try await shellTerminalSettings(tmux, session, in: directory)
                    try await startChat(worker, in: tmux, relay: relay)
                }

                try await tmux.type("rosa", "hello from rosa")
                try await tmux.waitFor("tomasz", "Rosa's line") { $0.contains("Rosa: hello from rosa") }
                try await tmux.type("tomasz", "hi Rosa, Tomasz here")
                try await tmux.waitFor("rosa", "Tomasz's reply") { $0.contains("Tomasz: hi Rosa, Tomasz here") }
                try await tmux.type("rosa", "/members")
                try await tmux.waitFor("rosa", "both members") { $0.contains("* Rosa  z6Mk") && $0.contains("* Tomasz  z6Mk") }

                for session in ["rosa", "tomasz"] {
                    try await tmux.type(session, "/quit")
                    try await expectShellBack(tmux, session, settings: try #require(before[session]), in: directory)
                }
            }
        }
    }

    @Test("Ctrl-C leaves chat without sending the half-typed line and gives the shell back as it was")
    func controlC() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            try await withTmux { tmux in
                try await tmux.startShell("rosa")
                let before = try await shellTerminalSettings(tmux, "rosa", in: directory)
                try await startChat(rosa, in: tmux, relay: relay)

                try await tmux.type("rosa", "half a line", enter: false)
                try await tmux.waitFor("rosa", "the half-typed line") { Tmux.lastLine($0).hasSuffix("half a line") }
                try await tmux.press("rosa", "C-c")
                try await expectShellBack(tmux, "rosa", settings: before, in: directory)
            }
            #expect(try await rosa.historyLines(withText: "half a line").isEmpty)
        }
    }

    @Test("A chat that crashes (SIGSEGV) puts the terminal back as it was before it dies")
    func crashRestoresTheTerminal() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            try await withTmux { tmux in
                // Under a plain `sh -c`, which (unlike an interactive bash) does not repair the terminal
                // after a child dies, so what `stty` shows afterwards is what the chat left. Without the
                // Swift runtime's crash report, which takes a minute to symbolicate a debug build.
                let before = directory.file("before"), after = directory.file("after"), status = directory.file("status")
                let chat = [try BuiltBinaries.caucus(), "chat", CLIWorker.group, "--home", rosa.home].map(Tmux.quoted).joined(separator: " ")
                let script = "stty -a > \(Tmux.quoted(before)); SWIFT_BACKTRACE=enable=no CAUCUS_PASSPHRASE=\(Tmux.quoted(CLIWorker.passphrase)) "
                    + "\(chat); echo $? > \(Tmux.quoted(status)); stty -a > \(Tmux.quoted(after)); sleep 600"
                try await tmux.run(["new-session", "-d", "-s", "crash", "-x", "120", "-y", "40", "/bin/sh -c \(Tmux.quoted(script))"])
                try await tmux.waitFor("crash", "the chat connected") { $0.contains("* connected to \(relay.url)") }
                let raw = try await ChildProcess.run("/usr/bin/env", ["stty", "-a", "-F", try await tmux.tty("crash")],
                                                     environment: ProcessInfo.processInfo.environment, within: .seconds(10))
                #expect(Set(raw.stdout.split(whereSeparator: \.isWhitespace)).isSuperset(of: ["-icanon", "-echo"]), "\(raw)")

                let killed = try await ChildProcess.run("/usr/bin/env", ["pkill", "-SEGV", "-f", "chat \(CLIWorker.group) --home \(rosa.home)"],
                                                        environment: ProcessInfo.processInfo.environment, within: .seconds(10))
                #expect(killed.status == 0, "\(killed)")
                try await eventually("the terminal settings after the crash", within: .seconds(30)) { FileManager.default.fileExists(atPath: after) }
                try await Task.sleep(for: .milliseconds(200))
                // 139 (SIGSEGV) normally; under AddressSanitizer, its own crash report's exit status.
                #expect(try String(contentsOfFile: status, encoding: .utf8) != "0\n")
                #expect(try String(contentsOfFile: after, encoding: .utf8) == String(contentsOfFile: before, encoding: .utf8))
            }
        }
    }

    /// Types the `caucus chat` command into the shell of the worker's session (named like them, in
    /// lower case) and waits until the chat is connected and has the terminal in raw mode.
    private func startChat(_ worker: CLIWorker, in tmux: Tmux, relay: TestRelay) async throws {
        let session = worker.name.lowercased()
        let command = [try BuiltBinaries.caucus(), "chat", CLIWorker.group, "--home", worker.home].map(Tmux.quoted)
        try await tmux.type(session, command.joined(separator: " "))
        try await tmux.waitFor(session, "the chat connected") { $0.contains("* connected to \(relay.url)") }
        let tty = try await tmux.tty(session)
        let raw = try await ChildProcess.run("/usr/bin/env", ["stty", "-a", "-F", tty],
                                             environment: ProcessInfo.processInfo.environment, within: .seconds(10))
        let flags = Set(raw.stdout.split(whereSeparator: \.isWhitespace))
        #expect(flags.isSuperset(of: ["-icanon", "-echo", "-isig"]), "chat did not put \(tty) in raw mode: \(raw)")
    }

    /// `stty -a` as the pane's shell runs it, with line editing, echo and signal keys on.
    private func shellTerminalSettings(_ tmux: Tmux, _ session: String, in directory: TempDirectory) async throws -> String {
        let file = directory.file("stty-\(session)-\(UUID().uuidString)")
        try await tmux.type(session, "stty -a > \(Tmux.quoted(file + ".part")) && mv \(Tmux.quoted(file + ".part")) \(Tmux.quoted(file))")
        try await eventually("stty -a in \(session)'s shell", within: .seconds(10)) { FileManager.default.fileExists(atPath: file) }
        let settings = try String(contentsOfFile: file, encoding: .utf8)
        let flags = Set(settings.split(whereSeparator: \.isWhitespace))
        #expect(flags.isSuperset(of: ["icanon", "echo", "isig"]), "\(session)'s shell is not in cooked mode: \(settings)")
        return settings
    }

    /// Expects the chat to have exited with status 0, the shell to read commands again, and the
    /// terminal settings to be those from before the chat.
    private func expectShellBack(_ tmux: Tmux, _ session: String, settings before: String, in directory: TempDirectory,
                                 sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await tmux.waitFor(session, "the shell prompt after the chat") { Tmux.lastLine($0) == "$" }
        try await tmux.type(session, "echo \"chat exited with $?\"")
        try await tmux.waitFor(session, "the chat's exit status") { $0.contains("\nchat exited with ") }
        let screen = try await tmux.screen(session)
        #expect(screen.contains("\nchat exited with 0\n"), "\(screen)", sourceLocation: sourceLocation)
        let after = try await shellTerminalSettings(tmux, session, in: directory)
        #expect(after == before, sourceLocation: sourceLocation)
    }
}
