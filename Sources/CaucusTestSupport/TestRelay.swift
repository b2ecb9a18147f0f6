// Real parts for tests of several modules: temporary directories and a relay on 127.0.0.1.
import CaucusCrypto
import CaucusRelay
import CaucusRelayClient
import CaucusLock
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// A fresh temporary directory, removed by `remove()`.
public struct TempDirectory: Sendable {
    /// The directory.
    public let path: String

    /// Makes a new empty directory.
    public init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-relay-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    /// A path inside it.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Deletes it and everything in it.
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A real relay on 127.0.0.1, port 0, on a SQLite file in a temporary directory.
public final class TestRelay: Sendable {
    /// Where its SQLite file lives.
    public let directory: TempDirectory
    /// Its store.
    public let store: SQLiteRelayStore
    /// The relay engine.
    public let relay: Relay
    /// The listening server.
    public let running: RunningRelay
    /// The lying layer between the relay and its store, when started `hostile`.
    public let hostile: HostileStore?
    /// The relay's own event loop: a test that floods its relay (in a debug build NIO's work per
    /// frame is many times a release build's) kept a loop of NIO's shared group busy for seconds,
    /// and every other relay of the process with sockets on that loop stopped answering.
    private let eventLoops: MultiThreadedEventLoopGroup

    /// The address clients dial.
    public var url: String { relay.publicAddresses.first ?? "ws://127.0.0.1:\(running.port)" }
    /// The relay's SQLite file.
    public var databasePath: String { store.path }

    /// Starts a relay; `directory` reuses a data directory (a restart), else a new one is made.
    /// A `hostile` relay serves its data through a `HostileStore` that tests tell what to attack;
    /// `logger` replaces the quiet default (warnings only).
    public static func start(tls: TLSConfiguration? = nil, directory existing: TempDirectory? = nil, hostile: Bool = false,
                             logger custom: Logger? = nil, _ configure: (inout RelayConfiguration) -> Void = { _ in }) async throws -> TestRelay {
        PoolStallWatch.startIfAsked()
        var configuration = RelayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configure(&configuration)
        let directory = try existing ?? TempDirectory()
        // Opening (and migrating) the store waits for the disk: not on the cooperative pool, which
        // every other test of the process shares.
        let limits = configuration.storeLimits
        let store = try await offCooperativePool { try SQLiteRelayStore(path: directory.file("relay.sqlite"), limits: limits) }
        var logger = Logger(label: "test.relay")
        logger.logLevel = .warning
        if let custom { logger = custom }
        let liar = hostile ? HostileStore(wrapping: store) : nil
        let relay = Relay(configuration: configuration, store: liar ?? store, logger: logger)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let running: RunningRelay
        do {
            running = try await RelayServer(relay: relay, tls: tls, logger: logger, eventLoopGroup: eventLoops).start()
        } catch {
            try? await eventLoops.shutdownGracefully()
            try? await store.close()
            if existing == nil { directory.remove() }
            throw error
        }
        return TestRelay(directory: directory, store: store, relay: relay, running: running, hostile: liar, eventLoops: eventLoops)
    }

    private init(directory: TempDirectory, store: SQLiteRelayStore, relay: Relay, running: RunningRelay, hostile: HostileStore?,
                 eventLoops: MultiThreadedEventLoopGroup) {
        self.directory = directory
        self.store = store
        self.relay = relay
        self.running = running
        self.hostile = hostile
        self.eventLoops = eventLoops
    }

    /// A relay speaking wss:// with a fresh self-signed certificate for localhost (in `directory`),
    /// and a client TLS configuration that trusts it. TLS clients send the host name (SNI), which
    /// cannot be an IP address: the relay listens on 127.0.0.1 and clients dial it as localhost.
    public static func startTLS(in directory: TempDirectory) async throws -> (TestRelay, trusting: TLSConfiguration) {
        let (certificatePath, keyPath) = try await offCooperativePool { try TestCertificate.make(in: directory) }
        let certificates = try NIOSSLCertificate.fromPEMFile(certificatePath)
        let server = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        // The address names the port, so the port is chosen before the relay binds it; in a full
        // test run a client's connection can take it as its own end in between: choose again.
        var attempt = 0
        let relay: TestRelay
        while true {
            let port = try freeLoopbackPort()
            do {
                relay = try await start(tls: server) {
                    $0.port = port
                    $0.publicAddresses = ["wss://localhost:\(port)"]
                }
                break
            } catch let error as IOError where error.errnoCode == EADDRINUSE && attempt < 5 {
                attempt += 1
            }
        }
        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .certificates(certificates)
        return (relay, trusting)
    }

    /// How long a test's client waits for the relay: the product's bounds (15 s to connect, 30 s a
    /// reply) are for a person waiting, and a full test run on two busy cores has stalled an
    /// in-process relay's handshake past 15 s; tests wait generously and fail on their time limit.
    public static let clientTimeout = Duration.seconds(120)

    /// An authenticated connection for `key`.
    public func connect(_ key: Ed25519.PrivateKey) async throws -> RelayClient {
        try await RelayClient.connect(url: url, deviceKey: key, timeout: Self.clientTimeout,
                                      requestTimeout: Self.clientTimeout)
    }

    /// Stops the relay and deletes its data.
    public func stop() async {
        await halt()
        directory.remove()
    }

    /// Stops the relay and keeps its data for a restart.
    public func halt() async {
        await running.stop()
        try? await store.close()
        try? await eventLoops.shutdownGracefully()
    }
}
