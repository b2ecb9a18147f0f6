// Running the built `caucus` binary (and tmux) as child processes, the way a worker's shell would.
import CaucusCrypto
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where the built executables are: `$CAUCUS_BIN_DIR`, else `.build/debug` of this checkout.
enum BuiltBinaries {
    static var directory: String {
        if let directory = ProcessInfo.processInfo.environment["CAUCUS_BIN_DIR"], !directory.isEmpty { return directory }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug").path
    }

    /// The `caucus` executable; fails the test when it is not built.
    static func caucus() throws -> String {
        let path = (directory as NSString).appendingPathComponent("caucus")
        try #require(FileManager.default.isExecutableFile(atPath: path),
                     "caucus is not built at \(path): run `swift build` first, or set CAUCUS_BIN_DIR")
        return path
    }
}

/// A worker using the `caucus` command with their own data directory.
struct CLIWorker: Sendable {
    /// The group every CLI test meets in.
    static let group = "Warehouse 5"
    static let passphrase = "correct horse battery staple"

    let name: String
    let home: String

    /// This process's environment for `caucus`, with the passphrase set and no other identity named.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CAUCUS_HOME"] = nil
        environment["CAUCUS_CA_FILE"] = nil
        environment["CAUCUS_PASSPHRASE"] = passphrase
        return environment.merging(extra) { $1 }
    }

    /// `caucus ARGUMENTS` with no identity (help and the like).
    static func caucus(_ arguments: String...) async throws -> ChildProcess.Outcome {
        try await ChildProcess.run(try BuiltBinaries.caucus(), arguments, environment: environment())
    }

    /// `caucus init` with fast passphrase hardening, in its own directory under `directory`.
    static func make(_ name: String, in directory: TempDirectory, relay: TestRelay?) async throws -> CLIWorker {
        try await make(name, in: directory, relayURL: relay?.url)
    }

    /// `caucus init` as above, with the relay given by its address.
    static func make(_ name: String, in directory: TempDirectory, relayURL: String?) async throws -> CLIWorker {
        let worker = CLIWorker(name: name, home: directory.file(name.lowercased()))
        try await worker.succeed(["init", "--name", name, "--kdf", "interactive"] + (relayURL.map { ["--relay", $0] } ?? []))
        return worker
    }

    /// Starts `caucus ARGUMENTS --home HOME`.
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(try BuiltBinaries.caucus(), arguments + ["--home", home], environment: Self.environment(extra))
    }

    /// Runs `caucus ARGUMENTS --home HOME` to the end.
    func run(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> ChildProcess.Outcome {
        try await start(arguments, environment: extra).finish(within: .seconds(30))
    }

    func run(_ arguments: String...) async throws -> ChildProcess.Outcome { try await run(arguments) }

    /// Runs a command that must succeed.
    @discardableResult
    func succeed(_ arguments: [String]) async throws -> ChildProcess.Outcome {
        let outcome = try await run(arguments)
        try #require(outcome.status == 0, "\(name): \(outcome)")
        return outcome
    }

    @discardableResult
    func succeed(_ arguments: String...) async throws -> ChildProcess.Outcome { try await succeed(arguments) }

    /// Runs a `--json` command that must succeed and returns what it printed.
    func json(_ arguments: String...) async throws -> Any {
        let outcome = try await succeed(arguments + ["--json"])
        return try #require(outcome.json, "\(name): not JSON: \(outcome)")
    }

    /// A one-time invite code to the group.
    func invite(expires: String = "1d") async throws -> String {
        let object = try #require(try await json("invite", "create", Self.group, "--expires", expires) as? [String: Any])
        return try #require(object["code"] as? String)
    }

    /// `caucus join CODE --wait 20 --json` while `admin` runs `caucus sync` until the join has its answer.
    func join(_ code: String, admittedBy admin: CLIWorker) async throws -> ChildProcess.Outcome {
        let joining = try start(["join", code, "--wait", "20", "--json"])
        // The request reaches the relay some time after the process starts; one sync could come too early.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while joining.isRunning, clock.now < deadline {
            try await admin.succeed("sync")
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await joining.finish(within: .seconds(5))
    }

    /// This worker's DID.
    func did() async throws -> DID {
        let object = try #require(try await json("whoami") as? [String: Any])
        return try DID(parsing: try #require(object["did"] as? String))
    }

    /// The groups this worker is in, by name.
    func groupNames() async throws -> [String] {
        try #require(try await json("group", "list", "--sync") as? [[String: Any]]).compactMap { $0["name"] as? String }
    }

    /// The group's members as this worker sees them, by name, sorted.
    func memberNames() async throws -> [String] {
        try #require(try await json("group", "members", "--sync", Self.group) as? [[String: Any]]).compactMap { $0["name"] as? String }.sorted()
    }

    /// The messages of the group with `text`, from `caucus history`.
    func historyLines(withText text: String) async throws -> [[String: Any]] {
        let lines = try #require(try await json("history", "--sync", Self.group) as? [[String: Any]])
        return lines.filter { $0["text"] as? String == text }
    }

    /// The bytes of every file in the data directory, by name.
    func files() throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: home) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: (home as NSString).appendingPathComponent(name)))
        }
        return files
    }
}

/// Runs `body` with a new relay on 127.0.0.1 (`hostile`: over a `HostileStore`) and a directory for the
/// workers' homes, then removes both.
func withRelay(hostile: Bool = false, _ body: (TestRelay, TempDirectory) async throws -> Void) async throws {
    let directory = try TempDirectory()
    let relay: TestRelay
    do { relay = try await TestRelay.start(hostile: hostile) } catch {
        directory.remove()
        throw error
    }
    do { try await body(relay, directory) } catch {
        await relay.stop()
        await remove(directory)
        throw error
    }
    await relay.stop()
    await remove(directory)
}

