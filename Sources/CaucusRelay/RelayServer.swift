import CaucusLock
import CaucusProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import UnixSignals

/// The relay behind HTTP: WebSocket on `/v1/ws`, `/healthz`, `/metrics`, an expiry sweeper, and
/// with a shared store a watcher for deliveries other relay instances commit.
/// Run it as a service (it handles SIGTERM through swift-service-lifecycle) or start it in tests
/// with `start()`, which returns once the port is bound.
///
/// The WebSocket connections run on SwiftNIO's event loops directly (`WebSocketRelayHandler`):
/// a frame is decoded and its request handed to the group committer on the thread that read it,
/// and the replies and pushes a commit produces for a connection go out with one flush.
public struct RelayServer: Sendable {
    public let relay: Relay
    let tls: TLSConfiguration?
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup

    /// `eventLoopGroup` runs the sockets: NIO's shared one, or (tests that run many relays in one
    /// process) one of the relay's own, so that one busy relay does not hold up another's sockets.
    public init(relay: Relay, tls: TLSConfiguration? = nil, logger: Logger,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.relay = relay
        self.tls = tls
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
    }

    /// The service group that runs the relay: the HTTP server, the expiry sweeper, the ban
    /// check and the shutdown watcher. On graceful shutdown the watcher goes first (services stop in reverse
    /// order), so clients are told and in-flight writes land before the server closes sockets.
    /// `onBound` is told the clients' port once it listens, and `onMetricsBound` the operators'
    /// port (with `metricsPort` configured).
    public func serviceGroup(signals: [UnixSignal] = [.sigterm, .sigint],
                             onBound: @escaping @Sendable (Int) async -> Void = { _ in },
                             onMetricsBound: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> ServiceGroup {
        let listener = try RelayListener(relay: relay, tls: tls, logger: logger, eventLoopGroup: eventLoopGroup, onBound: onBound)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: listener),
            // Removes expired messages and blobs.
            .init(service: Periodically(seconds: relay.configuration.expirySweepSeconds) { await relay.sweep() }),
            // Closes the connections of devices banned while connected.
            .init(service: Periodically(seconds: relay.configuration.banCheckSeconds) { await relay.closeBannedConnections() }),
        ]
        if relay.configuration.metricsPort != nil {
            services.append(.init(service: try RelayListener(relay: relay, role: .operators, tls: nil, logger: logger,
                                                             eventLoopGroup: eventLoopGroup, onBound: onMetricsBound)))
        }
        if let shared = relay.store as? any SharedRelayStore {
            services.append(.init(service: DeliveryWatcher(relay: relay, store: shared)))
        }
        services.append(.init(service: ShutdownWatcher(relay: relay)))
        return ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: signals,
            logger: logger))
    }

    /// Starts the relay in a task and returns once its port is bound (tests and benchmarks), or
    /// throws why it stopped before that (the port was taken, for one).
    public func start() async throws -> RunningRelay {
        enum Bound { case clients(Int), operators(Int) }
        let (stream, continuation) = AsyncStream<Bound>.makeStream()
        let group = try serviceGroup(signals: [], onBound: { continuation.yield(.clients($0)) },
                                     onMetricsBound: { continuation.yield(.operators($0)) })
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var port: Int?, metricsPort: Int?
        let wantsMetrics = relay.configuration.metricsPort != nil
        for await bound in stream {
            switch bound {
            case .clients(let value): port = value
            case .operators(let value): metricsPort = value
            }
            if let port, metricsPort != nil || !wantsMetrics {
                return RunningRelay(port: port, metricsPort: metricsPort, group: group, task: task)
            }
        }
        try await task.value
        throw RelayStartError(description: "the relay stopped before it listened")
    }
}

/// Why the relay cannot start, in words that name what to change.
public struct RelayStartError: Error, CustomStringConvertible {
    public let description: String
}

