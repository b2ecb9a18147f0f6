import CaucusIdentity
import CaucusLock
import CaucusProtocol
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Why a relay connection could not be used.
public enum RelayClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address is not a ws:// or wss:// URL.
    case invalidAddress(String)
    /// A wss:// address whose host is an IP address: TLS names the host (SNI), and a relay's
    /// certificate is made for a name.
    case tlsToAnIPAddress(String)
    /// The connection closed (or never opened) before the reply arrived.
    case connectionClosed(String)
    /// A SOCKS5 proxy is set and the connection through it failed (the proxy is down, refused
    /// the relay, or did not answer); no direct connection was tried.
    case proxyFailed(proxy: String, reason: String)
    /// The relay answered with something other than what the request expects.
    case unexpectedReply(String)
    /// The relay announced an address other than the one dialled.
    case addressMismatch(expected: String, announced: String)
    /// The relay did not answer `request` (the name of a request, such as `hello` or `send`)
    /// within `after`.
    case timedOut(relay: String, request: String, after: Duration)
    /// The relay sent a frame that is not a `ServerFrame` of Protocol.md section 7; the
    /// connection was closed.
    case malformedFrame(relay: String, detail: String)

    public var description: String {
        switch self {
        case .invalidAddress(let url): "not a ws:// or wss:// address: \(url)"
        case .tlsToAnIPAddress(let url):
            "\(url): a wss:// address names the host the relay's certificate was made for, not an IP address; use that name "
                + "(in /etc/hosts if it has no DNS entry), or ws://IP:PORT for a relay without TLS"
        case .connectionClosed(let why): "connection to the relay closed: \(why)"
        case let .proxyFailed(proxy, reason):
            "no connection through the proxy \(proxy): \(reason) (caucus never connects directly while a proxy is set)"
        case .unexpectedReply(let what): "unexpected reply from the relay: \(what)"
        case .addressMismatch(let expected, let announced):
            "the relay calls itself \(announced), but \(expected) was dialled"
        case let .timedOut(relay, request, after):
            "the relay \(relay) did not answer \(request) within \(after.secondsText)"
        case let .malformedFrame(relay, detail):
            "the relay \(relay) sent \(detail); connection closed"
        }
    }
}

/// One WebSocket connection to a relay, speaking the wire protocol of Protocol.md section 7.
/// Requests may be made concurrently from any task; each returns its own reply or throws the
/// relay's `RelayError`. Deliveries and other pushes arrive on `pushes`.
public final class RelayClient: Sendable {
    /// Something the relay sent without being asked.
    public enum Push: Sendable {
        case delivery(Delivery)
        /// Every delivery the mailbox held when this connection authenticated has been pushed
        /// (`pushed` of them, on this connection, before this push).
        case queueEmpty(pushed: UInt64)
        /// The relay holds fewer one-time prekeys (`remaining`) or one-time KEM prekeys
        /// (`kemRemaining`) for this device than it warns at (§7.5).
        case prekeysLow(remaining: UInt32, kemRemaining: UInt32)
        /// An error about a frame whose id could not be read, or a shutdown notice.
        case error(RelayError)
    }

    /// A request waiting for its reply, and when it stops waiting. One sweeper per client fails
    /// the requests past their deadline (a timer task per request cost a busy client more than
    /// the request itself).
    private struct Pending {
        let continuation: CheckedContinuation<WireServerFrame, any Error>
        let deadline: ContinuousClock.Instant
        let timeout: Duration
        let body: WireClientFrame.OneOf_Body
    }

    /// How often the sweeper looks for requests past their deadline.
    static let sweepInterval = Duration.milliseconds(250)

    private struct State {
        var outbound: WebSocketOutboundWriter?
        var pending: [UInt64: Pending] = [:]
        var closedReason: String?
        /// A refusal the relay pushed before closing (CONNECTION_LIMIT, SHUTTING_DOWN): requests
        /// still waiting, and later ones, fail with it rather than with a bare "closed".
        var refusal: RelayError?
        /// The frame that broke the protocol, when one did: requests fail with it.
        var violation: RelayClientError?
    }

    /// The address as dialled, normalised (what authentication signs).
    public let address: String
    /// How long each request waits for its reply before failing with `timedOut`.
    public let requestTimeout: Duration
    /// Pushes from the relay, in the order they arrived.
    public let pushes: AsyncStream<Push>
    private let pushContinuation: AsyncStream<Push>.Continuation
    private let state = Locked(State())
    private let nextID = Atomic<UInt64>(1)
    private let runTask = Locked<Task<Void, Never>?>(nil)
    private let sweeper = Locked<Task<Void, Never>?>(nil)
    private let welcomeState = Locked<WireWelcome?>(nil)
    private let authenticatedState = Locked<WireAuthenticated?>(nil)

