// The stores the throughput part compares: the single SQLite relay, one relay on PostgreSQL, and
// two relay instances sharing one PostgreSQL database (clients split between them so that every
// message crosses from one instance to the other).
import CaucusRelay
import CaucusRelayPostgres
import Foundation
import Logging
import PostgresNIO

enum BenchStore: Sendable {
    case sqlite
    /// The caucus-relay daemon built next to this program, in its own process, on SQLite: the
    /// clients in this process then share no threads with the relay.
    case sqliteProcess
    /// `instances` relays on a fresh database of the server at the URL.
    case postgres(url: PostgresStoreURL, instances: Int)

    var label: String {
        switch self {
        case .sqlite: "SQLite, 1 relay"
        case .sqliteProcess: "SQLite, caucus-relay process"
        case .postgres(_, let instances): "PostgreSQL, \(instances) relay\(instances == 1 ? "" : "s")"
        }
    }
}

/// Relays under test for one throughput run, and their addresses (clients spread over them).
struct BenchRelays {
    let relays: [RunningRelay]
    let stores: [any RelayStore]
    let urls: [String]
    let cleanup: @Sendable () async -> Void
    var daemon: RelayDaemon?

    static func start(_ kind: BenchStore, directory: URL, name: String) async throws -> BenchRelays {
        switch kind {
        case .sqlite:
            let relay = try await RelayUnderTest.start(directory: directory, name: name)
            return BenchRelays(relays: [relay.running], stores: [relay.store], urls: [relay.url], cleanup: {})
        case .sqliteProcess:
            guard let daemon = try RelayDaemon.start(directory: directory) else {
                throw BenchError("--relay-process needs the caucus-relay executable next to this program (swift build -c release)")
            }
            return BenchRelays(relays: [], stores: [], urls: [daemon.url], cleanup: {}, daemon: daemon)
        case .postgres(let server, let instances):
            let database = "caucus_bench_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try await adminQuery(server, "CREATE DATABASE \(database)")
            var url = server
            url.database = database
            var relays: [RunningRelay] = [], stores: [any RelayStore] = [], urls: [String] = []
            for _ in 0..<instances {
                let store = try await PostgresRelayStore.open(url: url, limits: RelayUnderTest.configuration.storeLimits,
                                                              logger: benchLogger("caucus.bench.postgres"))
                let logger = benchLogger("caucus.bench.relay")
                let relay = Relay(configuration: RelayUnderTest.configuration, store: store, logger: logger)
                let running = try await RelayServer(relay: relay, logger: logger).start()
                relays.append(running)
                stores.append(store)
                urls.append("ws://127.0.0.1:\(running.port)")
            }
            return BenchRelays(relays: relays, stores: stores, urls: urls,
                               cleanup: { try? await adminQuery(server, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") })
        }
    }

    func stop() async {
        for relay in relays { await relay.stop() }
        for store in stores { try? await store.close() }
        daemon?.stop()
        await cleanup()
    }
}

/// One statement on the server's own database (making and dropping the benchmark's databases).
private func adminQuery(_ server: PostgresStoreURL, _ sql: String) async throws {
    let configuration = PostgresConnection.Configuration(
        host: server.host, port: server.port, username: server.username, password: server.password,
        database: server.database, tls: .disable)
    let logger = benchLogger("caucus.bench.postgres")
    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    do {
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        try await connection.close()
    } catch {
        try? await connection.close()
        throw error
    }
}
