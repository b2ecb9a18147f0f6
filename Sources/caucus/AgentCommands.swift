import ArgumentParser
import CaucusAgent
import CaucusClient
import CaucusCrypto
import CaucusLock
import CaucusText
import Foundation

/// A command the agent may run for a `caucus` process: it only reads and writes through the
/// account (`withAccount`), prints through `say`, `printJSON`, `Console` and `CommandOutput`,
/// asks nothing at the terminal and names no file (the agent's working directory is not the
/// caller's).
protocol AgentForwardable {
    var global: GlobalOptions { get }
    /// What the command reads from standard input, read here and sent along; nil for none.
    func inputForAgent() throws -> String?
}

extension AgentForwardable {
    func inputForAgent() throws -> String? { nil }
}

extension Send: AgentForwardable {
    func inputForAgent() throws -> String? {
        stdin || text == ["-"] ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : nil
    }
}
extension Read: AgentForwardable {}
extension History: AgentForwardable {}
extension Sync: AgentForwardable {}
extension Whoami: AgentForwardable {}
extension GroupCommand.List: AgentForwardable {}
extension GroupCommand.Members: AgentForwardable {}
extension InviteCommand.Create: AgentForwardable {}
extension InviteCommand.List: AgentForwardable {}
extension InviteCommand.Withdraw: AgentForwardable {}
extension CampaignCommand.List: AgentForwardable {}
extension CardCommand.Status: AgentForwardable {}
extension Contacts: AgentForwardable {}
extension Verify: AgentForwardable {}
extension Expire: AgentForwardable {}

/// Running a command through the agent (`cli.run`).
enum AgentForwarding {
    /// Runs `command` (this process's arguments) in the identity's agent and writes what it
    /// printed; its exit status, or nil when no agent runs (or CAUCUS_NO_AGENT is set) and the
    /// command is to run here.
    nonisolated(nonsending) static func forward(_ command: AgentForwardable) async -> Int32? {
        guard ProcessInfo.processInfo.environment["CAUCUS_NO_AGENT"] == nil else { return nil }
        let socket = AgentSocket.path(for: command.global.clientHome)
        guard FileManager.default.fileExists(atPath: socket) else { return nil }
        var params: [String: JSONValue] = ["args": .array(CommandLine.arguments.dropFirst().map { .string($0) })]
        // The agent runs the command with its own environment: CAUCUS_PROXY set in this one goes along.
        if let proxy = command.global.proxyForAll { params["proxy"] = .string(proxy) }
        do {
            if let input = try command.inputForAgent() { params["input"] = .string(input) }
            let result = try await AgentClient.call(socketPath: socket, method: "cli.run", params: .object(params))
            guard let status = result["exit_code"]?.int else { throw AgentError.protocolError("no exit_code") }
            if let out = result["stdout"]?.string { FileHandle.standardOutput.write(Data(out.utf8)) }
            if let err = result["stderr"]?.string { FileHandle.standardError.write(Data(err.utf8)) }
            return Int32(clamping: status)
        } catch AgentError.notRunning {
            // A socket left by an agent that is gone.
            return nil
        } catch {
            // Not run again here: the agent may have done part of it (a message sent).
            let line: TerminalLine = "Error: \(String(describing: error))"
            FileHandle.standardError.write(Data((line.text + "\n").utf8))
            return 1
        }
    }