    private init(address: String, requestTimeout: Duration) {
        self.address = address
        self.requestTimeout = requestTimeout
        (pushes, pushContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// What the relay said in Welcome, once `hello` has run.
    public var welcome: WireWelcome? { welcomeState.withLock { $0 } }

    /// What the relay said on authentication, when `connect` made this connection.
    public var authenticated: WireAuthenticated? { authenticatedState.withLock { $0 } }

    // MARK: Connecting

    /// Opens a connection, negotiates the version and authenticates with `deviceKey`. The whole
    /// handshake (socket, TLS, WebSocket, Hello, Authenticate) must finish within `timeout`; each
    /// later request waits at most `requestTimeout` for its reply (Protocol.md section 7.13).
    public static func connect(
        url: String, deviceKey: Ed25519.PrivateKey, tls: TLSConfiguration? = nil, proxy: SOCKSProxy? = nil,
        timeout: Duration = .seconds(15), requestTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "caucus.relay-client")
    ) async throws -> RelayClient {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let client = try await open(url: url, tls: tls, proxy: proxy, timeout: timeout, requestTimeout: requestTimeout, logger: logger)
        do {
            let welcome = try await client.hello(timeout: max(deadline - clock.now, .zero))
            guard RelayProtocol.normalizedAddress(welcome.relayAddress) == client.address else {
                throw RelayClientError.addressMismatch(expected: client.address, announced: welcome.relayAddress)
            }
            let request = client.authenticationRequest(deviceKey: deviceKey)
            let reply = try await client.request(.authenticate(request), timeout: max(deadline - clock.now, .zero))
            guard case .authenticated(let authenticated) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
            client.authenticatedState.withLock { $0 = authenticated }
            return client
        } catch RelayClientError.timedOut(let relay, let request, _) {
            // Each step had what was left of the handshake's time; the error gives the whole of it.
            await client.close()
            throw RelayClientError.timedOut(relay: relay, request: request, after: timeout)
        } catch {
            await client.close()
            throw error
        }
    }

    /// Whether a normalised address is wss:// to an IP address, which cannot work: TLS sends the
    /// host name (SNI), which may not be an IP address, and certificates are made for names.
    public static func isTLSToAnIPAddress(_ address: String) -> Bool {
        guard address.hasPrefix("wss://"), let host = URLComponents(string: address)?.host else { return false }
        return host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// Opens the WebSocket only (tests drive the handshake themselves). Fails with
    /// `connectionClosed` when the socket, TLS and WebSocket handshakes take longer than
    /// `timeout`. With `proxy`, the socket goes to the SOCKS5 proxy, which is given the relay's
    /// host name to resolve and connect to (nothing is resolved here); if that fails the error
    /// is `proxyFailed`, and no direct connection is ever tried.
    public static func open(url: String, tls: TLSConfiguration? = nil, proxy: SOCKSProxy? = nil, timeout: Duration = .seconds(15),
                            requestTimeout: Duration = .seconds(30),
                            logger: Logger = Logger(label: "caucus.relay-client")) async throws -> RelayClient {
        guard let address = RelayProtocol.normalizedAddress(url) else { throw RelayClientError.invalidAddress(url) }
        if isTLSToAnIPAddress(address) { throw RelayClientError.tlsToAnIPAddress(url) }
        let client = RelayClient(address: address, requestTimeout: requestTimeout)
        let endpoint = address + RelayProtocol.path
        let (opened, openedContinuation) = AsyncStream<Result<Void, any Error>>.makeStream()
        let task = Task {
            do {
                let handler: WebSocketDataHandler<WebSocketClient.Context> = { inbound, outbound, _ in
                    client.state.withLock { $0.outbound = outbound }
                    openedContinuation.yield(.success(()))
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        switch message {
                        case .binary(let buffer): client.received(Array(buffer.readableBytesView))
                        case .text: client.violated("a text message")
                        }
                    }
                }
                if let proxy {
                    try await WebSocketClient.connect(
                        url: endpoint, configuration: .init(maxFrameSize: 1 << 24), tlsConfiguration: tls,
                        proxySettings: WebSocketProxySettings(host: proxy.host, port: proxy.port, type: .socks, timeout: timeout),
                        logger: logger, handler: handler)
                } else {
                    try await WebSocketClient.connect(
                        url: endpoint, configuration: .init(maxFrameSize: 1 << 24), tlsConfiguration: tls, logger: logger, handler: handler)
                }
                client.ended("closed by the relay")
            } catch {
                client.ended("\(error)")
                openedContinuation.yield(.failure(proxy.map { RelayClientError.proxyFailed(proxy: $0.description, reason: "\(error)") } ?? error))
            }
            openedContinuation.finish()
        }
        client.runTask.withLock { $0 = task }
        client.startSweeper()
        let timer = Task {
            try await Task.sleep(for: timeout)
            openedContinuation.yield(.failure(RelayClientError.connectionClosed("no connection to \(address) within \(timeout.secondsText)")))
            task.cancel()
        }
        defer { timer.cancel() }
        for await result in opened {
            switch result {
            case .success: return client
            case .failure(let error as RelayClientError): throw error
            case .failure(let error): throw RelayClientError.connectionClosed("\(error)")
            }
        }
        throw RelayClientError.connectionClosed("the connection did not open")
    }

    /// The largest frame the relay takes, as its Welcome said; before the Welcome, the smallest
    /// `max_frame_bytes` a relay may announce (Protocol.md §7.9). Padding never passes it.
    private var frameLimit: Int {
        welcomeState.withLock { $0.map { Int($0.limits.maxFrameBytes) } } ?? RelayProtocol.minimumFrameBytes
    }

    /// Sends Hello (asking for `QueueEmpty` unless told not to, and for padded frames) and returns
    /// the relay's Welcome, waiting at most `timeout` (else `requestTimeout`).
    @discardableResult
    public func hello(versions: [UInt32] = [RelayProtocol.version], wantQueueEmpty: Bool = true,
                      timeout: Duration? = nil) async throws -> WireWelcome {
        let hello = WireHello.with {
            $0.versions = versions
            $0.client = "caucus/0.1"
            $0.wantQueueEmpty = wantQueueEmpty
            $0.padFrames = true
        }
        let reply = try await request(.hello(hello), timeout: timeout)
        guard case .welcome(let welcome) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        welcomeState.withLock { $0 = welcome }
        return welcome
    }

    /// Signs the Welcome's challenge (or `challenge`, in tests) and authenticates.
    @discardableResult
    public func authenticate(deviceKey: Ed25519.PrivateKey, challenge: Data? = nil,
                             relayAddress: String? = nil) async throws -> WireAuthenticated {
        let request = authenticationRequest(deviceKey: deviceKey, challenge: challenge, relayAddress: relayAddress)
        let reply = try await self.request(.authenticate(request))
        guard case .authenticated(let authenticated) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        return authenticated
    }

    /// The Authenticate request `authenticate` would send.
    public func authenticationRequest(deviceKey: Ed25519.PrivateKey, challenge: Data? = nil,
                                      relayAddress: String? = nil) -> WireAuthenticate {
        let challenge = challenge ?? welcome?.challenge ?? Data()
        let address = relayAddress ?? self.address
        let key = Data(deviceKey.publicKey.rawRepresentation)
        let statement = RelayProtocol.authenticationStatement(relayAddress: address, challenge: challenge, deviceKey: key)
        return WireAuthenticate.with {
            $0.deviceKey = key
            $0.challenge = challenge
            $0.relayAddress = address
            $0.signature = Data(deviceKey.signature(for: statement).rawRepresentation)
        }
    }

    // MARK: Requests

    /// Sends one request and waits for its reply, at most `timeout` (else `requestTimeout`), then
    /// fails with `timedOut`; an Error reply is thrown as `RelayError`.
    public func request(_ body: WireClientFrame.OneOf_Body, timeout: Duration? = nil) async throws -> WireServerFrame.OneOf_Body {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let timeout = timeout ?? requestTimeout
        var frame = WireClientFrame()
        frame.requestID = id
        frame.body = body
        var encoded: [UInt8] = try frame.serializedBytes()
        FramePadding.pad(&encoded, limit: frameLimit)
        let bytes = encoded
        let reply: WireServerFrame = try await withCheckedThrowingContinuation { continuation in
            let outbound: WebSocketOutboundWriter? = state.withLock { state in
                guard let outbound = state.outbound, state.closedReason == nil else {
                    continuation.resume(throwing: state.refusal ?? state.violation
                        ?? RelayClientError.connectionClosed(state.closedReason ?? "not open"))
                    return nil
                }
                state.pending[id] = Pending(continuation: continuation, deadline: .now + timeout, timeout: timeout,
                                            body: body)
                return outbound
            }
            guard let outbound else { return }
            Task {
                do {
                    try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                } catch {
                    self.fail(id, self.state.withLock { $0.refusal } ?? RelayClientError.connectionClosed("\(error)"))
                }
            }
        }
        if case .error(let error) = reply.body { throw RelayError(error) }
        guard let body = reply.body else { throw RelayClientError.unexpectedReply("an empty frame") }
        return body
    }

    /// The request's kind as Protocol.md names it in errors (`hello`, `send`, ...).
    private static func name(of body: WireClientFrame.OneOf_Body) -> String {
        Mirror(reflecting: body).children.first?.label ?? "a request"
    }

    /// Sends raw bytes as one binary message (tests of malformed input).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await writer().write(.binary(ByteBuffer(bytes: bytes)))
    }

