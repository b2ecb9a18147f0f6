import CaucusLock
import CaucusProtocol
import CaucusRelay
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The relay's store in PostgreSQL, for several relay instances sharing one database. Every
/// change is one transaction; a commit returns after PostgreSQL's COMMIT, synced to its WAL
/// (every session sets `synchronous_commit = on`, whatever the server's default). Rows are
/// locked in a fixed order (devices by id, then messages) so instances do not deadlock; a
/// deadlock or serialization failure that happens anyway is retried. Each instance hears of deliveries the others commit through LISTEN/NOTIFY.
public final class PostgresRelayStore: SharedRelayStore {
    let client: PostgresClient
    /// The connection that LISTENs is its own, outside the pool, so that it can be closed.
    let listenerConfiguration: PostgresConnection.Configuration
    private let runTask: Task<Void, Never>
    let limits: StoreLimits
    /// How long a request waits for a pooled connection before it fails.
    let leaseTimeout: Duration
    let logger: Logger
    /// Tags this instance's notices so it can skip its own.
    let instance = String(UUID().uuidString.prefix(8))
    /// The database, password hidden.
    public let url: PostgresStoreURL

    /// The NOTIFY channel that carries the device keys of committed deliveries.
    static let deliveryChannel = "caucus_deliveries"

    /// Connects to the database at `url`, brings its schema up to date (the migrations run in one
    /// transaction, one instance at a time), and returns the store. Throws
    /// `PostgresStoreError.unreachable` with PostgreSQL's reason when the database cannot be
    /// reached or refuses the connection. A request that waits longer than `connectTimeout` for a
    /// connection (the database has gone away) fails with `PostgresStoreError.timedOut`, and one
    /// that has a connection but no answer twice `connectTimeout` after it was made, with
    /// `.noAnswer`.
    public static func open(url: PostgresStoreURL, limits: StoreLimits = StoreLimits(), maxConnections: Int = 20,
                            connectTimeout: Duration = .seconds(10), logger: Logger) async throws -> PostgresRelayStore {
        let tls: PostgresClient.Configuration.TLS = switch url.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        // One plain connection first (the LISTEN connection is made the same way): it fails at once with the server's reason (refused, bad
        // password, no such database), where the pool would keep retrying for a minute.
        var probe = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.username,
                                                     password: url.password, database: url.database, tls: .disable)
        probe.tls = switch url.tls {
        case .disable: .disable
        case .prefer: .prefer(try .init(configuration: .makeClientConfiguration()))
        case .require: .require(try .init(configuration: .makeClientConfiguration()))
        }
        probe.options.connectTimeout = .init(connectTimeout)
        do {
            let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: logger)
            try await connection.close()
        } catch {
            throw PostgresStoreError.unreachable("\(url): \(Self.describe(error))")
        }

        var configuration = PostgresClient.Configuration(host: url.host, port: url.port, username: url.username,
                                                         password: url.password, database: url.database, tls: tls)
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = connectTimeout
        // Every pooled session commits synchronously, whatever the server's or the database's
        // default: a reply follows a COMMIT that reached PostgreSQL's WAL on disk (Protocol.md §7.12).
        configuration.options.additionalStartupParameters = [("synchronous_commit", "on")]
        // The pool logs every failed reconnection attempt at info; the store logs what matters.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let store = PostgresRelayStore(client: PostgresClient(configuration: configuration, backgroundLogger: background),
                                       listenerConfiguration: probe, url: url, limits: limits,
                                       leaseTimeout: connectTimeout, logger: logger)
        do {
            try await PostgresMigrations.migrate(store)
        } catch {
            await store.shutDown()
            throw error as? PostgresStoreError ?? PostgresStoreError.unreachable("\(url): \(Self.describe(error))")
        }
        logger.info("PostgreSQL store ready", metadata: ["database": "\(url)", "schema": "\(PostgresMigrations.latest)"])
        return store
    }

    private init(client: PostgresClient, listenerConfiguration: PostgresConnection.Configuration, url: PostgresStoreURL,
                 limits: StoreLimits, leaseTimeout: Duration, logger: Logger) {
        self.client = client
        self.listenerConfiguration = listenerConfiguration
        self.url = url
        self.limits = limits
        self.leaseTimeout = leaseTimeout
        self.logger = logger
        self.runTask = Task { await client.run() }
    }

    /// A store dropped without `close()` stops its connections too.
    deinit { runTask.cancel() }

    public func close() async throws {
        await shutDown()
    }

    private func shutDown() async {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Transactions

    /// Thrown inside a transaction to run it again from the start: a row it meant to insert was
    /// inserted meanwhile by another instance, and the retry reads it.
    struct Retry: Error {}

    /// Runs `body` on a pooled connection, and answers within twice `leaseTimeout`, whatever the
    /// pool or the connection is still doing: with `PostgresStoreError.timedOut` when no
    /// connection came within `leaseTimeout` (the database has gone away, or every connection is
    /// busy), with `.noAnswer` when `body` had one but has not finished by twice `leaseTimeout`
    /// (the database stopped answering). `body` never starts after its caller was answered; once
    /// started it runs to its end, never cancelled half-way, so a connection goes back to the
    /// pool outside any transaction.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let (client, limit) = (self.client, leaseTimeout)
        let request = PooledRequest<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                request.wait(continuation)
                let work = Task {
                    try await client.withConnection { connection in
                        guard request.start() else { throw PostgresStoreError.timedOut(limit) }
                        return try await Task { try await body(connection) }.value
                    }
                }
                request.cancelsWithCaller(work)
                let timer = Task {
                    try await Task.sleep(for: limit)
                    if request.expireUnstarted(PostgresStoreError.timedOut(limit)) {
                        work.cancel()
                        return
                    }
                    try await Task.sleep(for: limit)
                    request.finish(.failure(PostgresStoreError.noAnswer(limit)))
                }
                Task {
                    let result = await work.result
                    timer.cancel()
                    request.finish(result)
                }
            }
        } onCancel: {
            request.cancel()
        }
    }

    /// A setting as a pooled session sees it (`SHOW name`), for tests of the durability promise.
    package func sessionSetting(_ name: String) async throws -> String {
        let logger = self.logger
        return try await withConnection { connection in
            try await Self.rows(PostgresQuery(unsafeSQL: "SHOW \(name)"), on: connection, logger: logger, as: String.self)
                .first ?? ""
        }
    }

    /// Runs `body` in one transaction and commits; rolls back and rethrows what `body` throws.
    /// Deadlocks, serialization failures and `Retry` run it again (a few times).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        let result = try await body(connection)
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            } catch where attempt < 8 && Self.isTransient(error) {
                logger.debug("transaction retried", metadata: ["attempt": "\(attempt)"])
                try await Task.sleep(for: .milliseconds(attempt * 5))
            }
        }
    }

    /// A deadlock (40P01), a serialization failure (40001) or a `Retry`.
    static func isTransient(_ error: any Error) -> Bool {
        if error is Retry { return true }
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// A short description of a database error for logs and start-up errors: the server's code and
    /// message, or the connection failure. Never query text or bound values.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                return "\(info[.sqlState] ?? "?"): \(info[.message] ?? "server error")"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Rows of `query` as an array.
    static func rows<each Column: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, on connection: PostgresConnection, logger: Logger, as: (repeat each Column).Type
    ) async throws -> [(repeat each Column)] {
        var out: [(repeat each Column)] = []
        for try await row in try await connection.query(query, logger: logger).decode((repeat each Column).self) {
            out.append(row)
        }
        return out
    }
}

