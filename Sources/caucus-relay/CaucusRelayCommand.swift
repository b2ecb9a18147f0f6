import ArgumentParser
import CaucusLock
import CaucusProtocol
import CaucusRelay
import CaucusRelayPostgres
import Foundation
import Logging
import NIOSSL

/// `caucus-relay`: the daemon operators run. Every option can also come from the environment
/// variable named in its help (the command line wins).
@main
struct CaucusRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caucus-relay",
        abstract: "Stores and forwards Caucus ciphertext: mailboxes, group fan-out, prekeys, blobs, card inboxes.",
        // One line per paragraph: the help wraps it to the terminal's width.
        discussion: """
            The relay sees only ciphertext and pseudonymous routing ids. It keeps its data in one \
            SQLite file, relay.sqlite, in the data directory, or with --store postgres://… in a \
            PostgreSQL database that several relay instances may share. Send SIGTERM to stop it \
            gracefully.
            """,
        version: CaucusRelease.versionLine("caucus-relay"),
        subcommands: [BackupCommand.self, StatsCommand.self, PruneCommand.self, BanCommand.self, UnbanCommand.self,
                      BansCommand.self])

    @Option(help: "A configuration file: one `name = value` per line, names as the long options here without their dashes (`port = 8080`); the command line and the environment win over it. [CAUCUS_RELAY_CONFIG]")
    var config: String?

    @Option(help: "Address to listen on. [CAUCUS_RELAY_HOST, default 127.0.0.1]")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port. [CAUCUS_RELAY_PORT, default 8080]")
    var port: Int?

    @Option(help: "Address of the operators' listener, which serves /metrics (Prometheus) and /healthz over plain HTTP. [CAUCUS_RELAY_METRICS_HOST, default 127.0.0.1]")
    var metricsHost: String?

    @Option(help: "Port of the operators' listener; 0 picks a free port. Without it the relay serves no /metrics. [CAUCUS_RELAY_METRICS_PORT]")
    var metricsPort: Int?

    @Option(help: "Directory for relay.sqlite. [CAUCUS_RELAY_DATA_DIR, default ./caucus-relay-data]")
    var dataDir: String?

    @Option(help: "A PostgreSQL database instead of relay.sqlite, shared by every relay instance given the same URL: postgres://user:password@host:port/database[?sslmode=disable|prefer|require]. [CAUCUS_RELAY_STORE, default: SQLite in --data-dir]")
    var store: String?

    @Option(help: "Connections each relay instance opens to PostgreSQL at most. [CAUCUS_RELAY_STORE_CONNECTIONS, default 20]")
    var storeConnections: Int?

    @Option(help: "Seconds to wait for PostgreSQL before a start or a request fails (a request with a connection but no answer: twice this). [CAUCUS_RELAY_STORE_CONNECT_TIMEOUT, default 10]")
    var storeConnectTimeout: Double?

    @Option(help: "With --store: seconds between checks for deliveries whose notice from another instance was missed. [CAUCUS_RELAY_DELIVERY_CATCH_UP_SECONDS, default 2]")
    var deliveryCatchUpSeconds: Double?

    @Option(help: "An address clients use to reach this relay, such as wss://relay.example.org (repeatable). [CAUCUS_RELAY_PUBLIC_ADDRESS, comma-separated; default: the listen address]")
    var publicAddress: [String] = []

    @Option(help: "PEM certificate chain for TLS (wss://). [CAUCUS_RELAY_TLS_CERT]")
    var tlsCert: String?

    @Option(help: "PEM private key for TLS. [CAUCUS_RELAY_TLS_KEY]")
    var tlsKey: String?

    @Option(help: "Largest frame read, in bytes. [CAUCUS_RELAY_MAX_FRAME_BYTES, default 1048576]")
    var maxFrameBytes: Int?

    @Option(help: "Largest message payload, in bytes. [CAUCUS_RELAY_MAX_PAYLOAD_BYTES, default 524288]")
    var maxPayloadBytes: Int?

    @Option(help: "Messages one mailbox may hold. [CAUCUS_RELAY_MAILBOX_MESSAGES, default 10000]")
    var mailboxMessages: Int?

    @Option(help: "Largest blob, in bytes. [CAUCUS_RELAY_MAX_BLOB_BYTES, default 268435456]")
    var maxBlobBytes: UInt64?

    @Option(help: "Blob bytes one device may store. [CAUCUS_RELAY_BLOB_QUOTA_BYTES, default 1073741824]")
    var blobQuotaBytes: UInt64?

    @Option(help: "Days undelivered messages and blobs are kept. [CAUCUS_RELAY_TTL_DAYS, default 30]")
    var ttlDays: Double?

    @Option(help: "Requests per second per device. [CAUCUS_RELAY_RATE_LIMIT, default 200]")
    var rateLimit: Double?

    @Option(help: "Burst of requests per device. [CAUCUS_RELAY_RATE_BURST, default 1000]")
    var rateBurst: Double?

    @Option(help: "Open connections at once. [CAUCUS_RELAY_MAX_CONNECTIONS, default 10000]")
    var maxConnections: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error. [CAUCUS_RELAY_LOG_LEVEL, default info]")
    var logLevel: String?

    @Option(help: "Log format on stderr: text, or json (one object per line). [CAUCUS_RELAY_LOG_FORMAT, default text]")
    var logFormat: String?

    /// Fails, naming the file and why, unless `path` can be read.
    static func checkReadable(_ path: String, _ what: String) throws {
        guard access(path, R_OK) != 0 else { return }
        throw ValidationError("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
    }

    /// Refuses settings no relay can run with (a port past 65535, a limit of zero or below), naming
    /// the option, before anything is created.
    static func checkPossible(_ configuration: RelayConfiguration) throws {
        func require(_ holds: Bool, _ message: String) throws {
            if !holds { throw ValidationError(message) }
        }
        try require((0...65_535).contains(configuration.port), "--port must be 0 to 65535 (0 picks a free port), not \(configuration.port)")
        if let metrics = configuration.metricsPort {
            try require((0...65_535).contains(metrics), "--metrics-port must be 0 to 65535 (0 picks a free port), not \(metrics)")
            try require(metrics == 0 || metrics != configuration.port,
                        "--metrics-port must differ from --port: /metrics has its own listener")
        }
        try require(configuration.maxPayloadBytes >= 1, "--max-payload-bytes must be at least 1")
        try require(configuration.storeLimits.mailboxMessages >= 1, "--mailbox-messages must be at least 1")
        try require(configuration.storeLimits.maxBlobBytes >= 1, "--max-blob-bytes must be at least 1")
        try require(configuration.storeLimits.blobQuotaBytes >= 1, "--blob-quota-bytes must be at least 1")
        try require(configuration.rateLimitPerSecond > 0 && configuration.rateLimitPerSecond.isFinite,
                    "--rate-limit must be above 0 requests per second")
        try require(configuration.rateLimitBurst >= 1 && configuration.rateLimitBurst.isFinite, "--rate-burst must be at least 1")
        try require(configuration.maxConnections >= 1, "--max-connections must be at least 1")
    }

    /// Where relay.sqlite lives without --data-dir or CAUCUS_RELAY_DATA_DIR.
    static let defaultDataDirectory = "caucus-relay-data"

    func run() async throws {
        let settings = try RelaySettings(configPath: config)
        func setting<T: LosslessStringConvertible>(_ value: T?, _ name: String) throws -> T? {
            try settings.value(value, name)
        }

        let levelName = try setting(logLevel, "log-level") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level \(levelName)")
        }
        let format = try setting(logFormat, "log-format") ?? "text"
        switch format {
        case "text":
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case "json":
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        default:
            throw ValidationError("unknown log format \(format): use text or json")
        }
        let logger = Logger(label: "caucus.relay")

        var configuration = RelayConfiguration()
        configuration.host = try setting(host, "host") ?? configuration.host
        configuration.port = try setting(port, "port") ?? configuration.port
        configuration.metricsHost = try setting(metricsHost, "metrics-host") ?? configuration.metricsHost
        configuration.metricsPort = try setting(metricsPort, "metrics-port")
        let addresses = settings.values(publicAddress, "public-address")
        for address in addresses where RelayProtocolAddress.isValid(address) == false {
            throw ValidationError("public address \(address) is not a ws:// or wss:// URL")
        }
        configuration.publicAddresses = addresses
        configuration.maxFrameBytes = try setting(maxFrameBytes, "max-frame-bytes") ?? configuration.maxFrameBytes
        configuration.maxPayloadBytes = try setting(maxPayloadBytes, "max-payload-bytes") ?? configuration.maxPayloadBytes
        configuration.storeLimits.mailboxMessages = try setting(mailboxMessages, "mailbox-messages") ?? configuration.storeLimits.mailboxMessages
        configuration.storeLimits.maxBlobBytes = try setting(maxBlobBytes, "max-blob-bytes") ?? configuration.storeLimits.maxBlobBytes
        configuration.storeLimits.blobQuotaBytes = try setting(blobQuotaBytes, "blob-quota-bytes") ?? configuration.storeLimits.blobQuotaBytes
        if let days = try setting(ttlDays, "ttl-days") {
            guard days > 0, days <= 365 else { throw ValidationError("--ttl-days must be in (0, 365]") }
            configuration.defaultTTLSeconds = UInt32(days * 86_400)
            configuration.maxTTLSeconds = configuration.defaultTTLSeconds
        }
        configuration.rateLimitPerSecond = try setting(rateLimit, "rate-limit") ?? configuration.rateLimitPerSecond
        configuration.rateLimitBurst = try setting(rateBurst, "rate-burst") ?? configuration.rateLimitBurst
        configuration.maxConnections = try setting(maxConnections, "max-connections") ?? configuration.maxConnections
        guard configuration.maxFrameBytes >= RelayProtocol.minimumFrameBytes, configuration.maxPayloadBytes < configuration.maxFrameBytes else {
            throw ValidationError("--max-frame-bytes must be at least 4096 and larger than --max-payload-bytes")
        }
        try Self.checkPossible(configuration)

        var tls: TLSConfiguration?
        let certPath = try setting(tlsCert, "tls-cert")
        let keyPath = try setting(tlsKey, "tls-key")
        switch (certPath, keyPath) {
        case (nil, nil):
            break
        case let (cert?, key?):
            try Self.checkReadable(cert, "the TLS certificate file")
            try Self.checkReadable(key, "the TLS key file")
            let chain: [NIOSSLCertificateSource]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            } catch {
                throw ValidationError("the TLS certificate file \(cert) holds no PEM certificate")
            }
            guard !chain.isEmpty else { throw ValidationError("the TLS certificate file \(cert) holds no PEM certificate") }
            let privateKey: NIOSSLPrivateKey
            do {
                privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            } catch {
                throw ValidationError("the TLS key file \(key) holds no PEM private key")
            }
            tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        default:
            throw ValidationError("give both --tls-cert and --tls-key, or neither")
        }

        // Port 0 always binds; any other port is tried before the store is opened or made.
        for (host, port) in [(configuration.host, configuration.port), (configuration.metricsHost, configuration.metricsPort ?? 0)]
        where port != 0 {
            do {
                try await RelayServer.checkCanListen(host: host, port: port)
            } catch {
                throw ValidationError("\(error)")
            }
        }

        let store: any RelayStore
        if let text = try setting(self.store, "store") {
            guard PostgresStoreURL.isPostgres(text) else {
                throw ValidationError("--store takes a postgres:// URL (without it the relay uses SQLite in --data-dir)")
            }
            let url: PostgresStoreURL
            do { url = try PostgresStoreURL(text) } catch { throw ValidationError(error.description) }
            let connections = try setting(storeConnections, "store-connections") ?? 20
            let timeout = try setting(storeConnectTimeout, "store-connect-timeout") ?? 10
            guard connections >= 2 else { throw ValidationError("--store-connections must be at least 2") }
            guard timeout > 0 else { throw ValidationError("--store-connect-timeout must be positive") }
            configuration.deliveryCatchUpSeconds = try setting(deliveryCatchUpSeconds, "delivery-catch-up-seconds")
                ?? configuration.deliveryCatchUpSeconds
            guard configuration.deliveryCatchUpSeconds > 0 else {
                throw ValidationError("--delivery-catch-up-seconds must be positive")
            }
            store = try await PostgresRelayStore.open(url: url, limits: configuration.storeLimits, maxConnections: connections,
                                                      connectTimeout: .milliseconds(Int(timeout * 1000)), logger: logger)
        } else {
            let directory = try settings.dataDirectory(dataDir)
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ValidationError("cannot make the data directory \(directory): \(FileErrorReason.of(error))")
            }
            let storePath = (directory as NSString).appendingPathComponent("relay.sqlite")
            do {
                store = try SQLiteRelayStore(path: storePath, limits: configuration.storeLimits)
            } catch {
                throw ValidationError("cannot open the store \(storePath): \(FileErrorReason.of(error))")
            }
        }
        let relay = Relay(configuration: configuration, store: store, logger: logger)
        let server = RelayServer(relay: relay, tls: tls, logger: logger)
        // On stdout for scripts: first the address clients use, then (when configured) where
        // /metrics is, in that order whichever listener binds first.
        let announcer = ListeningAnnouncer(wantsMetrics: configuration.metricsPort != nil, host: configuration.metricsHost)
        let group = try server.serviceGroup(
            onBound: { port in
                announcer.clients(RelayServer.listeningLine(address: relay.publicAddresses.first ?? "port \(port)", port: port))
            },
            onMetricsBound: { port in announcer.metrics(port) })
        try await group.run()
        try await store.close()
        logger.info("relay stopped")
    }
}