    /// Sends a text message (not part of the protocol; tests of bad input).
    public func sendText(_ text: String) async throws {
        try await writer().write(.text(text))
    }

    private func writer() throws -> WebSocketOutboundWriter {
        guard let outbound = state.withLock({ $0.closedReason == nil ? $0.outbound : nil }) else {
            throw RelayClientError.connectionClosed("not open")
        }
        return outbound
    }

    /// Why the connection ended, once it has.
    public var closeReason: String? { state.withLock { $0.closedReason } }

    /// Whether the connection is still open.
    public var isOpen: Bool { state.withLock { $0.closedReason == nil && $0.outbound != nil } }

    /// Closes the connection; waiting requests fail with `connectionClosed`.
    public func close() async {
        let outbound = state.withLock { $0.outbound }
        try? await outbound?.close(.normalClosure, reason: nil)
        guard let task = runTask.withLock({ $0 }) else { return ended("closed by the client") }
        // The closing handshake normally takes a round trip; a relay that never answers it is
        // given 3 seconds, then the socket is dropped.
        let timer = Task {
            try await Task.sleep(for: .seconds(3))
            task.cancel()
        }
        await task.value
        timer.cancel()
        ended("closed by the client")
    }

    // MARK: Frames in

    private func received(_ bytes: [UInt8]) {
        guard let frame = try? WireServerFrame(serializedBytes: bytes) else {
            return violated("an undecodable frame of \(bytes.count) bytes")
        }
        if frame.requestID != 0 {
            // A reply to no waiting request (one that timed out, or never made) is dropped.
            guard let pending = state.withLock({ $0.pending.removeValue(forKey: frame.requestID) }) else { return }
            pending.continuation.resume(returning: frame)
            return
        }
        switch frame.body {
        case .delivery(let delivery): pushContinuation.yield(.delivery(Delivery(delivery)))
        case .queueEmpty(let empty): pushContinuation.yield(.queueEmpty(pushed: empty.pushed))
        case .prekeysLow(let low): pushContinuation.yield(.prekeysLow(remaining: low.remaining, kemRemaining: low.kemRemaining))
        case .error(let wire):
            let error = RelayError(wire)
            if error.code == .connectionLimit || error.code == .shuttingDown {
                state.withLock { $0.refusal = error }
            }
            pushContinuation.yield(.error(error))
        default: break
        }
    }

