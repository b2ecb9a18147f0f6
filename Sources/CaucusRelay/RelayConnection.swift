import CaucusIdentity
import CaucusLock
import CaucusProtocol
import Foundation
import Logging

/// One client connection: the hello/authenticate handshake, then requests answered in any order
/// (each exactly once, by id) and deliveries pushed as they are committed. Package-visible so that
/// the fuzz targets can feed it frames without a socket.
package final class RelayConnection: Sendable {
    enum Phase: Sendable {
        case new
        case welcomed(challenge: Data, at: ContinuousClock.Instant)
        case authenticated(device: Data, address: String, challenge: Data)
    }

    private struct State {
        var phase: Phase = .new
        var openInboxes: Set<Data> = []
        var unauthenticatedFrames = 0
        var inFlight = 0
        var shuttingDown = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var capacityWaiters: [CheckedContinuation<Void, Never>] = []
        var pushTask: Task<Void, Never>?
    }

    /// How long a push loop waits before reading the store again after a failed read.
    static let pushRetryDelay = Duration.seconds(1)

    /// Frames a connection may send before it authenticates.
    static let unauthenticatedFrameLimit = 32

    let relay: Relay
    private let sendFrame: @Sendable (WireServerFrame) async throws -> Void
    private let closeConnection: @Sendable (_ reason: String) async -> Void
    private let state = Locked(State())
    private let queue = PushQueue()
    private let replies = ReplyQueue()
    let logger: Logger

    package init(relay: Relay, logger: Logger,
         send: @escaping @Sendable (WireServerFrame) async throws -> Void,
         close: @escaping @Sendable (String) async -> Void) {
        self.relay = relay
        self.logger = logger
        self.sendFrame = send
        self.closeConnection = close
    }

    // MARK: Frames in

    /// Handles a WebSocket text message: not part of the protocol.
    func receivedText() async {
        if await overUnauthenticatedLimit(id: { 0 }) { return }
        await reply(0, error: RelayError(.malformedFrame, "text frames are not part of the protocol; send binary frames"))
    }

    /// Handles a message larger than the frame limit, which was discarded unread.
    func receivedOversize(_ size: Int) async {
        if await overUnauthenticatedLimit(id: { 0 }) { return }
        await reply(0, error: RelayError(.frameTooLarge,
            "a frame may hold at most \(relay.configuration.maxFrameBytes) bytes; this one held at least \(size)"))
    }

    /// Decodes and answers one binary frame. Returns only once the request is accepted for work;
    /// the reply may come later (requests after authentication run concurrently).
    package func received(_ bytes: [UInt8]) async {
        relay.metrics.framesIn.increment()
        if await overUnauthenticatedLimit(id: { (try? WireClientFrame(serializedBytes: bytes))?.requestID ?? 0 }) {
            return
        }
        let frame: WireClientFrame
        do {
            frame = try WireClientFrame(serializedBytes: bytes)
        } catch {
            await reply(0, error: RelayError(.malformedFrame, "the frame is not a valid ClientFrame"))
            return
        }
        let id = frame.requestID
        guard id != 0 else {
            await reply(0, error: RelayError(.malformedFrame, "request_id must be nonzero"))
            return
        }
        guard let body = frame.body else {
            await reply(id, error: RelayError(.malformedFrame, "the frame carries no request"))
            return
        }

        let (phase, shuttingDown) = state.withLock { ($0.phase, $0.shuttingDown) }
        if shuttingDown {
            await reply(id, error: RelayError(.shuttingDown, "the relay is shutting down; reconnect shortly",
                                              retryAfterMilliseconds: 1_000))
            return
        }
        guard case .authenticated(let device, let address, let challenge) = phase else {
            await handshake(id, body, phase: phase)
            return
        }
        if case .ping(let ping) = body {
            await reply(id, .pong(WirePong.with { $0.data = ping.data }))
            return
        }
        if let wait = relay.limiter.take(device) {
            let ms = UInt32(clamping: wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
            await reply(id, error: RelayError(.rateLimited, "too many requests; slow down",
                                              retryAfterMilliseconds: max(ms, 1)))
            return
        }
        state.withLock { $0.inFlight += 1 }
        start(body, RequestContext(id: id, device: device, address: address, challenge: challenge))
    }

    /// Counts a frame that arrived before authentication, whatever it held. Past the limit it
    /// answers PROTOCOL_VIOLATION (to the frame's id when it can be read), closes, and returns true.
    private func overUnauthenticatedLimit(id: () -> UInt64) async -> Bool {
        let tooMany = state.withLock { state -> Bool in
            if case .authenticated = state.phase { return false }
            state.unauthenticatedFrames += 1
            return state.unauthenticatedFrames > Self.unauthenticatedFrameLimit
        }
        guard tooMany else { return false }
        await reply(id(), error: RelayError(.protocolViolation, "too many frames before authentication"))
        await closeConnection("too many frames before authentication")
        return true
    }

    private func finishedRequest() {
        let limit = relay.configuration.maxInFlightPerConnection
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            var waiters: [CheckedContinuation<Void, Never>] = []
            if state.inFlight < limit {
                waiters += state.capacityWaiters
                state.capacityWaiters = []
            }
            if state.inFlight == 0 {
                waiters += state.idleWaiters
                state.idleWaiters = []
            }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits while the connection has `maxInFlightPerConnection` requests in progress, so that a
    /// client pipelining requests is slowed by its socket rather than growing the relay's memory.
    package func waitForCapacity() async {
        let limit = relay.configuration.maxInFlightPerConnection
        await withCheckedContinuation { continuation in
            let free = state.withLock { state -> Bool in
                if state.inFlight < limit { return true }
                state.capacityWaiters.append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    private func waitIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if state.inFlight == 0 { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    // MARK: Handshake

    private func handshake(_ id: UInt64, _ body: WireClientFrame.OneOf_Body, phase: Phase) async {
        switch body {
        case .hello(let hello):
            guard case .new = phase else {
                await reply(id, error: RelayError(.protocolViolation, "Hello was already answered"))
                return
            }
            guard hello.versions.contains(RelayProtocol.version) else {
                await reply(id, error: RelayError(.unsupportedVersion,
                    "this relay speaks protocol version \(RelayProtocol.version) only; the client offered \(hello.versions)"))
                return
            }
            let (challenge, at) = relay.challenges.issue()
            state.withLock { $0.phase = .welcomed(challenge: challenge, at: at) }
            let configuration = relay.configuration
            await reply(id, .welcome(WireWelcome.with {
                $0.version = RelayProtocol.version
                $0.challenge = challenge
                $0.relayAddress = relay.publicAddresses.first ?? ""
                $0.serverTimeMs = UInt64(Date().timeIntervalSince1970 * 1000)
                $0.limits = WireLimits.with {
                    $0.maxFrameBytes = UInt32(configuration.maxFrameBytes)
                    $0.maxPayloadBytes = UInt32(configuration.maxPayloadBytes)
                    $0.maxRecipients = UInt32(configuration.maxRecipients)
                    $0.maxBlobBytes = configuration.storeLimits.maxBlobBytes
                    $0.maxBlobChunkBytes = UInt32(configuration.maxBlobChunkBytes)
                    $0.defaultTtlSeconds = configuration.defaultTTLSeconds
                    $0.maxTtlSeconds = configuration.maxTTLSeconds
                }
            }))
        case .authenticate(let request):
            guard case .welcomed(let challenge, let issuedAt) = phase else {
                await reply(id, error: RelayError(.protocolViolation, "send Hello and wait for Welcome before Authenticate"))
                return
            }
            do {
                let address = try checkAuthentication(request, challenge: challenge, issuedAt: issuedAt)
                await authenticated(id, device: request.deviceKey, address: address, challenge: challenge)
            } catch {
                relay.logger.notice("authentication refused", metadata: ["code": "\(error.code.name)"])
                await reply(id, error: error)
            }
        case .ping(let ping):
            await reply(id, .pong(WirePong.with { $0.data = ping.data }))
        default:
            await reply(id, error: RelayError(.unauthenticated, "authenticate before making requests"))
        }
    }

    private func checkAuthentication(_ request: WireAuthenticate, challenge: Data,
                                     issuedAt: ContinuousClock.Instant) throws(RelayError) -> String {
        guard request.deviceKey.count == RelayProtocol.keyLength,
              request.signature.count == RelayProtocol.signatureLength,
              request.challenge.count == RelayProtocol.challengeLength
        else { throw RelayError(.invalidArgument, "device_key must be 32 bytes, challenge 32, signature 64") }
        guard let address = RelayProtocol.normalizedAddress(request.relayAddress),
              relay.publicAddresses.contains(address)
        else {
            throw RelayError(.wrongRelayAddress,
                "this relay is \(relay.publicAddresses.joined(separator: ", ")), not \(request.relayAddress)")
        }
        guard request.challenge == challenge else {
            if relay.challenges.wasIssued(request.challenge) {
                throw RelayError(.replayedChallenge, "that challenge was issued to another connection")
            }
            throw RelayError(.staleChallenge, "that challenge is unknown or expired; use the one in Welcome")
        }
        guard ContinuousClock.now - issuedAt <= .seconds(relay.configuration.challengeLifetimeSeconds) else {
            throw RelayError(.staleChallenge, "the challenge expired; reconnect for a new one")
        }
        let statement = RelayProtocol.authenticationStatement(
            relayAddress: request.relayAddress, challenge: request.challenge, deviceKey: request.deviceKey)
        guard Self.verify(key: request.deviceKey, signature: request.signature, statement: statement) else {
            throw RelayError(.badSignature, "the signature does not verify with device_key")
        }
        return request.relayAddress
    }

    static func verify(key: Data, signature: Data, statement: CanonicalMessage) -> Bool {
        guard let key = try? Ed25519.PublicKey(rawRepresentation: Array(key)),
              let signature = try? Ed25519.Signature(rawRepresentation: Array(signature))
        else { return false }
        return key.isValidSignature(signature, for: statement)
    }

    private func authenticated(_ id: UInt64, device: Data, address: String, challenge: Data) async {
        let changed = state.withLock { state -> Bool in
            guard case .welcomed = state.phase, !state.shuttingDown else { return false }
            state.phase = .authenticated(device: device, address: address, challenge: challenge)
            return true
        }
        guard changed else {
            await reply(id, error: RelayError(.protocolViolation, "already authenticated"))
            return
        }
        relay.metrics.authenticated.increment()
        // Ends once `ended` closes the queue and what it held is written.
        Task { await self.writeReplies() }
        relay.hub.register(device, queue)
        let pending = (try? await relay.store.pendingCount(recipient: device)) ?? 0
        let prekeys = (try? await relay.store.oneTimePrekeyCount(owner: device)) ?? 0
        await reply(id, .authenticated(WireAuthenticated.with {
            $0.pendingMessages = UInt64(pending)
            $0.oneTimePrekeys = UInt32(prekeys)
        }))
        logger.debug("authenticated", metadata: ["device": "\(logTag(device))"])
        let task = Task { await self.pushLoop(device: device) }
        state.withLock { $0.pushTask = task }
    }

    // MARK: Pushes

    /// Sends the mailbox's backlog, then deliveries as they are committed. The cursor is the
    /// highest sequence sent; the store is read whenever the in-memory queue cannot be trusted.
    private func pushLoop(device: Data) async {
        var cursor: Int64 = 0
        var readStore = true
        while !Task.isCancelled {
            if readStore {
                while true {
                    let page: [StoredDelivery]
                    do {
                        page = try await relay.store.pendingDeliveries(recipient: device, afterSequence: cursor, limit: 256)
                    } catch {
                        // The store is unreachable (a database gone away): read again shortly.
                        // What is stored stays stored; a closed connection ends the loop.
                        if Task.isCancelled { return }
                        logger.warning("reading deliveries failed; retrying", metadata: ["error": "\(type(of: error))"])
                        try? await Task.sleep(for: Self.pushRetryDelay)
                        continue
                    }
                    do {
                        for delivery in page {
                            try await push(delivery)
                            cursor = delivery.sequence
                        }
                    } catch {
                        return
                    }
                    if page.count < 256 { break }
                }
                readStore = false
            }
            switch await queue.next() {
            case .stop:
                return
            case .readStore:
                readStore = true
            case .notices(let frames):
                for frame in frames { try? await sendFrame(frame) }
            case .deliver(let deliveries):
                do {
                    for delivery in deliveries where delivery.sequence > cursor {
                        try await push(delivery)
                        cursor = delivery.sequence
                    }
                } catch {
                    return
                }
            }
        }
    }

    private func push(_ delivery: StoredDelivery) async throws {
        // Expired but not yet swept: never delivered.
        guard delivery.expiresAt > Int64(Date().timeIntervalSince1970 * 1000) else { return }
        var frame = WireServerFrame()
        frame.delivery = WireDelivery.with {
            $0.messageID = delivery.messageID
            $0.sequence = UInt64(delivery.sequence)
            $0.payload = delivery.payload
            if let group = delivery.groupID { $0.groupID = group }
            $0.acceptedAtMs = UInt64(delivery.acceptedAt)
            $0.expiresAtMs = UInt64(delivery.expiresAt)
        }
        try await sendFrame(frame)
        relay.metrics.deliveriesPushed.increment()
    }

    // MARK: Replies

    /// Queues the reply to a request counted in `inFlight`; it stops counting once written.
    func queueReply(_ frame: WireServerFrame) {
        if !replies.append(frame) { finishedRequest() }
    }

    /// Writes queued replies until the connection is gone.
    private func writeReplies() async {
        while let frames = await replies.next() {
            for frame in frames {
                do {
                    try await sendFrame(frame)
                } catch {
                    logger.debug("reply not sent: connection closed")
                }
                finishedRequest()
            }
        }
    }

    func reply(_ id: UInt64, _ body: WireServerFrame.OneOf_Body) async {
        var frame = WireServerFrame()
        frame.requestID = id
        frame.body = body
        do {
            try await sendFrame(frame)
        } catch {
            logger.debug("reply not sent: connection closed")
        }
    }

    func reply(_ id: UInt64, error: RelayError) async {
        relay.metrics.error(error.code)
        await reply(id, .error(error.wire))
    }

    // MARK: Lifetime

    /// Called when the socket is gone.
    package func ended() {
        let (phase, task) = state.withLock { ($0.phase, $0.pushTask) }
        queue.close()
        replies.close()
        task?.cancel()
        if case .authenticated(let device, _, _) = phase { relay.hub.unregister(device, queue) }
        relay.closed(self)
    }

    /// Graceful shutdown: refuse new requests, wait for those in progress, say so, close.
    package func shutdown() async {
        state.withLock { $0.shuttingDown = true }
        await waitIdle()
        await reply(0, error: RelayError(.shuttingDown, "the relay is shutting down; reconnect shortly",
                                         retryAfterMilliseconds: 1_000))
        await closeConnection("relay shutting down")
    }

    // MARK: Inbox access (per connection)

    func openInbox(_ key: Data) { state.withLock { _ = $0.openInboxes.insert(key) } }
    func hasOpened(_ key: Data) -> Bool { state.withLock { $0.openInboxes.contains(key) } }
}

/// What a request handler knows about its request.
struct RequestContext: Sendable {
    let id: UInt64
    let device: Data
    let address: String
    let challenge: Data
}
