import CaucusRelay
import CaucusRelayPostgres
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server `scripts/test` starts (its URL in `CAUCUS_TEST_POSTGRES_URL`), and a
/// fresh database on it for each test, so tests run in parallel without sharing rows.
public enum TestPostgres {
    /// The environment variable holding the server's URL (a user allowed to create databases).
    public static let urlVariable = "CAUCUS_TEST_POSTGRES_URL"

    /// Whether a server was given.
    public static var isConfigured: Bool { serverURL != nil }

    /// Whether a missing server must fail the run (CI=true) rather than skip the tests.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static var serverURL: String? {
        guard let text = ProcessInfo.processInfo.environment[urlVariable], !text.isEmpty else { return nil }
        return text
    }

    /// Why the PostgreSQL tests cannot run.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String {
            "\(urlVariable) is not set: run the tests through scripts/test, which starts PostgreSQL"
        }
    }

    /// The line printed when the PostgreSQL tests are skipped.
    public static var skipMessage: String { "SKIP PostgreSQL store tests: \(Unavailable())" }

    /// A new empty database; throws `Unavailable` without a server.
    public static func database() async throws -> TestDatabase {
        guard let serverURL else { throw Unavailable() }
        let server = try PostgresStoreURL(serverURL)
        let name = "caucus_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await admin(server) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var url = server
        url.database = name
        return TestDatabase(url: url, server: server)
    }

    /// Runs `body` on one connection to the server's own database.
    static func admin(_ server: PostgresStoreURL, _ body: (PostgresConnection, Logger) async throws -> Void) async throws {
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .warning
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.username, password: server.password,
            database: server.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await body(connection, logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A quiet logger for stores under test.
    public static var logger: Logger {
        var logger = Logger(label: "test.relay.postgres")
        logger.logLevel = .error
        return logger
    }

    /// A logger that also prints the store's warnings (a LISTEN or a catch-up that failed and is
    /// retried), for tests whose failure would otherwise not say why.
    public static var warningLogger: Logger {
        var logger = Logger(label: "test.relay.postgres")
        logger.logLevel = .warning
        return logger
    }
}

/// A database made for one test.
public struct TestDatabase: Sendable {
    /// Its URL, as `--store` takes it.
    public let url: PostgresStoreURL
    let server: PostgresStoreURL

    /// The URL text with the password, for a relay process's `--store`.
    public var urlText: String {
        var text = "postgres://\(url.username)"
        if let password = url.password { text += ":\(password)" }
        return text + "@\(url.host):\(url.port)/\(url.database)?sslmode=\(url.tls.rawValue)"
    }

    /// Opens a store on it (few connections: many tests share the server).
    public func open(limits: StoreLimits = StoreLimits(), connectTimeout: Duration = .seconds(60),
                     logger: Logger = TestPostgres.logger) async throws -> PostgresRelayStore {
        try await PostgresRelayStore.open(url: url, limits: limits, maxConnections: 6, connectTimeout: connectTimeout,
                                          logger: logger)
    }

    /// Runs SQL as the server's superuser on the server's own database (to cut this database off).
    public func admin(_ sql: String) async throws {
        try await TestPostgres.admin(server) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// Runs SQL inside this database, as a third party would (tests that bypass the relay).
    public func execute(_ sql: String) async throws {
        try await TestPostgres.admin(url) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// Runs `body` while a third party's transaction holds `table` locked against every other
    /// access (ACCESS EXCLUSIVE): a store's request that touches it waits on the database.
    public func whileLocked(_ table: String, _ body: () async throws -> Void) async throws {
        try await TestPostgres.admin(url) { connection, logger in
            try await connection.query("BEGIN", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: logger)
            do {
                try await body()
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            try await connection.query("ROLLBACK", logger: logger)
        }
    }

    /// Drops the database, ending any connection still open to it.
    public func drop() async {
        try? await admin("DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)")
    }
}