extension RelayServer {
    /// Binds `host:port` as the relay's listener does, then lets it go: an address in use, not on
    /// this machine, or not allowed fails here, named, before the caller creates anything. (The
    /// listener binds again when the relay starts; something that takes the port in between
    /// makes that bind fail instead.)
    public static func checkCanListen(host: String, port: Int,
                                      eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        let shown = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: eventLoopGroup)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port)
                .get()
        } catch let error as IOError {
            let reason = switch error.errnoCode {
            case EADDRINUSE: "port \(port) is in use (another relay, or another program): choose another --port, or stop what holds it"
            case EADDRNOTAVAIL: "\(host) is not an address of this machine: give one of its addresses as --host"
            case EACCES: "ports below 1024 need privileges (CAP_NET_BIND_SERVICE): choose a port from 1024"
            default: String(cString: strerror(error.errnoCode))
            }
            throw RelayStartError(description: "cannot listen on \(shown): \(reason)")
        } catch {
            throw RelayStartError(description: "cannot listen on \(shown): \(error)")
        }
        try? await channel.close()
    }
}

/// A relay started with `RelayServer.start()`.
public struct RunningRelay: Sendable {
    public let port: Int
    /// The operators' listener's port (`/metrics`), when configured.
    public let metricsPort: Int?
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// Graceful shutdown, as on SIGTERM; returns when the relay has stopped.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// Runs `work` at once and then every `seconds`, until the relay shuts down.
struct Periodically: Service {
    let seconds: Double
    let work: @Sendable () async -> Void

    func run() async throws {
        let interval = Duration.seconds(seconds)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await work()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}

/// With a store shared by several relay instances, makes the push loops of devices connected here
/// read the store when another instance committed deliveries for them.
struct DeliveryWatcher: Service {
    let relay: Relay
    let store: any SharedRelayStore

    func run() async throws {
        let hub = relay.hub
        let catchUp = Duration.seconds(relay.configuration.deliveryCatchUpSeconds)
        try? await cancelWhenGracefulShutdown {
            try await store.watchDeliveries(catchUp: catchUp, connected: { hub.connectedDevices },
                                            storeChanged: { hub.storeChanged(for: $0) })
        }
    }
}

/// On SIGTERM (graceful shutdown), lets in-flight requests finish, commits what was accepted,
/// tells every client, and closes the connections before the HTTP server stops.
struct ShutdownWatcher: Service {
    let relay: Relay

    func run() async throws {
        try? await gracefulShutdown()
        await relay.shutdown()
    }
}

extension RelayServer {
    /// The one line `caucus-relay` prints on standard output once it listens, which scripts and
    /// tests read to learn the port (useful with `--port 0`).
    public static func listeningLine(address: String, port: Int) -> String {
        "caucus-relay listening on \(address) (port \(port))"
    }

    /// The line `caucus-relay` prints after `listeningLine` when it serves `/metrics`.
    public static func metricsLine(address: String, port: Int) -> String {
        "caucus-relay metrics on \(address) (port \(port))"
    }

    /// Reads a `caucus-relay` process's standard output up to its first line and returns the port
    /// that `listeningLine` names; throws if the process ends first or prints something else.
    public static func readListeningPort(from output: FileHandle) throws -> Int {
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.availableData
            guard !chunk.isEmpty else { throw ListeningLineError(text: "caucus-relay exited before listening") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = listeningPort(inLine: text) else {
            throw ListeningLineError(text: "unexpected first line from caucus-relay: \(text)")
        }
        return port
    }

    /// The port a `listeningLine` names, or nil when `line` is not one.
    public static func listeningPort(inLine line: String) -> Int? {
        port(inLine: line, after: "caucus-relay listening on ")
    }

    /// The port a `metricsLine` names, or nil when `line` is not one.
    public static func metricsPort(inLine line: String) -> Int? {
        port(inLine: line, after: "caucus-relay metrics on ")
    }

    private static func port(inLine line: String, after prefix: String) -> Int? {
        guard line.hasPrefix(prefix), let range = line.range(of: "(port "),
              let end = line[range.upperBound...].firstIndex(of: ")")
        else { return nil }
        return Int(line[range.upperBound..<end])
    }

    public struct ListeningLineError: Error, CustomStringConvertible {
        public let text: String
        public var description: String { text }
    }
}