/// Prints the listening lines in order: the clients' first, then the operators' listener.
final class ListeningAnnouncer: Sendable {
    private struct State { var clients: String?, metrics: String?, printed = false }
    private let state: Locked<State>
    private let wantsMetrics: Bool
    private let host: String

    init(wantsMetrics: Bool, host: String) {
        self.wantsMetrics = wantsMetrics
        self.host = host.contains(":") ? "[\(host)]" : host
        state = Locked(State())
    }

    func clients(_ line: String) { update { $0.clients = line } }
    func metrics(_ port: Int) { update { $0.metrics = RelayServer.metricsLine(address: "http://\(self.host):\(port)/metrics", port: port) } }

    private func update(_ change: @Sendable (inout State) -> Void) {
        let text: String? = state.withLock { state in
            change(&state)
            guard !state.printed, let clients = state.clients, state.metrics != nil || !wantsMetrics else { return nil }
            state.printed = true
            return ([clients] + (state.metrics.map { [$0] } ?? [])).map { $0 + "\n" }.joined()
        }
        if let text { FileHandle.standardOutput.write(Data(text.utf8)) }
    }
}

/// Checks an operator-supplied address.
enum RelayProtocolAddress {
    static func isValid(_ address: String) -> Bool {
        guard let url = URLComponents(string: address), let scheme = url.scheme?.lowercased() else { return false }
        return (scheme == "ws" || scheme == "wss") && url.host?.isEmpty == false
    }
}
