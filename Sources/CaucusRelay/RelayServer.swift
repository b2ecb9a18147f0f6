import CaucusProtocol
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import UnixSignals
import Synchronization

/// The relay behind HTTP: WebSocket on `/v1/ws`, `/healthz`, `/metrics`, an expiry sweeper, and
/// with a shared store a watcher for deliveries other relay instances commit.
/// Run it as a service (it handles SIGTERM through swift-service-lifecycle) or start it in tests
/// with `start()`, which returns once the port is bound.
public struct RelayServer: Sendable {
    public let relay: Relay
    let tls: TLSConfiguration?
    let logger: Logger

    public init(relay: Relay, tls: TLSConfiguration? = nil, logger: Logger) {
        self.relay = relay
        self.tls = tls
        self.logger = logger
    }

    /// Builds the Hummingbird application. `onBound` receives the bound port.
    public func application(onBound: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let relay = self.relay
        let configuration = relay.configuration
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/healthz") { _, _ -> Response in
            let healthy = !relay.isShuttingDown
            return Response(status: healthy ? .ok : .serviceUnavailable,
                            headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: healthy ? "ok\n" : "shutting down\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: relay.metricsText())))
        }
        router.ws(RouterPath(RelayProtocol.path)) { inbound, outbound, context in
            await Self.serve(relay: relay, inbound: inbound, outbound: outbound, logger: context.logger)
        }
        // The WebSocket layer's own limit is a backstop well above the relay's, so that an
        // oversize message reaches the relay and is answered with FRAME_TOO_LARGE.
        let ws = WebSocketServerConfiguration(maxFrameSize: max(configuration.maxFrameBytes * 2, 1 << 16))
        let http = HTTPServerBuilder.http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: ws))
        let server = try tls.map { try HTTPServerBuilder.tls(http, tlsConfiguration: $0) } ?? http
        let scheme = tls == nil ? "ws" : "wss"
        let host = configuration.host
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let shownHost = host.contains(":") ? "[\(host)]" : host
                relay.useDefaultAddress("\(scheme)://\(shownHost):\(port)")
                relay.logger.info("relay listening", metadata: [
                    "address": "\(relay.publicAddresses.first ?? "")", "port": "\(port)",
                ])
                await onBound(port)
            },
            logger: logger
        )
    }

    /// Reads WebSocket frames, assembling fragmented messages, and hands each to the connection.
    /// An oversize message is read to its end without being kept, then refused with a typed
    /// error; the connection stays open.
    static func serve(relay: Relay, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        let connection = RelayConnection(relay: relay, logger: logger, send: { frame in
            let bytes: [UInt8] = try frame.serializedBytes()
            try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
        }, close: { reason in
            try? await outbound.close(.goingAway, reason: reason)
        })
        // A connection the relay cannot take is refused in answer to its first frame (normally
        // Hello), so the client reads a typed error as the reply to its own request.
        guard relay.open(connection) else {
            await refuse(connection, inbound: inbound, outbound: outbound, error: RelayError(.connectionLimit,
                "the relay has \(relay.configuration.maxConnections) connections; try again later",
                retryAfterMilliseconds: 5_000), closeCode: .unknown(1013))
            return
        }
        defer { connection.ended() }
        if relay.isShuttingDown {
            await refuse(connection, inbound: inbound, outbound: outbound, error: RelayError(.shuttingDown,
                "the relay is shutting down", retryAfterMilliseconds: 1_000), closeCode: .goingAway)
            return
        }
        let limit = relay.configuration.maxFrameBytes
        var message = ByteBuffer()
        var isText = false
        var oversize = 0
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .binary:
                    message.clear()
                    isText = frame.opcode == .text
                    oversize = 0
                case .continuation:
                    break
                }
                if oversize == 0 {
                    var data = frame.data
                    if message.readableBytes + data.readableBytes > limit {
                        oversize = message.readableBytes + data.readableBytes
                        message.clear()
                    } else {
                        message.writeBuffer(&data)
                    }
                } else {
                    oversize += frame.data.readableBytes
                }
                guard frame.fin else { continue }
                if oversize > 0 {
                    await connection.receivedOversize(oversize)
                } else if isText {
                    await connection.receivedText()
                } else {
                    await connection.waitForCapacity()
                    await connection.received(Array(message.readableBytesView))
                }
                message.clear()
                oversize = 0
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The service group that runs the relay: the HTTP server, the expiry sweeper and the
    /// shutdown watcher. On graceful shutdown the watcher goes first (services stop in reverse
    /// order), so clients are told and in-flight writes land before the server closes sockets.
    public func serviceGroup(signals: [UnixSignal] = [.sigterm, .sigint],
                             onBound: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> ServiceGroup {
        let app = try application(onBound: onBound)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app),
            .init(service: ExpirySweeper(relay: relay)),
        ]
        if let shared = relay.store as? any SharedRelayStore {
            services.append(.init(service: DeliveryWatcher(relay: relay, store: shared)))
        }
        services.append(.init(service: ShutdownWatcher(relay: relay)))
        return ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: signals,
            logger: logger))
    }

    /// Answers the connection's first frame with `error` (to its request id when it can be read,
    /// else as a push; after 5 seconds of silence, as a push), then closes with `closeCode`.
    static func refuse(_ connection: RelayConnection, inbound: WebSocketInboundStream,
                       outbound: WebSocketOutboundWriter, error: RelayError, closeCode: WebSocketErrorCode) async {
        let first = await withTaskGroup(of: WebSocketDataFrame?.self) { group in
            group.addTask {
                var iterator = inbound.makeAsyncIterator()
                return try? await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            let frame = await group.next() ?? nil
            group.cancelAll()
            return frame
        }
        var id: UInt64 = 0
        if let first, first.opcode == .binary, let frame = try? WireClientFrame(serializedBytes: Array(first.data.readableBytesView)) {
            id = frame.requestID
        }
        await connection.reply(id, error: error)
        try? await outbound.close(closeCode, reason: error.code.name)
    }

    /// Starts the relay in a task and returns once its port is bound (tests and benchmarks).
    public func start() async throws -> RunningRelay {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let group = try serviceGroup(signals: []) { port in continuation.yield(port) }
        let task = Task { try await group.run() }
        for await port in stream { return RunningRelay(port: port, group: group, task: task) }
        throw CancellationError()
    }
}

/// A relay started with `RelayServer.start()`.
public struct RunningRelay: Sendable {
    public let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// Graceful shutdown, as on SIGTERM; returns when the relay has stopped.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// Removes expired messages and blobs every `expirySweepSeconds`.
struct ExpirySweeper: Service {
    let relay: Relay

    func run() async throws {
        let interval = Duration.seconds(relay.configuration.expirySweepSeconds)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await relay.sweep()
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
        guard line.hasPrefix("caucus-relay listening on "), let range = line.range(of: "(port "),
              let end = line[range.upperBound...].firstIndex(of: ")")
        else { return nil }
        return Int(line[range.upperBound..<end])
    }

    public struct ListeningLineError: Error, CustomStringConvertible {
        public let text: String
        public var description: String { text }
    }
}