/// One caller's request for a pooled connection: answered once, by the work's result or by a
/// bound, whichever comes first.
final class PooledRequest<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var answered = false
        var started = false
        var callerCancelled = false
        var work: Task<T, any Error>?

        /// The continuation, the first time only.
        mutating func take() -> CheckedContinuation<T, any Error>? {
            guard !answered else { return nil }
            answered = true
            defer { continuation = nil }
            return continuation
        }
    }
    private let state = Locked(State())

    /// Registers the caller's continuation; called before any other method.
    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Keeps `work` to cancel if the caller is cancelled (at once, if it already was).
    func cancelsWithCaller(_ work: Task<T, any Error>) {
        let cancelled = state.withLock { state in
            state.work = work
            return state.callerCancelled
        }
        if cancelled { work.cancel() }
    }

    /// The caller was cancelled: a wait for a connection ends; a started body runs on.
    func cancel() {
        let work = state.withLock { state in
            state.callerCancelled = true
            return state.work
        }
        work?.cancel()
    }

    /// True when the body may start: its caller has not been answered yet.
    func start() -> Bool {
        state.withLock { state in
            guard !state.answered else { return false }
            state.started = true
            return true
        }
    }

    /// Answers the caller with `error` if the body has not started and the caller has no answer
    /// yet; true if it answered.
    func expireUnstarted(_ error: any Error) -> Bool {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            guard !state.started else { return nil }
            return state.take()
        }
        continuation?.resume(throwing: error)
        return continuation != nil
    }

    /// Answers the caller with `result`, unless it was answered already.
    func finish(_ result: Result<T, any Error>) {
        state.withLock { $0.take() }?.resume(with: result)
    }
}

/// Byte strings as a bytea[] binding.
func byteaArray(_ values: [Data]) -> [ByteBuffer] {
    values.map { ByteBuffer(bytes: $0) }
}