/// Removes `directory`, trying again for up to 5 s: a chat that tmux has just hung up on may still be
/// closing its store in there.
private func remove(_ directory: TempDirectory) async {
    for _ in 0..<50 where FileManager.default.fileExists(atPath: directory.path) {
        directory.remove()
        try? await Task.sleep(for: .milliseconds(100))
    }
}

/// The group made by the first of `names` (its admin), the others joined through `caucus join`.
func makeGroup(_ names: [String], relay: TestRelay, in directory: TempDirectory) async throws -> [CLIWorker] {
    try await makeGroup(names, relayURL: relay.url, in: directory)
}

/// The same, on the relay at `relayURL`.
func makeGroup(_ names: [String], relayURL: String, in directory: TempDirectory) async throws -> [CLIWorker] {
    let admin = try await CLIWorker.make(names[0], in: directory, relayURL: relayURL)
    try await admin.succeed("group", "create", CLIWorker.group)
    var workers = [admin]
    for name in names.dropFirst() {
        let joiner = try await CLIWorker.make(name, in: directory, relay: nil)
        let joined = try await joiner.join(try await admin.invite(), admittedBy: admin)
        try #require(joined.status == 0 && (joined.json as? [String: Any])?["joined"] as? Bool == true, "\(joined)")
        workers.append(joiner)
    }
    return workers
}

/// A private tmux server (its own socket, no configuration file) for driving `caucus chat` in real terminals.
/// The server runs in the foreground as the test's own child, so the test sees it end.
struct Tmux {
    let executable: String
    let socket = "caucus-test-\(UUID().uuidString)"
    private let server: ChildProcess

    /// Starts the server; fails the test when tmux is not installed.
    init() async throws {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { ($0 as NSString).appendingPathComponent("tmux") }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        executable = try #require(path, "tmux is not installed (scripts/test installs it; or apt-get install tmux)")
        server = try ChildProcess(executable, ["-L", socket, "-f", "/dev/null", "-D"], environment: Self.environment)
        try await eventually("the tmux server to listen", within: .seconds(10)) { [self] in
            try await client(["list-sessions"]).status == 0
        }
    }

    /// Runs a tmux command on this server; it must succeed.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let outcome = try await client(arguments)
        try #require(outcome.status == 0, "\(outcome)")
        return outcome.stdout
    }

    private func client(_ arguments: [String]) async throws -> ChildProcess.Outcome {
        try await ChildProcess.run(executable, ["-L", socket, "-f", "/dev/null"] + arguments,
                                   environment: Self.environment, within: .seconds(10))
    }

    /// This process's environment, without what would tie tmux to a tmux the tests themselves run in.
    private static var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key != "TMUX" && $0.key != "TMUX_PANE" }
    }

    /// A session named `name`, 120 × 40, running bash with the prompt `$ `, no rc files and the workers' passphrase in its environment.
    func startShell(_ name: String) async throws {
        let shell = "env -u CAUCUS_HOME CAUCUS_PASSPHRASE=\(Self.quoted(CLIWorker.passphrase)) PS1='$ ' HISTFILE=/dev/null bash --norc --noprofile"
        try await run(["new-session", "-d", "-s", name, "-x", "120", "-y", "40", shell])
        try await waitFor(name, "a shell prompt") { Self.lastLine($0) == "$" }
    }

    /// Types `text` literally, then Enter unless told not to.
    func type(_ session: String, _ text: String, enter: Bool = true) async throws {
        try await run(["send-keys", "-t", session, "-l", text])
        if enter { try await run(["send-keys", "-t", session, "Enter"]) }
    }

    /// Presses keys named as tmux names them (`C-c`, `Enter`).
    func press(_ session: String, _ keys: String...) async throws {
        try await run(["send-keys", "-t", session] + keys)
    }

    /// The pane's text, scrollback included, wrapped lines joined.
    func screen(_ session: String) async throws -> String {
        try await run(["capture-pane", "-p", "-J", "-S", "-1000", "-t", session])
    }

    /// The pane's terminal device.
    func tty(_ session: String) async throws -> String {
        try await run(["display-message", "-p", "-t", session, "#{pane_tty}"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls the pane until `done` holds; fails the test with the screen after `limit`.
    @discardableResult
    func waitFor(_ session: String, _ what: String, within limit: Duration = .seconds(20),
                 _ done: (String) -> Bool) async throws -> String {
        var screen = ""
        try await eventually("\(session)'s pane to show \(what)", within: limit, else: { "it shows:\n\(screen)" }) {
            screen = try await self.screen(session)
            return done(screen)
        }
        return screen
    }

    /// Ends the server and everything running in it; throws if the server does not end.
    func stop() async throws {
        _ = try? await client(["kill-server"])
        _ = try await server.finish(within: .seconds(10))
    }

    /// The last line of a screen that is not blank.
    static func lastLine(_ screen: String) -> String {
        screen.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// `text` as one word for sh.
    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }
}

/// Runs `body` with a private tmux server, then stops it.
func withTmux(_ body: (Tmux) async throws -> Void) async throws {
    let tmux = try await Tmux()
    do { try await body(tmux) } catch {
        try? await tmux.stop()
        throw error
    }
    try await tmux.stop()
}