    /// The `cli.run` method: runs a forwardable command line on the agent's account and returns
    /// what it printed and its exit status.
    static func register(on server: AgentServer) {
        let account = server.account
        server.register("cli.run") { params, _ in
            guard case .array(let values)? = params?["args"] else { throw AgentMethodError.invalid("params.args must be an array of strings") }
            let arguments = values.compactMap(\.string)
            guard arguments.count == values.count else { throw AgentMethodError.invalid("params.args must be an array of strings") }
            let command: ParsableCommand
            do { command = try CaucusCommand.parseAsRoot(arguments) } catch {
                return .object(["stdout": "", "stderr": .string(CaucusCommand.fullMessage(for: error) + "\n"),
                                "exit_code": .int(Int(CaucusCommand.exitCode(for: error).rawValue))])
            }
            guard command is AgentForwardable else {
                throw AgentMethodError.invalid("`caucus \(arguments.first ?? "")` does not run in the agent; run it with CAUCUS_NO_AGENT=1")
            }
            // A proxy the command's own environment set holds for the agent from now on.
            if let proxy = params?["proxy"]?.string { try await account.setProxyForAll(proxy) }
            let parsed = ParsedCommand(command: command)
            let output = CommandOutput(input: params?["input"]?.string)
            let status = await CommandOutput.$captured.withValue(output) {
                await AgentContext.$account.withValue(account) { await CaucusCommand.runParsed(parsed) }
            }
            return .object(["stdout": .string(output.out), "stderr": .string(output.err), "exit_code": .int(Int(status))])
        }
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep your identity unlocked in a background agent, for fast commands and for bots (JSON-RPC).",
        discussion: """
            `caucus agent start` asks for the passphrase once and leaves an agent running that holds the unlocked \
            identity (never the passphrase). While it runs, `send`, `read`, `history`, `sync`, `whoami`, \
            `group list`, `group members`, `invite create|list|withdraw`, `campaign list`, `card status`, \
            `contacts`, `verify` and `expire` go through it without asking. It locks after --idle-lock without use \
            (default 15m), or at once with `caucus lock`. Bots speak JSON-RPC 2.0 to its socket (see the README).
            """,
        subcommands: [Start.self, Serve.self, Status.self])

    /// `--idle-lock`: 15m by default; 0 or never for an agent that stays unlocked until `caucus lock`.
    static func idleLock(_ text: String) throws -> Duration? {
        if text == "0" || text == "never" { return nil }
        return .seconds(Int(try parseDuration(text, what: "--idle-lock")))
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unlock the identity into a background agent.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Option(name: .long, help: ArgumentHelp("Lock after this long without use: 30m, 1h, or 0 for never.", valueName: "duration"))
        var idleLock = "15m"

        func run() async throws {
            _ = try AgentCommand.idleLock(idleLock)
            let home = global.clientHome
            let socket = AgentSocket.path(for: home)
            if let status = try await Status.status(socket) {
                if output.json {
                    printJSON(["pid": status["pid"]?.int.map { $0 as Any } ?? NSNull(), "socket": socket, "already_running": true])
                } else {
                    say("An agent already runs for \(home.path) (\(socket)); `caucus lock` locks it.")
                }
                return
            }
            let passphrase = try await global.currentPassphrase()
            var command = ["agent", "serve", "--home", URL(fileURLWithPath: home.path).standardizedFileURL.path,
                             "--idle-lock", idleLock, "--passphrase-stdin"]
            if let caFile = global.caFile { command += ["--ca-file", URL(fileURLWithPath: caFile).standardizedFileURL.path] }
            if let proxy = global.proxyForAll { command += ["--proxy", proxy] }
            let arguments = command
            let (answer, pid) = try await offCooperativePool { () throws(AgentError) -> (String, pid_t) in
                try BackgroundAgent.spawn(arguments: arguments, passphrase: passphrase)
            }
            guard answer == "ready" else { throw AgentError.socket("the agent did not start: \(answer)") }
            if output.json {
                printJSON(["pid": Int(pid), "socket": socket, "idle_lock": idleLock])
                return
            }
            let lock = idleLock == "0" || idleLock == "never" ? "until `caucus lock`" : "until \(idleLock) without use, or `caucus lock`"
            say("Agent started for \(home.path) (process \(Int(pid))); it stays unlocked \(lock).")
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent in the foreground (for a service manager; `start` runs this in the background).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: ArgumentHelp("Lock after this long without use: 30m, 1h, or 0 for never.", valueName: "duration"))
        var idleLock = "15m"
        @Flag(name: .long, help: "Read the passphrase from standard input, all of it to its end.") var passphraseStdin = false

        func run() async throws {
            let idle = try AgentCommand.idleLock(idleLock)
            let account: Account
            if passphraseStdin {
                let passphrase = await offCooperativePool {
                    Passphrase(String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self))
                }
                account = try await global.open(with: passphrase)
            } else {
                account = try await global.open()
            }
            let server = AgentServer(account: account, socketPath: AgentSocket.path(for: global.clientHome), idleLock: idle)
            AgentForwarding.register(on: server)
            let signals = BackgroundAgent.lockOnSignals(server)
            defer { signals.forEach { $0.cancel() } }
            try await server.run {
                // `start` waits for this line, then stops reading; nothing more goes to that pipe.
                FileHandle.standardOutput.write(Data("ready\n".utf8))
                let null = open("/dev/null", O_WRONLY)
                if null >= 0 {
                    dup2(null, 1)
                    close(null)
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether an agent runs for the identity.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let socket = AgentSocket.path(for: global.clientHome)
            let status = try await Self.status(socket)
            let running = status != nil
            if output.json {
                printJSON(["running": running, "socket": socket, "pid": status?["pid"]?.int ?? NSNull()])
            } else {
                say(running ? "An agent runs for \(global.clientHome.path) on \(socket)." : "No agent runs for \(global.clientHome.path).")
            }
            if !running { throw ExitCode(3) }
        }

        /// The agent's `status`, or nil when none answers.
        static func status(_ socket: String) async throws -> JSONValue? {
            do {
                return try await AgentClient.call(socketPath: socket, method: "status", timeout: .seconds(10))
            } catch {
                guard case .notRunning = error else { throw error }
                return nil
            }
        }
    }
}

struct Lock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lock the identity now: stop its agent.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let socket = AgentSocket.path(for: global.clientHome)
        do {
            _ = try await AgentClient.call(socketPath: socket, method: "lock", timeout: .seconds(30))
            say("Locked: the agent for \(global.clientHome.path) stopped.")
        } catch .notRunning {
            say("No agent runs for \(global.clientHome.path); nothing to lock.")
        }
    }
}

