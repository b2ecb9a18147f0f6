import CaucusLock
import CaucusProtocol
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// One WebSocket connection on its event loop: assembles fragmented messages (refusing those over
/// the frame limit without keeping them), hands each to its `RelayConnection`, answers pings,
/// pings the peer, and closes. Reading stops while the peer does not read what is sent to it, or
/// while the connection has a full queue of messages waiting for their turn.
final class WebSocketRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// A connection the relay does not take: the error for its first frame, and the close code.
    struct Refusal {
        let error: RelayError
        let closeCode: UInt16
    }

    /// How long a refused connection may stay silent before it is told and closed.
    static let refusalWait = TimeAmount.seconds(5)

    private let relay: Relay
    private let logger: Logger
    private let transport: WebSocketRelayTransport
    private var connection: RelayConnection?
    private var refusal: Refusal?
    private var context: ChannelHandlerContext?

    // The message being assembled from fragments.
    private var message: [UInt8] = []
    private var isText = false
    private var oversize = 0
    private var inMessage = false

    /// A read NIO asked for while reading was off.
    private var readPending = false
    /// True while the connection's queue of waiting messages is full.
    private var pauseReading = false
    /// Pongs were written during this read and wait for its end to be flushed.
    private var needsFlush = false
    private var awaitingPong = false
    private var closing = false
    private var pingTask: RepeatedTask?
    private var refusalTimer: Scheduled<Void>?
    private var handshakeTimer: Scheduled<Void>?

    init(relay: Relay, channel: any Channel, logger: Logger) {
        self.relay = relay
        self.logger = logger
        self.transport = WebSocketRelayTransport(channel: channel)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        transport.attach(self, eventLoop: context.eventLoop)
        let connection = RelayConnection(relay: relay, logger: logger, transport: transport)
        // A connection the relay cannot take is refused in answer to its first frame (normally
        // Hello), so the client reads a typed error as the reply to its own request.
        if !relay.open(connection) {
            logger.info("connection refused: connection limit reached", metadata: [
                "code": "\(WireErrorCode.connectionLimit.name)", "limit": "\(relay.configuration.maxConnections)"])
            refuse(Refusal(error: RelayError(.connectionLimit,
                "the relay has \(relay.configuration.maxConnections) connections; try again later",
                retryAfterMilliseconds: 5_000), closeCode: CloseCode.tryAgainLater), context: context)
            return
        }
        self.connection = connection
        if relay.isShuttingDown {
            refuse(Refusal(error: RelayError(.shuttingDown, "the relay is shutting down", retryAfterMilliseconds: 1_000),
                           closeCode: CloseCode.goingAway), context: context)
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        // A connection that has not authenticated in time holds a slot for nothing: it is closed.
        let bound = TimeAmount.nanoseconds(Int64(relay.configuration.handshakeTimeoutSeconds * 1_000_000_000))
        handshakeTimer = context.eventLoop.scheduleTask(in: bound) {
            loopBound.value.closeIfUnauthenticated()
        }
        // A connection whose pong has not come by the next ping is closed.
        let interval = TimeAmount.nanoseconds(Int64(relay.configuration.pingIntervalSeconds * 1_000_000_000))
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.ping()
        }
    }

    private func closeIfUnauthenticated() {
        guard let connection, !connection.isAuthenticated else { return }
        logger.debug("no authentication in time; closing")
        close(code: CloseCode.policyViolation, reason: "not authenticated in time")
    }

    private func refuse(_ refusal: Refusal, context: ChannelHandlerContext) {
        self.refusal = refusal
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        refusalTimer = context.eventLoop.scheduleTask(in: Self.refusalWait) {
            loopBound.value.sendRefusal(requestID: 0)
        }
    }

    private func sendRefusal(requestID: UInt64) {
        guard let refusal, !closing else { return }
        refusalTimer?.cancel()
        relay.metrics.error(refusal.error.code)
        var frame = WireServerFrame()
        frame.requestID = requestID
        frame.body = .error(refusal.error.wire)
        // Before any Hello: nothing asked for padding (Protocol.md §7.1).
        write([frame], padded: false)
        close(code: refusal.closeCode, reason: refusal.error.code.name)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ended()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended()
        context.fireChannelInactive()
    }

    private func ended() {
        pingTask?.cancel()
        pingTask = nil
        refusalTimer?.cancel()
        refusalTimer = nil
        handshakeTimer?.cancel()
        handshakeTimer = nil
        transport.detach()
        connection?.ended()
        connection = nil
        context = nil
    }

    // MARK: Frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            received(frame, context: context)
        case .ping:
            guard frame.fin else { return close(code: CloseCode.protocolError, reason: "fragmented ping") }
            guard !closing else { return }
            // Flushed with whatever else this read produced (channelReadComplete).
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            needsFlush = true
        case .pong:
            awaitingPong = false
        case .connectionClose:
            if closing {
                context.close(promise: nil)
            } else {
                // Answer with the peer's code (RFC 6455 §5.5.1), then close.
                var data = frame.unmaskedData
                let code = data.readSlice(length: 2) ?? ByteBuffer()
                closing = true
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                    .whenComplete { _ in channel.close(promise: nil) }
            }
        default:
            close(code: CloseCode.protocolError, reason: "unknown opcode")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func received(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        switch frame.opcode {
        case .text, .binary:
            guard !inMessage else { return close(code: CloseCode.protocolError, reason: "a new message inside a fragmented one") }
            message.removeAll(keepingCapacity: message.capacity <= 1 << 16)
            isText = frame.opcode == .text
            oversize = 0
            inMessage = true
        default:
            guard inMessage else { return close(code: CloseCode.protocolError, reason: "a continuation without a message") }
        }
        let length = frame.data.readableBytes
        if oversize == 0 && message.count + length <= relay.configuration.maxFrameBytes {
            Self.appendUnmasked(frame.data, key: frame.maskKey, to: &message)
        } else {
            oversize = (oversize == 0 ? message.count : oversize) + length
            message.removeAll()
        }
        guard frame.fin else { return }
        inMessage = false
        if refusal != nil {
            // The first message of a refused connection: answer it by its id when it has one.
            let id = isText || oversize > 0 ? 0 : (try? WireClientFrame(serializedBytes: message))?.requestID ?? 0
            return sendRefusal(requestID: id)
        }
        guard let connection else { return }
        let inbound: InboundMessage = if oversize > 0 { .oversize(oversize) } else if isText { .text } else { .binary(message) }
        message = []
        if !connection.receive(inbound) { pauseReading = true }
    }

    /// Appends `data` to `message`, unmasking it with the frame's key: eight bytes at a time.
    static func appendUnmasked(_ data: ByteBuffer, key: WebSocketMaskingKey?, to message: inout [UInt8]) {
        let start = message.count
        message.append(contentsOf: data.readableBytesView)
        guard let key else { return }
        let mask32 = UInt32(key[0]) | UInt32(key[1]) << 8 | UInt32(key[2]) << 16 | UInt32(key[3]) << 24
        let mask64 = UInt64(mask32) | UInt64(mask32) << 32
        message.withUnsafeMutableBytes { raw in
            let bytes = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            var index = 0
            while index + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                bytes.storeBytes(of: word ^ mask64, toByteOffset: index, as: UInt64.self)
                index += 8
            }
            while index < bytes.count {
                bytes[index] ^= key[index & 3]
                index += 1
            }
        }
    }

    // MARK: Reading on and off

    func read(context: ChannelHandlerContext) {
        if pauseReading || !context.channel.isWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        transport.writabilityChanged(writable)
        if writable { readIfPending() }
        context.fireChannelWritabilityChanged()
    }

    /// The connection's queue has room again.
    func resumeReading() {
        pauseReading = false
        readIfPending()
    }

    private func readIfPending() {
        guard readPending, !pauseReading, let context, context.channel.isWritable else { return }
        readPending = false
        context.read()
    }

    // MARK: Frames out

    /// Writes `frames` as binary messages, each padded to its size class when `padded`
    /// (Protocol.md §7.1), and flushes once.
    func write(_ frames: [WireServerFrame], padded: Bool) {
        guard let context, !closing else { return }
        for frame in frames {
            do {
                var bytes: [UInt8] = try frame.serializedBytes()
                if padded { FramePadding.pad(&bytes) }
                let buffer = context.channel.allocator.buffer(bytes: bytes)
                context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: buffer)), promise: nil)
            } catch {
                logger.error("a reply could not be encoded", metadata: ["error": "\(type(of: error))"])
            }
        }
        context.flush()
    }

    /// Sends a close frame and closes the connection once it is written.
    func close(code: UInt16, reason: String) {
        guard let context, !closing else { return }
        closing = true
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code)
        data.writeString(String(reason.utf8.prefix(123)) ?? "")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    private func ping() {
        guard let context, !closing else { return }
        if awaitingPong {
            logger.debug("no pong within the ping interval; closing")
            return close(code: CloseCode.goingAway, reason: "ping timeout")
        }
        awaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection ended", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

/// A whole WebSocket message, as the connection receives it.
package enum InboundMessage: Sendable {
    case binary([UInt8])
    /// A text message (not part of the protocol).
    case text
    /// A message over the frame limit, discarded unread; its size so far.
    case oversize(Int)
}

/// The thread-safe side of a `WebSocketRelayHandler`: frames from any thread are gathered and
/// written on the channel's event loop, all those gathered with one flush.
final class WebSocketRelayTransport: RelayTransport {
    private struct State {
        var frames: [WireServerFrame] = []
        var scheduled = false
        var padded = false
        var closed = false
        var writable = true
        var writableWaiters: [CheckedContinuation<Void, Never>] = []
        var handler: NIOLoopBound<WebSocketRelayHandler>?
        var eventLoop: (any EventLoop)?
    }

    private let state = Locked(State())
    private let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Called on the event loop once the handler is in the pipeline.
    func attach(_ handler: WebSocketRelayHandler, eventLoop: any EventLoop) {
        state.withLock {
            $0.handler = NIOLoopBound(handler, eventLoop: eventLoop)
            $0.eventLoop = eventLoop
        }
    }

    /// Called on the event loop when the connection is gone: nothing more is sent, waiters go on.
    func detach() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            state.handler = nil
            state.frames = []
            defer { state.writableWaiters = [] }
            return state.writableWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func writabilityChanged(_ writable: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.writable = writable
            guard writable else { return [] }
            defer { state.writableWaiters = [] }
            return state.writableWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func send(_ frames: [WireServerFrame]) -> Bool {
        let (queued, eventLoop) = state.withLock { state -> (Bool, (any EventLoop)?) in
            guard !state.closed else { return (false, nil) }
            state.frames.append(contentsOf: frames)
            if state.scheduled { return (true, nil) }
            state.scheduled = true
            return (true, state.eventLoop)
        }
        eventLoop?.execute { self.flushQueued() }
        return queued
    }

    func padFrames() {
        state.withLock { $0.padded = true }
    }

    /// On the event loop: writes what was gathered.
    private func flushQueued() {
        let (frames, padded, handler) = state.withLock { state in
            state.scheduled = false
            defer { state.frames.removeAll(keepingCapacity: true) }
            return (state.frames, state.padded, state.handler)
        }
        handler?.value.write(frames, padded: padded)
    }

    func writable() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.closed || state.writable { return true }
                state.writableWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    var isWritable: Bool {
        state.withLock { $0.closed || $0.writable }
    }

    func resumeReading() {
        guard let eventLoop = state.withLock({ $0.closed ? nil : $0.eventLoop }) else { return }
        eventLoop.execute {
            self.state.withLock { $0.handler }?.value.resumeReading()
        }
    }

    func close(code: UInt16, reason: String) {
        guard let eventLoop = state.withLock({ $0.closed ? nil : $0.eventLoop }) else { return }
        eventLoop.execute {
            // Whatever was queued before the close goes first.
            self.flushQueued()
            self.state.withLock { $0.handler }?.value.close(code: code, reason: reason)
        }
    }
}
