import CaucusLock
import CaucusProtocol
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle

/// A listening socket of the relay as a service. The clients' listener speaks HTTP/1.1 (optionally
/// over TLS) with the WebSocket upgrade on `/v1/ws`, and `/healthz`; the operators' listener (its
/// own address, plain HTTP) serves `/metrics` and `/healthz`. On graceful shutdown (after the
/// relay has told its clients, see `ShutdownWatcher`) it stops accepting and closes what is still
/// open.
struct RelayListener: Service {
    enum Role: Sendable { case clients, operators }

    let relay: Relay
    let role: Role
    let sslContext: NIOSSLContext?
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    let onBound: @Sendable (Int) async -> Void

    /// Bytes queued for a socket above which the relay stops reading from it and pushes wait;
    /// writing resumes below the low mark.
    static let writeBuffer = ChannelOptions.Types.WriteBufferWaterMark(low: 256 << 10, high: 1 << 20)

    init(relay: Relay, role: Role = .clients, tls: TLSConfiguration?, logger: Logger, eventLoopGroup: any EventLoopGroup,
         onBound: @escaping @Sendable (Int) async -> Void) throws {
        self.relay = relay
        self.role = role
        self.sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.onBound = onBound
    }

    func run() async throws {
        let relay = self.relay, logger = self.logger, sslContext = self.sslContext, role = self.role
        let configuration = relay.configuration
        let (host, port) = switch role {
        case .clients: (configuration.host, configuration.port)
        case .operators: (configuration.metricsHost, configuration.metricsPort ?? 0)
        }
        let open = Locked<[ObjectIdentifier: any Channel]>([:])
        // The WebSocket layer's own limit is a backstop well above the relay's, so that an
        // oversize message reaches the relay and is answered with FRAME_TOO_LARGE.
        let maxWebSocketFrame = max(configuration.maxFrameBytes * 2, 1 << 16)
        let server = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: Self.writeBuffer)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = ObjectIdentifier(channel)
                    open.withLock { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in open.withLock { _ = $0.removeValue(forKey: id) } }
                    switch role {
                    case .clients:
                        try Self.setUp(channel, relay: relay, sslContext: sslContext, maxWebSocketFrame: maxWebSocketFrame,
                                       logger: logger)
                    case .operators:
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(RelayHTTPHandler(relay: relay, servesMetrics: true))
                    }
                }
            }
            .bind(host: host, port: port)
            .get()
        let bound = server.localAddress?.port ?? port
        let shownHost = host.contains(":") ? "[\(host)]" : host
        switch role {
        case .clients:
            let scheme = sslContext == nil ? "ws" : "wss"
            relay.useDefaultAddress("\(scheme)://\(shownHost):\(bound)")
            relay.logger.info("relay listening", metadata: [
                "address": "\(relay.publicAddresses.first ?? "")", "port": "\(bound)",
            ])
        case .operators:
            relay.logger.info("metrics listening", metadata: ["address": "http://\(shownHost):\(bound)/metrics"])
        }
        await onBound(bound)
        // Runs until graceful shutdown (or cancellation), then closes everything.
        try? await gracefulShutdown()
        try? await server.close()
        let remaining = open.withLock { Array($0.values) }
        for channel in remaining {
            try? await channel.close()
        }
    }

    /// The pipeline of a new connection: TLS when configured, HTTP/1.1, and the upgrade to the
    /// relay's WebSocket handler on `/v1/ws`.
    private static func setUp(_ channel: any Channel, relay: Relay, sslContext: NIOSSLContext?, maxWebSocketFrame: Int,
                              logger: Logger) throws {
        let pipeline = channel.pipeline.syncOperations
        if let sslContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
        }
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxWebSocketFrame,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                return channel.eventLoop.makeSucceededFuture(path == RelayProtocol.path ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        WebSocketRelayHandler(relay: relay, channel: channel, logger: logger))
                }
            })
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                context.pipeline.removeHandler(name: RelayHTTPHandler.name, promise: nil)
            }))
        try pipeline.addHandler(RelayHTTPHandler(relay: relay, servesMetrics: false), name: RelayHTTPHandler.name)
    }
}

/// Plain HTTP requests: `GET /healthz`, and on the operators' listener `GET /metrics`; anything
/// else is 404 (and `/v1/ws` on the clients' listener without a WebSocket upgrade, 426).
final class RelayHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "caucus.relay.http"

    private let relay: Relay
    private let servesMetrics: Bool
    private var head: HTTPRequestHead?
    /// Requests read but not yet answered, in order (a client may send the next before the
    /// answer to the last: `/metrics` is answered once the store's figures are read).
    private var waiting: [HTTPRequestHead] = []
    private var answering = false

    init(relay: Relay, servesMetrics: Bool) {
        self.relay = relay
        self.servesMetrics = servesMetrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            waiting.append(head)
            answerNext(context: context)
        }
    }

    private func answerNext(context: ChannelHandlerContext) {
        guard !answering, !waiting.isEmpty else { return }
        let head = waiting.removeFirst()
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case (.GET, "/healthz"):
            let healthy = !relay.isShuttingDown
            respond(to: head, status: healthy ? .ok : .serviceUnavailable, contentType: "text/plain",
                    body: healthy ? "ok\n" : "shutting down\n", context: context)
        case (.GET, "/metrics") where servesMetrics:
            answering = true
            let relay = self.relay
            let promise = context.eventLoop.makePromise(of: String.self)
            promise.completeWithTask { await relay.metricsTextWithStore() }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { body in
                let (handler, context) = bound.value
                handler.answering = false
                handler.respond(to: head, status: .ok, contentType: "text/plain; version=0.0.4", body: body, context: context)
                handler.answerNext(context: context)
            }
        case (_, RelayProtocol.path) where !servesMetrics:
            respond(to: head, status: .upgradeRequired, contentType: "text/plain",
                    body: "this path takes WebSocket connections only\n", context: context)
        default:
            respond(to: head, status: .notFound, contentType: "text/plain", body: "not found\n", context: context)
        }
        answerNext(context: context)
    }

    private func respond(to head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: String,
                         context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if status == .upgradeRequired { headers.add(name: "Upgrade", value: "websocket") }
        let keepAlive = head.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
