@testable import CaucusClient
import CaucusRelayClient
import Foundation
import Testing

/// Workers behind a SOCKS5 proxy (issue 21, part 1), through the built `caucus` binary and a real
/// SOCKS5 server from Debian (microsocks): every connection goes through the proxy, shown by
/// strace's record of every connect() the processes made; with the proxy down, caucus fails with
/// a clear error and connects nowhere.
@Suite("Relays through a SOCKS5 proxy, in the caucus command", .timeLimit(.minutes(10)))
struct ProxyCLITests {
    /// Runs `caucus ARGUMENTS --home HOME` under strace, to the end; its outcome and every TCP
    /// destination it tried.
    static func traced(_ worker: CLIWorker, _ arguments: [String], environment extra: [String: String] = [:],
                       in directory: TempDirectory) async throws -> (outcome: ChildProcess.Outcome, destinations: [String]) {
        let (process, trace) = try startTraced(worker, arguments, environment: extra, in: directory)
        let outcome = try await process.finish(within: .seconds(60))
        return (outcome, try trace.destinations())
    }

    /// Starts `caucus ARGUMENTS --home HOME` under strace; read the trace once it has ended.
    static func startTraced(_ worker: CLIWorker, _ arguments: [String], environment extra: [String: String] = [:],
                            in directory: TempDirectory) throws -> (ChildProcess, ConnectTrace) {
        let trace = ConnectTrace(output: directory.file("connect-\(UUID().uuidString).trace"))
        let launcher = try trace.launcher()
        let process = try ChildProcess(launcher[0], Array(launcher.dropFirst()) + [try BuiltBinaries.caucus()] + arguments + ["--home", worker.home],
                                       environment: CLIWorker.environment(extra))
        return (process, trace)
    }