    /// A frame no relay speaking this protocol sends: waiting requests fail with
    /// `malformedFrame` and the connection closes (Protocol.md section 7.13).
    private func violated(_ what: String) {
        let error = RelayClientError.malformedFrame(relay: address, detail: what)
        state.withLock { if $0.violation == nil { $0.violation = error } }
        ended("\(error)")
        Task { await self.close() }
    }

    private func fail(_ id: UInt64, _ error: any Error) {
        let pending = state.withLock { $0.pending.removeValue(forKey: id) }
        pending?.continuation.resume(throwing: error)
    }

    /// Fails the requests whose deadline has passed.
    private func failExpired() {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [Pending] in
            let ids = state.pending.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.pending.removeValue(forKey: $0) }
        }
        for pending in expired {
            pending.continuation.resume(throwing: RelayClientError.timedOut(
                relay: address, request: Self.name(of: pending.body), after: pending.timeout))
        }
    }

    /// Runs `failExpired` every `sweepInterval` while the client exists and is open.
    private func startSweeper() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.sweepInterval)
                guard let self, self.state.withLock({ $0.closedReason == nil }) else { return }
                self.failExpired()
            }
        }
        sweeper.withLock { $0 = task }
    }

    private func ended(_ reason: String) {
        let (pending, failure) = state.withLock { state -> ([Pending], (any Error)?) in
            if state.closedReason == nil { state.closedReason = reason }
            defer { state.pending = [:] }
            return (Array(state.pending.values), state.refusal ?? state.violation)
        }
        let error: any Error = failure ?? RelayClientError.connectionClosed(reason)
        sweeper.withLock { $0?.cancel() }
        for waiting in pending {
            waiting.continuation.resume(throwing: error)
        }
        pushContinuation.finish()
    }
}

extension Duration {
    /// Whole seconds, or milliseconds below a second, as errors print them ("15 s", "200 ms").
    public var secondsText: String {
        let (seconds, attoseconds) = components
        if seconds == 0 { return "\(attoseconds / 1_000_000_000_000_000) ms" }
        return "\(seconds) s"
    }
}
