// Load generator for scripts/bench-relay: starts a relay in this process (127.0.0.1, port 0,
// SQLite in a temporary directory with synchronous=FULL), drives it with clients over real
// WebSockets, and prints delivered messages per second with p50/p99 latency, resident memory
// per idle connection, the time to fan one group message out to 10,000 devices, and the CPU a
// commit of the SQLite store costs its thread per message.
import ArgumentParser
import CaucusProtocol
import CaucusRelayPostgres
import Foundation
import Logging

struct BenchRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caucus-bench-relay",
        abstract: "Benchmarks the Caucus relay end to end: throughput and latency, memory per idle connection, group fan-out, the store's commit cost.",
        discussion: """
            The relay and all clients run in this one process, talking over real WebSockets on \
            127.0.0.1; the store is a real SQLite file (WAL, synchronous=FULL) in a fresh temporary \
            directory, one per part, removed afterwards. Latency is measured with one shared clock: \
            the first 8 payload bytes carry the send time. With --relay-process the throughput \
            part's relay is the caucus-relay daemon in its own process instead; an open-loop run \
            (--rate) against it is then driven by the lean generator (see --generator), and the \
            report adds both processes' CPU over the window.
            """,
        version: CaucusRelease.versionLine("caucus-bench-relay"))

    @Flag(help: "Small sizes for a smoke run (under a minute): not a measurement.")
    var quick = false

    @Flag(help: "Print the figures as JSON instead of a table.")
    var json = false

    @Option(help: "Measured seconds per throughput run, after the warm-up. (default: 10; 2 with --quick)")
    var duration: Double?

    @Option(help: "Warm-up seconds before each throughput run's measurement, not counted. (default: 2; 0.5 with --quick)")
    var warmup: Double?

    @Option(help: "Measure this many messages (all senders together) per throughput run instead of a duration.")
    var messages: Int?

    @Option(parsing: .upToNextOption,
            help: "Total connections of each throughput run, half senders and half receivers: --connections 100 1000 or 100,1000. (default: 100 1000; 20 100 with --quick)")
    var connections: [String] = []

    @Option(help: "Sends each sender keeps in flight.")
    var inFlight = 8

    @Option(help: "Open loop: messages per second offered by all senders together, each sender at fixed intervals without waiting for replies; latency counts from each message's planned send time. (default: closed loop, --in-flight per sender)")
    var rate: Double?

    @Flag(help: "Run the throughput part's SQLite relay as the caucus-relay daemon built next to this program, in its own process, instead of in this one.")
    var relayProcess = false

    @Option(help: "What drives an open-loop run (--rate) against --relay-process: lean (one epoll thread with its own small WebSocket client; a fraction of the relay's CPU per message) or relay-client (async RelayClients, about as costly per message as the relay). Other runs always use relay-client. (default: lean with --rate and --relay-process)")
    var generator: LoadGenerator?

    @Option(help: "Deliveries a receiver acknowledges per Ack request.")
    var ackBatch = 32

    @Option(help: "Payload bytes per message, at least 9 (send time and a flag come first).")
    var payloadBytes = 1024

    @Option(help: "Idle authenticated connections opened for the memory figure. (default: 1000; 200 with --quick)")
    var idleConnections: Int?

    @Option(help: "Devices routed for the group (the sender is one of them). (default: 10000, also with --quick)")
    var groupSize: Int?

    @Option(help: "Group devices connected for the push timing; the others stay offline. (default: 1000; 100 with --quick)")
    var groupConnected: Int?

    @Option(help: "Parent of the temporary directory holding the SQLite files. (default: the system temporary directory)")
    var directory: String?

    @Option(help: "A PostgreSQL server (postgres://user:password@host:port/database, a user that may create databases): the throughput part then also runs one relay and two relay instances on a fresh database there, beside the SQLite relay. scripts/bench-relay --postgres starts one. [CAUCUS_BENCH_POSTGRES_URL]")
    var postgres: String?

    @Option(parsing: .upToNextOption, help: "Parts to run: throughput, memory, group, store. (default: all)")
    var only: [String] = []

    var connectionCounts: [Int] {
        let given = connections.flatMap { $0.split(separator: ",") }.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return connections.isEmpty ? (quick ? [20, 100] : [100, 1_000]) : given
    }

    var parts: Set<String> {
        only.isEmpty ? ["throughput", "memory", "group", "store"] : Set(only.flatMap { $0.split(separator: ",").map(String.init) })
    }

    var measuredSeconds: Double? { messages == nil ? (duration ?? (quick ? 2 : 10)) : nil }
    var warmupSeconds: Double { warmup ?? (quick ? 0.5 : 2) }
    var idleCount: Int { idleConnections ?? (quick ? 200 : 1_000) }
    var groupDevices: Int { groupSize ?? 10_000 }
    var groupLive: Int { groupConnected ?? (quick ? 100 : 1_000) }
    var loadGenerator: LoadGenerator { generator ?? (rate != nil && relayProcess ? .lean : .relayClient) }

    func validate() throws {
        let given = connections.flatMap { $0.split(separator: ",") }
        guard given.allSatisfy({ Int($0.trimmingCharacters(in: .whitespaces)) != nil }) else {
            throw ValidationError("--connections takes whole numbers, e.g. --connections 100 1000")
        }
        guard connectionCounts.allSatisfy({ $0 >= 2 && $0 % 2 == 0 }) else {
            throw ValidationError("each --connections value must be even and at least 2 (half senders, half receivers)")
        }
        guard parts.isSubset(of: ["throughput", "memory", "group", "store"]) else {
            throw ValidationError("--only takes throughput, memory, group and/or store")
        }
        if let duration { guard duration > 0 else { throw ValidationError("--duration must be positive") } }
        if let warmup { guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") } }
        if let messages { guard messages > 0 else { throw ValidationError("--messages must be positive") } }
        guard duration == nil || messages == nil else { throw ValidationError("give --duration or --messages, not both") }
        guard inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
        if let rate { guard rate > 0 else { throw ValidationError("--rate must be positive") } }
        if generator == .lean {
            guard rate != nil, relayProcess else { throw ValidationError("--generator lean needs --rate and --relay-process") }
        }
        guard (1...1_000).contains(ackBatch) else { throw ValidationError("--ack-batch must be 1 to 1000") }
        guard (9...(512 << 10)).contains(payloadBytes) else { throw ValidationError("--payload-bytes must be 9 to 524288") }
        guard idleCount >= 1 else { throw ValidationError("--idle-connections must be at least 1") }
        guard groupDevices >= 2 else { throw ValidationError("--group-size must be at least 2") }
        guard (1..<groupDevices).contains(groupLive) else {
            throw ValidationError("--group-connected must be 1 to --group-size minus 1 (the sender)")
        }
    }

    /// The PostgreSQL server to compare against, if any.
    func postgresServer() throws -> PostgresStoreURL? {
        guard let text = postgres ?? ProcessInfo.processInfo.environment["CAUCUS_BENCH_POSTGRES_URL"], !text.isEmpty
        else { return nil }
        do { return try PostgresStoreURL(text) } catch { throw ValidationError(error.description) }
    }

    func run() async throws {
        try await benchmark()
    }

    /// The whole run. (Named apart from `run()`, which top-level code would resolve to
    /// ParsableCommand's synchronous default.)
    func benchmark() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let openFiles = raiseOpenFileLimit()
        let needed = 2 * max(connectionCounts.max() ?? 0, idleCount, groupLive + 1) + 256
        if openFiles < needed {
            progress("warning: the open-file limit is \(openFiles); \(needed) descriptors may be needed (ulimit -n)")
        }
        let parent = directory.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        let workDirectory = parent.appendingPathComponent("caucus-bench-relay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workDirectory) }

        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        var report = BenchReport(
            build: build, cores: ProcessInfo.processInfo.activeProcessorCount,
            setup: (relayProcess ? "throughput: caucus-relay in its own process, clients in this one; other parts: " : "")
                + "relay and clients in one process; ws://127.0.0.1 (no TLS); SQLite WAL synchronous=FULL",
            storeDirectory: workDirectory.path, fileSystem: fileSystemName(workDirectory.path))

        let parts = self.parts
        // Memory first: later parts leave freed heap behind that new connections would reuse
        // without growing VmRSS.
        if parts.contains("memory") {
            report.idleMemory = try await runIdleMemory(connections: idleCount, directory: workDirectory)
        }
        if parts.contains("throughput") {
            report.storageBaseline = try runStorageBaseline(payloadBytes: payloadBytes, seconds: quick ? 1 : 3,
                                                            directory: workDirectory)
            let sqlite: BenchStore = relayProcess ? .sqliteProcess : .sqlite
            let stores: [BenchStore] = try postgresServer().map {
                [sqlite, .postgres(url: $0, instances: 1), .postgres(url: $0, instances: 2)]
            } ?? [sqlite]
            for count in connectionCounts {
                let settings = ThroughputSettings(
                    connections: count, warmupSeconds: warmupSeconds, durationSeconds: measuredSeconds,
                    messages: messages, inFlight: inFlight, ackBatch: ackBatch, payloadBytes: payloadBytes, rate: rate,
                    generator: loadGenerator)
                for store in stores {
                    report.throughput.append(try await runThroughput(settings, store: store, directory: workDirectory))
                }
            }
        }
        if parts.contains("group") {
            report.groupFanout = try await runGroupFanout(groupSize: groupDevices, connected: groupLive,
                                                          payloadBytes: payloadBytes, directory: workDirectory)
        }
        if parts.contains("store") {
            report.storeCommit = try await runStoreCommit(commits: quick ? 500 : 3_000, payloadBytes: payloadBytes,
                                                          directory: workDirectory)
        }
        print(json ? try report.json() : report.table())
    }
}

extension LoadGenerator: ExpressibleByArgument {}

// Top-level code cannot use `@main`, and a bare `BenchRelay.main()` here resolves to the
// synchronous entry point; so parse and run by hand, as AsyncParsableCommand.main does.
do {
    let command = try BenchRelay.parse()
    try await command.benchmark()
} catch {
    BenchRelay.exit(withError: error)
}