    @Test("A group, a chat, a file and a card all go through the proxy; no process connects anywhere else")
    func everythingThroughTheProxy() async throws {
        try await withRelay { relay, directory in
            let socks = try await SOCKSServer()
            defer { socks.stop() }
            let proxyPort = "127.0.0.1:\(socks.port)"
            // Rosa keeps the proxy with the relay; Tomasz sets CAUCUS_PROXY for everything.
            let rosa = CLIWorker(name: "Rosa", home: directory.file("rosa"))
            try await rosa.succeed("init", "--name", "Rosa", "--kdf", "interactive", "--relay", relay.url, "--proxy", socks.url)
            let listed = try await rosa.succeed("relay", "list")
            #expect(listed.stdout.contains("(through \(socks.url))"), "\(listed)")
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let viaEnvironment = ["CAUCUS_PROXY": socks.url]

            var destinations: [String] = []
            func run(_ worker: CLIWorker, _ arguments: String..., environment: [String: String] = [:]) async throws -> ChildProcess.Outcome {
                let (outcome, tried) = try await Self.traced(worker, arguments, environment: environment, in: directory)
                try #require(outcome.status == 0, "\(worker.name) \(arguments): \(outcome)")
                destinations += tried
                return outcome
            }
            _ = try await run(rosa, "group", "create", CLIWorker.group)
            let invite = try #require(try await run(rosa, "invite", "create", CLIWorker.group, "--json").json as? [String: Any])
            let code = try #require(invite["code"] as? String)
            _ = try await run(tomasz, "relay", "add", relay.url, environment: viaEnvironment)
            let (joining, joinTrace) = try Self.startTraced(tomasz, ["join", code, "--wait", "30", "--json"], environment: viaEnvironment,
                                                            in: directory)
            try await eventually("Tomasz's join to be answered", within: .seconds(60)) {
                _ = try await run(rosa, "sync")
                return !joining.isRunning
            }
            let joined = try await joining.finish(within: .seconds(5))
            #expect((joined.json as? [String: Any])?["joined"] as? Bool == true, "\(joined)")
            destinations += try joinTrace.destinations()
            _ = try await run(rosa, "send", CLIWorker.group, "Meeting Thursday at the library")
            let read = try await run(tomasz, "read", environment: viaEnvironment)
            #expect(read.stdout.contains("Meeting Thursday at the library"), "\(read)")

            let leaflet = directory.file("leaflet.pdf")
            try Data((0..<50_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: leaflet))
            _ = try await run(rosa, "file", "send", CLIWorker.group, leaflet)
            let withFile = try await run(tomasz, "read", environment: viaEnvironment)
            let fileLine = try #require(withFile.stdout.split(separator: "\n").first { $0.contains("caucus file get ") }, "\(withFile)")
            let downloads = directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            _ = try await run(tomasz, "file", "get", String(try #require(fileLine.split(separator: " ").last)), "-o", downloads,
                              environment: viaEnvironment)
            #expect(FileManager.default.contentsEqual(atPath: leaflet, andPath: downloads + "/leaflet.pdf"))

            let languageFile = directory.file("card.txt")
            try (CardCLITests.language + "\n").write(toFile: languageFile, atomically: true, encoding: .utf8)
            let created = try #require(try await run(
                rosa, "campaign", "create", CLIWorker.group, "--union", "Warehouse Workers Union", "--employer", "Acme Logistics",
                "--unit", "All associates at DC 5", "--unit-size", "3", "--language-file", languageFile, "--json").json as? [String: Any])
            let id = try #require(created["id"] as? String)
            _ = try await run(tomasz, "campaign", "list", "--sync", environment: viaEnvironment)
            _ = try await run(tomasz, "card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org",
                              "--phone", "555 0102", "--yes", environment: viaEnvironment)
            _ = try await run(rosa, "sync")
            let tally = try #require(try await run(rosa, "cards", "tally", id, "--json").json as? [String: Any])
            #expect(tally["valid"] as? Int == 1, "\(tally)")

            // Every TCP connection any of these processes tried went to the proxy; none to the relay.
            #expect(!destinations.isEmpty)
            let elsewhere = destinations.filter { $0 != proxyPort }
            #expect(elsewhere.isEmpty, "connections not through the proxy: \(elsewhere)")
        }
    }

    @Test("With the proxy down, caucus says so and connects nowhere: no direct connection to the relay")
    func proxyDownFailsClosed() async throws {
        try await withRelay { relay, directory in
            let rosa = try await CLIWorker.make("Rosa", in: directory, relay: relay)
            try await rosa.succeed("group", "create", CLIWorker.group)
            let deadPort = try freeLoopbackPort()
            let before = relay.authentications
            let (outcome, tried) = try await Self.traced(
                rosa, ["sync"],
                environment: ["CAUCUS_PROXY": "socks5h://127.0.0.1:\(deadPort)"], in: directory)
            #expect(outcome.status != 0 && outcome.stderr.contains("no connection through the proxy socks5h://127.0.0.1:\(deadPort)"),
                    "\(outcome)")
            #expect(outcome.stderr.contains("caucus never connects directly while a proxy is set"), "\(outcome)")
            #expect(Set(tried) == ["127.0.0.1:\(deadPort)"], "\(tried)")
            #expect(relay.authentications == before)
            // A proxy address caucus cannot read is refused as such, not ignored.
            let unreadable = try await rosa.run(["sync"], environment: ["CAUCUS_PROXY": "tor://127.0.0.1:9050"])
            #expect(unreadable.status != 0 && unreadable.stderr.contains("it must start with socks5h://"), "\(unreadable)")
            #expect(relay.authentications == before)
        }
    }

    @Test("Through the agent: a proxy a command's environment names holds from then on, even over a connection opened before")
    func agentTakesTheProxy() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let socks = try await SOCKSServer()
            defer { socks.stop() }
            let deadProxy = "socks5h://127.0.0.1:\(try freeLoopbackPort())"
            try await AgentCLITests.withAgent(rosa) { _, _ in
                // A first command opens the agent's connection to the relay directly.
                try await rosa.succeed("sync")
                let before = relay.authentications
                // The next names a proxy that is down: the open direct connection is not used.
                let refused = try await rosa.run(["sync"], environment: ["CAUCUS_PROXY": deadProxy])
                #expect(refused.status != 0 && refused.stderr.contains("no connection through the proxy \(deadProxy)"), "\(refused)")
                // A command that names none finds the agent still bound to it.
                let still = try await rosa.run(["sync"])
                #expect(still.status != 0 && still.stderr.contains("no connection through the proxy \(deadProxy)"), "\(still)")
                #expect(relay.authentications == before)
                // A working proxy: the relay is reached again, through it.
                try await rosa.succeed("sync", "--proxy", socks.url)
                #expect(relay.authentications > before)
            }
        }
    }

    @Test("Proxy addresses: socks5h:// (or socks5://) HOST:PORT, IPv6 in brackets; anything else refused")
    func proxyAddresses() throws {
        #expect(try SOCKSProxy(parsing: "socks5h://127.0.0.1:9050") == SOCKSProxy(host: "127.0.0.1", port: 9050))
        #expect(try SOCKSProxy(parsing: "SOCKS5://localhost:1080").description == "socks5h://localhost:1080")
        #expect(try SOCKSProxy(parsing: "socks5h://[::1]:9050").description == "socks5h://[::1]:9050")
        for bad in ["127.0.0.1:9050", "http://127.0.0.1:8080", "socks5h://127.0.0.1", "socks5h://:9050",
                    "socks5h://user:pw@127.0.0.1:9050", "socks5h://127.0.0.1:9050/x", "socks5h://127.0.0.1:70000"] {
            #expect(throws: SOCKSProxyError.self, "\(bad)") { try SOCKSProxy(parsing: bad) }
        }
    }
}
