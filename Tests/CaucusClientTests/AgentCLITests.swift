import CaucusAgent
import CaucusLock
import CaucusTestSupport
import Foundation
import Testing

/// Issue 17 part 2: `caucus agent` keeps the identity unlocked in a process of its own; commands
/// and bots (JSON-RPC 2.0 over its Unix socket) use it without the passphrase; it locks on
/// `caucus lock` and after its idle time, and never holds the passphrase.
@Suite("caucus agent: unlocked once, used by commands and bots, locked again", .timeLimit(.minutes(10)))
struct AgentCLITests {
    /// The worker's environment without the passphrase: with no terminal to ask either, a command
    /// that does not go through the agent fails.
    static func withoutPassphrase(_ worker: CLIWorker) -> [String: String] {
        var environment = CLIWorker.environment()
        environment["CAUCUS_PASSPHRASE"] = nil
        return environment
    }

    static func runWithoutPassphrase(_ worker: CLIWorker, _ arguments: [String]) async throws -> ChildProcess.Outcome {
        try await ChildProcess(try BuiltBinaries.caucus(), arguments + ["--home", worker.home], environment: withoutPassphrase(worker))
            .finish(within: .seconds(60))
    }

    /// Whether two commands printed the same JSON value (whatever the spacing and key order).
    static func sameJSON(_ one: ChildProcess.Outcome, _ other: ChildProcess.Outcome) -> Bool {
        func canonical(_ outcome: ChildProcess.Outcome) -> Data? {
            outcome.json.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        }
        guard let one = canonical(one) else { return false }
        return one == canonical(other)
    }

    /// Starts the worker's agent and returns its socket and process id; the agent is locked (and
    /// killed if it does not stop) when `body` returns.
    static func withAgent(_ worker: CLIWorker, idleLock: String = "0", _ body: (String, pid_t) async throws -> Void) async throws {
        // The agent may lock itself (idle) before a later command could ask it: what `start` says.
        let started = try #require(try await worker.json("agent", "start", "--idle-lock", idleLock) as? [String: Any])
        let socket = try #require(started["socket"] as? String)
        let pid = pid_t(try #require(started["pid"] as? Int))
        defer { kill(pid, SIGKILL) }
        try await body(socket, pid)
        _ = try await worker.run("lock")
    }

    @Test("Commands go through the agent without the passphrase; the agent holds none; `caucus lock` ends it")
    func commandsThroughTheAgent() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            // Without an agent, no passphrase and no terminal: refused.
            let refused = try await Self.runWithoutPassphrase(rosa, ["whoami"])
            #expect(refused.status != 0 && refused.stderr.contains("passphrase"), "\(refused)")

            try await Self.withAgent(rosa) { socket, pid in
                // Only the user can reach the socket.
                let socketMode = try #require(try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int)
                let directoryMode = try #require(try FileManager.default.attributesOfItem(
                    atPath: (socket as NSString).deletingLastPathComponent)[.posixPermissions] as? Int)
                #expect(socketMode & 0o077 == 0 && directoryMode == 0o700, "socket \(String(socketMode, radix: 8)), directory \(String(directoryMode, radix: 8))")
                // The passphrase is in neither its environment nor its command line.
                for file in ["environ", "cmdline"] {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/\(file)"))
                    #expect(bytes.range(of: Data(CLIWorker.passphrase.utf8)) == nil, "the agent's \(file) holds the passphrase")
                }

