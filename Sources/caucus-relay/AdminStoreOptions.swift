import ArgumentParser
import CaucusRelay
import CaucusRelayPostgres
import Foundation
import Logging

/// Where an operator's command (`stats`, `prune`, `ban`, `unban`, `bans`) finds the store of a
/// relay that may be running: the daemon's --data-dir or --store, their environment variables, or
/// the configuration file (--config), in that order.
/// It opens its own connections, beside the relay's, and never creates a directory or a store.
///
/// The daemon declares the same two options, and the parser hands them to it wherever they stand
/// on the command line (`caucus-relay --data-dir D stats` and `caucus-relay stats --data-dir D`);
/// they are declared here too so that each command's help shows them, and read from either.
struct AdminStoreOptions: ParsableArguments {
    @Option(help: "The relay's configuration file, for its data-dir or store. [CAUCUS_RELAY_CONFIG]")
    var config: String?

    @Option(help: "The relay's data directory, holding relay.sqlite. [CAUCUS_RELAY_DATA_DIR, default ./caucus-relay-data]")
    var dataDir: String?

    @Option(help: "The relay's PostgreSQL database instead, the URL the relay was given: postgres://user:password@host:port/database[?sslmode=…]. [CAUCUS_RELAY_STORE]")
    var store: String?

    /// An open store and how to name it to the operator.
    struct Opened {
        let store: any RelayAdminStore
        /// `sqlite` or `postgresql`.
        let kind: String
        /// The file, or the database URL without its password.
        let location: String
    }

    /// Opens the store, or prints why it cannot and fails. Nothing is created: a missing data
    /// directory or store is an error.
    func open(daemon: CaucusRelayCommand) async throws -> Opened {
        let settings: RelaySettings
        do { settings = try RelaySettings(configPath: config ?? daemon.config) } catch { throw AdminFailure("\(error)") }
        if let text: String = try settings.value(store ?? daemon.store, "store") {
            guard PostgresStoreURL.isPostgres(text) else {
                throw AdminFailure("--store takes a postgres:// URL (without it the command uses relay.sqlite in --data-dir)")
            }
            let url: PostgresStoreURL
            do { url = try PostgresStoreURL(text) } catch { throw AdminFailure(error.description) }
            var logger = Logger(label: "caucus.relay.admin") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            do {
                let store = try await PostgresRelayStore.open(url: url, maxConnections: 2, connectTimeout: .seconds(10), logger: logger)
                return Opened(store: store, kind: "postgresql", location: url.description)
            } catch {
                throw AdminFailure("cannot open the store \(url): \(error)")
            }
        }
        let directory = try settings.dataDirectory(dataDir ?? daemon.dataDir)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AdminFailure("no data directory \(directory) (give the relay's --data-dir, or CAUCUS_RELAY_DATA_DIR); nothing was created")
        }
        let path = (directory as NSString).appendingPathComponent("relay.sqlite")
        do {
            return Opened(store: try SQLiteRelayStore(path: path, mode: .existing), kind: "sqlite", location: path)
        } catch let error as SQLiteStoreOpenError {
            throw AdminFailure(error.description)
        } catch {
            throw AdminFailure("cannot open the store \(path): \(FileErrorReason.of(error))")
        }
    }
}

/// Prints `error: description` on stderr; the command throws what it returns (exit status 1).
func failing(_ description: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(description)\n".utf8))
    return ExitCode.failure
}

/// An operator's command that cannot be done: `error: …` on stderr, exit status 1.
struct AdminFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

extension AdminStoreOptions {
    /// Opens the store, runs `body` on it and closes it; a failure is printed as `error: …` and
    /// ends the command with status 1.
    func withStore(daemon: CaucusRelayCommand, _ body: (Opened) async throws -> Void) async throws {
        do {
            let opened = try await open(daemon: daemon)
            do {
                try await body(opened)
            } catch {
                try? await opened.store.close()
                throw error
            }
            try await opened.store.close()
        } catch let failure as AdminFailure {
            throw failing(failure.description)
        } catch let error as StoreAdminError {
            throw failing(error.description)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw failing("the store failed: \(error)")
        }
    }
}

/// Prints a value as one JSON object (keys in snake_case, sorted) for `--json`.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A Unix time in milliseconds as ISO 8601 (UTC).
func isoTime(_ milliseconds: Int64) -> String {
    Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(.iso8601)
}
