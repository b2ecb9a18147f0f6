import CaucusCrypto
import CaucusRelayClient
import CaucusTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `caucus-relay` as an operator starts it: settings no relay can run with are refused at start,
/// naming the option, before anything is created; the help text reads as written.
@Suite("Relay: the command line", .timeLimit(.minutes(10)))
struct RelayCommandLineTests {
    @Test("Impossible settings are refused at start, naming the option, and create nothing")
    func impossibleSettings() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let data = directory.path + "/data"
        let cases: [([String], String)] = [
            (["--port", "70000"], "--port must be 0 to 65535"),
            (["--metrics-port", "70000"], "--metrics-port must be 0 to 65535"),
            (["--port", "8080", "--metrics-port", "8080"], "--metrics-port must differ from --port"),
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
            try await expectRefused(["--data-dir", data] + arguments, saying: expected)
            #expect(!FileManager.default.fileExists(atPath: data), "\(arguments) created the data directory")
        }
    }

    @Test("A port in use is named, with what to do, and nothing is created")
    func portInUse() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let held = try HeldLoopbackPort()
        defer { held.release() }
        let data = directory.path + "/data"
        try await expectRefused(["--port", "\(held.port)", "--data-dir", data],
                                saying: "cannot listen on 127.0.0.1:\(held.port): port \(held.port) is in use")
        #expect(!FileManager.default.fileExists(atPath: data), "the data directory was made")
    }

    @Test("A data directory that cannot be made, and TLS files that cannot be used, are named with the reason")
    func unusableFiles() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let plainFile = directory.file("not-a-directory")
        _ = FileManager.default.createFile(atPath: plainFile, contents: Data("x".utf8))
        let junk = directory.file("junk.pem")
        _ = FileManager.default.createFile(atPath: junk, contents: Data("not a certificate\n".utf8))
        let (certificate, _) = try TestCertificate.make(in: directory)
        let missing = directory.file("missing.pem")
        let data = directory.file("data")
        let cases: [([String], String)] = [
            (["--data-dir", plainFile + "/sub"], "cannot make the data directory \(plainFile)/sub: Not a directory"),
            (["--data-dir", data, "--tls-cert", missing, "--tls-key", junk],
             "cannot read the TLS certificate file \(missing): No such file or directory"),
            (["--data-dir", data, "--tls-cert", junk, "--tls-key", junk], "the TLS certificate file \(junk) holds no PEM certificate"),
            (["--data-dir", data, "--tls-cert", certificate, "--tls-key", junk], "the TLS key file \(junk) holds no PEM private key"),
        ]
        for (arguments, expected) in cases {
            try await expectRefused(["--port", "0"] + arguments, saying: expected)
        }
        #expect(!FileManager.default.fileExists(atPath: data), "the data directory was made")
    }

    @Test("A new store is made readable by its owner only, in a directory only its owner can enter")
    func storeIsPrivate() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        let relay = try await RelayProcess.start(dataDirectory: data)
        // A login writes (the device's row), so the log and shared-memory files exist.
        let client = try await RelayClient.connect(url: relay.url, deviceKey: Ed25519.PrivateKey(), timeout: processConnectTimeout)
        try await client.send(Data("x".utf8), to: [Data(Ed25519.PrivateKey().publicKey.rawRepresentation)])
        await client.close()
        func mode(_ path: String) throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) & 0o777
        }
        #expect(try mode(data) == 0o700)
        for name in ["relay.sqlite", "relay.sqlite-wal", "relay.sqlite-shm"] {
            #expect(try mode(data + "/" + name) == 0o600, "\(name)")
        }
        _ = try await relay.terminate()
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

    @Test("A configuration file sets what its lines name; the command line and the environment win over it")
    func configurationFile() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let config = directory.file("relay.conf")
        try """
            # A relay for one warehouse.
            port = 1
            metrics-port = 0

            mailbox-messages = 2
              log-level = "warning"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // --port 0 on the command line wins over the file's port 1 (which needs privileges).
        let relay = try await RelayProcess.start(dataDirectory: directory.file("data"), extra: ["--config", config],
                                                 expectsMetrics: true)
        let metricsPort = try #require(relay.metricsPort)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(metricsPort)/metrics")!)
        #expect(String(decoding: data, as: UTF8.self).contains("caucus_relay_connections"))
        // The file's mailbox limit holds.
        let client = try await RelayClient.connect(url: relay.url, deviceKey: Ed25519.PrivateKey(), timeout: processConnectTimeout)
        let bob = Data(Ed25519.PrivateKey().publicKey.rawRepresentation)
        for _ in 0..<2 { try await client.send(Data("x".utf8), to: [bob]) }
        let full = await relayError { try await client.send(Data("x".utf8), to: [bob]) }
        #expect(full?.code == .mailboxFull)
        await client.close()
        _ = try await relay.terminate()

        // The environment wins over the file: a valid file, an impossible variable.
        var environment = ProcessInfo.processInfo.environment
        environment["CAUCUS_RELAY_MAILBOX_MESSAGES"] = "0"
        try await expectRefused(["--port", "0", "--config", config], environment: environment,
                                saying: "--mailbox-messages must be at least 1")
    }

    @Test("A configuration file with a line the relay cannot use is refused, naming the file, the line and the setting")
    func configurationFileErrors() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let config = directory.file("relay.conf")
        let cases: [(String, String)] = [
            ("port = 0\nprot = 8080\n", "\(config), line 2: unknown setting \"prot\""),
            ("port 8080\n", "\(config), line 1: expected name = value"),
            ("port = 0\nport = 1\n", "\(config), line 2: port is set twice"),
            ("port = eighty\n", "\(config): port = eighty is not a valid value"),
            ("log-level = \"info\n", "\(config), line 1: log-level: the quoted value has no closing quote"),
            ("data-dir =\n", "\(config), line 1: data-dir has no value"),
        ]
        for (text, expected) in cases {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            try await expectRefused(["--config", config, "--data-dir", directory.file("data")], saying: expected)
        }
        try await expectRefused(["--config", directory.file("missing.conf")],
                                saying: "\(directory.file("missing.conf")): cannot read the configuration file: No such file or directory")
        #expect(!FileManager.default.fileExists(atPath: directory.file("data")), "the data directory was made")
    }

    @Test("Every option --help lists can be set in a configuration file, under the same name")
    func everyOptionInAFile() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let help = try await ChildProcess.run(RelayProcess.executable, ["--experimental-dump-help"],
                                              environment: ProcessInfo.processInfo.environment)
        struct Dump: Decodable {
            struct Command: Decodable { let arguments: [Argument] }
            struct Argument: Decodable { let names: [Name]? }
            struct Name: Decodable { let kind: String, name: String }
            let command: Command
        }
        let names = try JSONDecoder().decode(Dump.self, from: Data(help.stdout.utf8)).command.arguments
            .flatMap { $0.names ?? [] }.filter { $0.kind == "long" }.map(\.name)
            .filter { !["config", "help", "version"].contains($0) }
        #expect(names.count >= 20, "\(names)")
        let (certificate, key) = try TestCertificate.make(in: directory)
        let values: [String: String] = [
            "host": "127.0.0.1", "port": "0", "metrics-host": "127.0.0.1", "metrics-port": "0", "data-dir": directory.file("data"),
            // A PostgreSQL server that is not there: the relay reads the whole file, then fails to
            // reach it, which shows that no name was refused.
            "store": "postgres://caucus@127.0.0.1:1/caucus?sslmode=disable", "store-connections": "2",
            "store-connect-timeout": "1", "delivery-catch-up-seconds": "2", "public-address": "ws://127.0.0.1:1",
            "tls-cert": certificate, "tls-key": key, "max-frame-bytes": "1048576", "max-payload-bytes": "524288",
            "mailbox-messages": "10", "max-blob-bytes": "1000", "blob-quota-bytes": "10000", "ttl-days": "1",
            "rate-limit": "10", "rate-burst": "10", "max-connections": "10", "log-level": "info", "log-format": "text",
        ]
        var text = ""
        for name in names {
            let value = try #require(values[name], "the test has no value for --\(name)")
            text += "\(name) = \(value)\n"
        }
        let config = directory.file("relay.conf")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try await ChildProcess.run(RelayProcess.executable, ["--config", config],
                                                 environment: ProcessInfo.processInfo.environment)
        #expect(outcome.status != 0)
        #expect(!outcome.stderr.contains("unknown setting"), "\(outcome)")
        #expect(outcome.stderr.lowercased().contains("postgres"), "\(outcome)")
    }

    /// Runs the relay on 127.0.0.1 with `arguments` and expects it to stop at once with `expected`
    /// in its error.
    private func expectRefused(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                               saying expected: String) async throws {
        let outcome = try await ChildProcess.run(RelayProcess.executable, ["--host", "127.0.0.1"] + arguments,
                                                 environment: environment)
        #expect(outcome.status != 0, "\(arguments): \(outcome)")
        #expect(outcome.stderr.contains(expected), "\(arguments): \(outcome)")
    }
}