                let sent = try await Self.runWithoutPassphrase(rosa, ["send", CLIWorker.group, "sent through the agent"])
                #expect(sent.status == 0 && sent.stdout.contains("Sent."), "\(sent)")
                let members = try await Self.runWithoutPassphrase(rosa, ["group", "members", CLIWorker.group, "--json"])
                let names = (members.json as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted()
                #expect(names == ["Rosa", "Tomasz"], "\(members)")
                let history = try await Self.runWithoutPassphrase(rosa, ["history", CLIWorker.group])
                #expect(history.stdout.contains("sent through the agent"), "\(history)")
                // Invites and contacts too.
                let invite = try await Self.runWithoutPassphrase(rosa, ["invite", "create", CLIWorker.group, "--json"])
                let code = try #require((invite.json as? [String: Any])?["code"] as? String, "\(invite)")
                let invites = try await Self.runWithoutPassphrase(rosa, ["invite", "list", "--json"])
                #expect(code.hasPrefix("caucus-invite:"), "\(invite)")
                let listed = (invites.json as? [[String: Any]])?.compactMap { $0["group"] as? String }
                #expect(listed?.contains(CLIWorker.group) == true, "\(invites)")
                let contacts = try await Self.runWithoutPassphrase(rosa, ["contacts", "--json"])
                #expect(contacts.status == 0 && contacts.stdout.contains("Tomasz"), "\(contacts)")
                // A command's error comes back with its exit status.
                let unknown = try await Self.runWithoutPassphrase(rosa, ["send", "Nobody Here", "hello"])
                #expect(unknown.status != 0 && unknown.stderr.contains("Error"), "\(unknown)")
                // A command the agent does not run is run here, and asks for the passphrase.
                let local = try await Self.runWithoutPassphrase(rosa, ["relay", "list"])
                #expect(local.status != 0 && local.stderr.contains("passphrase"), "\(local)")

                let read = try await tomasz.succeed("read")
                #expect(read.stdout.contains("sent through the agent"), "\(read)")
                try await tomasz.succeed("send", CLIWorker.group, "answered")
                let received = try await Self.runWithoutPassphrase(rosa, ["read"])
                #expect(received.status == 0 && received.stdout.contains("answered"), "\(received)")

                let locked = try await Self.runWithoutPassphrase(rosa, ["lock"])
                #expect(locked.stdout.contains("Locked"), "\(locked)")
                try await eventually("the agent to exit", within: .seconds(30)) { kill(pid, 0) != 0 }
                #expect(!FileManager.default.fileExists(atPath: socket), "the socket outlived the agent")
                let after = try await Self.runWithoutPassphrase(rosa, ["whoami"])
                #expect(after.status != 0 && after.stderr.contains("passphrase"), "\(after)")
                let status = try await rosa.run("agent", "status")
                #expect(status.status == 3, "\(status)")
            }
        }
    }

    @Test("An agent locks itself after its idle time")
    func idleLock() async throws {
        try await withRelay { relay, directory in
            let rosa = try await CLIWorker.make("Rosa", in: directory, relay: relay)
            try await Self.withAgent(rosa, idleLock: "2s") { socket, pid in
                try await eventually("the idle agent to lock", within: .seconds(60)) { kill(pid, 0) != 0 }
                #expect(!FileManager.default.fileExists(atPath: socket))
            }
        }
    }

    @Test("A bot in Python: calls, refusals, and a stream of the messages the identity receives")
    func pythonBot() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/caucus-rpc.py").path
            try await Self.withAgent(rosa) { socket, _ in
                func python(_ arguments: String...) async throws -> ChildProcess.Outcome {
                    try await ChildProcess.run("/usr/bin/python3", [script, socket] + arguments, environment: CLIWorker.environment())
                }
                let whoami = try await python("whoami")
                let did = try await rosa.did()
                #expect((whoami.json as? [String: Any])?["did"] as? String == did.description, "\(whoami)")
                let groups = try await python("groups")
                #expect(((groups.json as? [[String: Any]])?.first?["name"] as? String) == CLIWorker.group, "\(groups)")

                // The stream: started before Tomasz writes, it prints his message once it arrives.
                let listener = try ChildProcess("/usr/bin/python3", [script, socket, "--subscribe", "1"], environment: CLIWorker.environment())
                try await eventually("the bot to subscribe", within: .seconds(30)) { listener.stdoutSoFar.contains("subscribed") }
                try await tomasz.succeed("send", CLIWorker.group, "hello bots <b>\u{1B}[31m")
                let heard = try await listener.finish(within: .seconds(60))
                let line = try #require(heard.stdout.split(separator: "\n").last.map(String.init), "\(heard)")
                let message = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(heard)")
                #expect(message["text"] as? String == "hello bots <b>\u{1B}[31m" && message["conversation"] as? String == CLIWorker.group
                        && message["sender"] as? String == "Tomasz", "\(heard)")
                #expect(!line.contains("\u{1B}"), "an escape reached the bot's line unescaped: \(line)")

                let sent = try await python("send", #"{"to": "Warehouse 5", "text": "from a bot"}"#)
                #expect((sent.json as? [String: Any])?["sent"] as? Bool == true, "\(sent)")
                #expect(try await tomasz.succeed("read").stdout.contains("from a bot"))

                // Invites through cli.run, as a bot reaches them.
                let invite = try await python("cli.run", #"{"args": ["invite", "create", "Warehouse 5", "--json"]}"#)
                let run = try #require(invite.json as? [String: Any], "\(invite)")
                #expect(run["exit_code"] as? Int == 0 && (run["stdout"] as? String)?.contains("caucus-invite:") == true, "\(invite)")
                let refusedRun = try await python("cli.run", #"{"args": ["card", "sign", "x"]}"#)
                #expect(refusedRun.status == 1 && refusedRun.stderr.contains("does not run in the agent"), "\(refusedRun)")

                // Refusals: JSON-RPC's own codes, and the account's reason.
                let missing = try await python("send", #"{"text": "no one"}"#)
                #expect(missing.status == 1 && missing.stderr.contains("-32602"), "\(missing)")
                let unknown = try await python("no.such.method")
                #expect(unknown.status == 1 && unknown.stderr.contains("-32601"), "\(unknown)")
                let refused = try await python("send", #"{"to": "Nobody Here", "text": "x"}"#)
                #expect(refused.status == 1 && refused.stderr.contains("-32000"), "\(refused)")
            }
        }
    }

    @Test("A bot makes, lists and withdraws invites, and lists campaigns and its card's status, as the CLI's --json shows them")
    func invitesAndCardsForBots() async throws {
        try await withRelay { relay, directory in
            let rosa = try await CLIWorker.make("Rosa", in: directory, relay: relay)
            try await rosa.succeed("group", "create", CLIWorker.group)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/caucus-rpc.py").path
            try await Self.withAgent(rosa) { socket, _ in
                func python(_ arguments: String...) async throws -> ChildProcess.Outcome {
                    try await ChildProcess.run("/usr/bin/python3", [script, socket] + arguments, environment: CLIWorker.environment())
                }
                let made = try await python("invite.create", #"{"group": "Warehouse 5", "expires_seconds": 3600}"#)
                let invite = try #require(made.json as? [String: Any], "\(made)")
                let id = try #require(invite["id"] as? String, "\(made)")
                #expect((invite["code"] as? String)?.hasPrefix("caucus-invite:") == true && invite["expires_in_seconds"] as? Int == 3600, "\(made)")
                let listed = try await python("invites")
                let cliListed = try await Self.runWithoutPassphrase(rosa, ["invite", "list", "--json"])
                #expect(Self.sameJSON(listed, cliListed), "\(listed)\n\(cliListed)")
                #expect((listed.json as? [[String: Any]])?.first { $0["id"] as? String == id }?["used"] as? Bool == false, "\(listed)")
                let withdrawn = try await python("invite.withdraw", "{\"id\": \"\(id)\"}")
                #expect((withdrawn.json as? [String: Any])?["withdrawn"] as? Bool == true, "\(withdrawn)")
                let again = try await python("invite.withdraw", "{\"id\": \"\(id)\"}")
                #expect(again.status == 1 && again.stderr.contains("-32000"), "\(again)")
                let zero = try await python("invite.create", #"{"group": "Warehouse 5", "expires_seconds": 0}"#)
                #expect(zero.status == 1 && zero.stderr.contains("-32602"), "\(zero)")

                // A campaign, and a card Rosa signs: the bot sees both as `campaign list` and `card status` do.
                let campaign = try await CardCLITests.campaign(by: rosa, unitSize: 3, in: directory)
                try await rosa.succeed("card", "sign", campaign, "--name", "Rosa Diaz", "--contact", "rosa@example.org",
                                       "--phone", "555 0101", "--yes")
                let campaigns = try await python("campaigns", #"{"sync": true}"#)
                let cliCampaigns = try await Self.runWithoutPassphrase(rosa, ["campaign", "list", "--json"])
                #expect((campaigns.json as? [[String: Any]])?.map { $0["id"] as? String } == [campaign], "\(campaigns)")
                #expect(Self.sameJSON(campaigns, cliCampaigns), "\(campaigns)\n\(cliCampaigns)")
                let status = try await python("card.status", "{\"campaign\": \"\(campaign)\"}")
                let items = try #require(status.json as? [[String: Any]], "\(status)")
                #expect(items.count == 1 && items.first?["kind"] as? String == "card" && items.first?["name"] as? String == "Rosa Diaz", "\(status)")
                let cliStatus = try await Self.runWithoutPassphrase(rosa, ["card", "status", campaign, "--json"])
                #expect(Self.sameJSON(status, cliStatus), "\(status)\n\(cliStatus)")
                let unknown = try await python("card.status", #"{"campaign": "no-such-campaign"}"#)
                #expect(unknown.status == 1 && unknown.stderr.contains("-32000"), "\(unknown)")
            }
        }
    }

    @Test("The socket's framing: a line that is not JSON, not JSON-RPC, or too long gets an error; the agent goes on")
    func malformedLines() async throws {
        try await withRelay { relay, directory in
            let rosa = try await CLIWorker.make("Rosa", in: directory, relay: relay)
            try await Self.withAgent(rosa) { socket, _ in
                let answers = try await Self.exchange(socket, lines: ["not json", #"{"id": 1, "method": "status"}"#,
                                                                     #"{"jsonrpc": "2.0", "id": [1], "method": "status"}"#])
                #expect(answers.count == 3, "\(answers)")
                #expect(answers[0].contains("-32700") && answers[1].contains("-32600") && answers[2].contains("-32600"), "\(answers)")
                let long = try await Self.exchange(socket, lines: [String(repeating: "x", count: AgentServer.maxLineBytes + 10)])
                #expect(long.first?.contains("-32600") == true, "\(long)")
                // Still answering.
                #expect(try await AgentClient.isRunning(socketPath: socket))
            }
        }
    }

    @Test("The socket's directory must be the user's own and private; one that others may read is refused")
    func sharedDirectoryRefused() throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let shared = directory.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        chmod(shared, 0o777)
        #expect(throws: AgentError.self) { try AgentSocket.prepareDirectory(of: shared + "/agent.sock") }
        let link = directory.file("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.path)
        #expect(throws: AgentError.self) { try AgentSocket.prepareDirectory(of: link + "/agent.sock") }
        let fresh = directory.file("fresh")
        try AgentSocket.prepareDirectory(of: fresh + "/agent.sock")
        #expect(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int == 0o700)
    }

    @Test("JSON lines for bots escape what a terminal would act on")
    func jsonLinesEscapeHiddenScalars() {
        let line = JSONValue.object(["text": .string("a\u{1B}[31m\u{202E}b\nc")]).line()
        #expect(!line.contains("\u{1B}") && !line.contains("\u{202E}") && !line.contains("\n"), "\(line)")
        #expect(JSONValue.parse(Data(line.utf8)) == .object(["text": .string("a\u{1B}[31m\u{202E}b\nc")]), "\(line)")
    }

    /// Writes `lines` to the socket and reads one answer per line (off the cooperative pool).
    static func exchange(_ socket: String, lines: [String]) async throws -> [String] {
        try await offCooperativePool { () throws -> [String] in
            let handle = try UnixSocket(path: socket)
            defer { handle.close() }
            var answers: [String] = []
            for line in lines {
                try handle.write(line + "\n")
                answers.append(try handle.readLine())
            }
            return answers
        }
    }
}

/// A blocking client of a Unix stream socket, for lines the agent's own client would never send.
struct UnixSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        var bound = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        try #require(connected == 0, "connect to \(path): \(String(cString: strerror(errno)))")
    }

    func write(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The agent closes a connection that sent too long a line: what it answered first still comes.
            if count <= 0 { return }
            sent += count
        }
    }

    func readLine() throws -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