/// Starting the agent in a session of its own, and stopping it on a signal.
enum BackgroundAgent {
    /// glibc's POSIX_SPAWN_SETSID (since 2.26), which Swift does not import.
    static let spawnNewSession: Int32 = 0x80

    /// Spawns this program with `arguments` in a new session, writes the passphrase to its
    /// standard input (which it reads to its end) and returns the first line it prints ("ready",
    /// or why it failed). The child's environment holds no passphrase.
    static func spawn(arguments: [String], passphrase: Passphrase) throws(AgentError) -> (String, pid_t) {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0 else { throw AgentError.socket("pipe(): \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for fd in [input[0], input[1], output[0], output[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | spawnNewSession))
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let environment = ProcessInfo.processInfo.environment.filter { !["CAUCUS_PASSPHRASE", "CAUCUS_NEW_PASSPHRASE"].contains($0.key) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(input[0])
        close(output[1])
        defer { close(output[0]) }
        guard spawned == 0 else {
            close(input[1])
            throw AgentError.socket("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        _ = passphrase.bytes.withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
        close(input[1])
        // The agent answers once it listens; unlocking takes about a second, so a minute is plenty.
        var line: [UInt8] = []
        var poller = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            guard poll(&poller, 1, Int32(left.components.seconds * 1000 + 1)) > 0 else { continue }
            var byte: UInt8 = 0
            guard read(output[0], &byte, 1) == 1 else { break }
            if byte == UInt8(ascii: "\n") { return (String(decoding: line, as: UTF8.self), pid) }
            line.append(byte)
        }
        // It never said it was ready: it failed to unlock or to listen (it wrote nothing), or hangs.
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (line.isEmpty ? "it exited before listening (see `caucus agent serve` run in the foreground)" : String(decoding: line, as: UTF8.self), pid)
    }

    /// Locks the agent on SIGTERM, SIGINT and SIGHUP.
    static func lockOnSignals(_ server: AgentServer) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.lock() }
            source.resume()
            return source
        }
    }
}
