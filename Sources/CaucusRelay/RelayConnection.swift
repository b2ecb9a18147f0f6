import CaucusIdentity
import CaucusLock
import CaucusProtocol
import Foundation
import Logging

/// One client connection: the hello/authenticate handshake, then requests answered in any order
/// (each exactly once, by id) and deliveries pushed as they are committed. Package-visible so that
/// the fuzz targets can feed it frames without a socket.
///
/// Messages arrive in order through `receive`. Once the connection is authenticated, each is
/// handled at once on the thread that read it (sends and acknowledgements go to the group
/// committer, other requests to a task); the handshake, and messages that find the in-flight
/// window full, go through a queue that one task works off in order.
package final class RelayConnection: Sendable {
    enum Phase: Sendable {
        case new
        case welcomed(challenge: Data, at: ContinuousClock.Instant)
        /// `owner`: the identity whose device chain lists the device, or the device itself.
        case authenticated(device: Data, owner: Data, address: String, challenge: Data)
    }

    private struct State {
        var phase: Phase = .new
        /// The client's Hello asked for `QueueEmpty` after the backlog.
        var wantsQueueEmpty = false
        var openInboxes: Set<Data> = []
        var unauthenticatedFrames = 0
        var inFlight = 0
        var shuttingDown = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var capacityWaiters: [CheckedContinuation<Void, Never>] = []
        var pushTask: Task<Void, Never>?
        /// Messages waiting for their turn, in arrival order, and whether a task works them off.
        var waiting: [InboundMessage] = []
        var pumping = false
        /// True once `receive` asked the transport to stop reading (the queue was full).
        var readingPaused = false
    }

    /// Messages that may wait in the queue before reading from the socket stops.
    static let waitingLimit = 64

    /// How long a push loop waits before reading the store again after a failed read.
    static let pushRetryDelay = Duration.seconds(1)

    /// Frames a connection may send before it authenticates.
    static let unauthenticatedFrameLimit = 32

    /// The priority of a connection's tasks (requests, handshake, pushes). Above the default, so
    /// that on Linux they run on dispatch's threads for that priority: work of the default priority
    /// elsewhere in the process (the expiry sweep; in tests, the tests themselves) queues for the
    /// default threads, and a relay sharing them has left a handshake unanswered for seconds.
    static let taskPriority = TaskPriority.high

    let relay: Relay
    private let transport: any RelayTransport
    private let state = Locked(State())
    private let queue: PushQueue
    let logger: Logger

    package init(relay: Relay, logger: Logger, transport: any RelayTransport) {
        self.relay = relay
        self.logger = logger
        self.transport = transport
        let pushed = relay.metrics.deliveriesPushed
        self.queue = PushQueue(transport: transport) { pushed.increment(by: $0) }
    }

    // MARK: Messages in

    /// Takes the next message from the socket. Returns false when the queue of messages waiting
    /// for their turn is full: the caller stops reading until the transport's `resumeReading`.
    package func receive(_ message: InboundMessage) -> Bool {
        enum Route { case now([UInt8]), queued(startTask: Bool, room: Bool) }
        let limit = relay.configuration.maxInFlightPerConnection
        let route = state.withLock { state -> Route in
            if !state.pumping, state.waiting.isEmpty, !state.shuttingDown, state.inFlight < limit,
               case .authenticated = state.phase, case .binary(let bytes) = message {
                return .now(bytes)
            }
            state.waiting.append(message)
            let room = state.waiting.count < Self.waitingLimit
            if !room { state.readingPaused = true }
            if state.pumping { return .queued(startTask: false, room: room) }
            state.pumping = true
            return .queued(startTask: true, room: room)
        }
        switch route {
        case .now(let bytes):
            // Only an authenticated connection takes this path, and it has no handshake step left.
            let step = handle(bytes)
            assert(step == nil, "an authenticated connection returned a handshake step")
            return true
        case .queued(let startTask, let room):
            if startTask { Task(priority: Self.taskPriority) { await self.workOffWaiting() } }
            return room
        }
    }

    /// Works off the queued messages in order, then lets `receive` handle messages at once again.
    private func workOffWaiting() async {
        while true {
            let (next, resume) = state.withLock { state -> (InboundMessage?, Bool) in
                guard !state.waiting.isEmpty else {
                    state.pumping = false
                    defer { state.readingPaused = false }
                    return (nil, state.readingPaused)
                }
                let next = state.waiting.removeFirst()
                let resume = state.readingPaused && state.waiting.count < Self.waitingLimit / 2
                if resume { state.readingPaused = false }
                return (next, resume)
            }
            if resume { transport.resumeReading() }
            switch next {
            case .binary(let bytes)?:
                await waitForCapacity()
                await received(bytes)
            case .text?: receivedText()
            case .oversize(let size)?: receivedOversize(size)
            case nil: return
            }
        }
    }

    /// Handles a WebSocket text message: not part of the protocol.
    func receivedText() {
        if overUnauthenticatedLimit(id: { 0 }) { return }
        reply(0, error: RelayError(.malformedFrame, "text frames are not part of the protocol; send binary frames"))
    }

    /// Handles a message larger than the frame limit, which was discarded unread.
    func receivedOversize(_ size: Int) {
        if overUnauthenticatedLimit(id: { 0 }) { return }
        reply(0, error: RelayError(.frameTooLarge,
            "a frame may hold at most \(relay.configuration.maxFrameBytes) bytes; this one held at least \(size)"))
    }

    /// Decodes and answers one binary frame. Returns only once the request is accepted for work;
    /// the reply may come later (requests after authentication run concurrently).
    package func received(_ bytes: [UInt8]) async {
        if let handshake = handle(bytes) {
            await self.handshake(handshake.id, handshake.body, phase: handshake.phase)
        }
    }

    private struct HandshakeStep {
        let id: UInt64
        let body: WireClientFrame.OneOf_Body
        let phase: Phase
    }

    /// Decodes one binary frame and answers it or starts its work, except a handshake step, which
    /// it returns for the caller to run.
    private func handle(_ bytes: [UInt8]) -> HandshakeStep? {
        relay.metrics.framesIn.increment()
        if overUnauthenticatedLimit(id: { (try? WireClientFrame(serializedBytes: bytes))?.requestID ?? 0 }) {
            return nil
        }
        let frame: WireClientFrame
        do {
            frame = try WireClientFrame(serializedBytes: bytes)
        } catch {
            reply(0, error: RelayError(.malformedFrame, "the frame is not a valid ClientFrame"))
            return nil
        }
        let id = frame.requestID
        guard id != 0 else {
            reply(0, error: RelayError(.malformedFrame, "request_id must be nonzero"))
            return nil
        }
        guard let body = frame.body else {
            reply(id, error: RelayError(.malformedFrame, "the frame carries no request"))
            return nil
        }

        let (phase, shuttingDown) = state.withLock { ($0.phase, $0.shuttingDown) }
        if shuttingDown {
            reply(id, error: RelayError(.shuttingDown, "the relay is shutting down; reconnect shortly",
                                        retryAfterMilliseconds: 1_000))
            return nil
        }
        guard case .authenticated(let device, let owner, let address, let challenge) = phase else {
            return HandshakeStep(id: id, body: body, phase: phase)
        }
        if case .ping(let ping) = body {
            reply(id, .pong(WirePong.with { $0.data = ping.data }))
            return nil
        }
        // One rate for all the devices of an identity (Protocol.md §7.9).
        if let refusal = relay.limiter.take(owner) {
            let wait = refusal.wait
            let ms = UInt32(clamping: wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
            // Once per run of refusals: a client that keeps hammering writes one line, not one a request.
            if refusal.first {
                relay.logger.info("requests refused: rate limit reached", metadata: [
                    "code": "\(WireErrorCode.rateLimited.name)", "device": "\(logTag(device))"])
            }
            reply(id, error: RelayError(.rateLimited, "too many requests; slow down",
                                        retryAfterMilliseconds: max(ms, 1)))
            return nil
        }
        state.withLock { $0.inFlight += 1 }
        start(body, RequestContext(id: id, device: device, owner: owner, address: address, challenge: challenge))
        return nil
    }

    /// Counts a frame that arrived before authentication, whatever it held. Past the limit it
    /// answers PROTOCOL_VIOLATION (to the frame's id when it can be read), closes, and returns true.
    private func overUnauthenticatedLimit(id: () -> UInt64) -> Bool {
        let tooMany = state.withLock { state -> Bool in
            if case .authenticated = state.phase { return false }
            state.unauthenticatedFrames += 1
            return state.unauthenticatedFrames > Self.unauthenticatedFrameLimit
        }
        guard tooMany else { return false }
        reply(id(), error: RelayError(.protocolViolation, "too many frames before authentication"))
        transport.close(code: CloseCode.goingAway, reason: "too many frames before authentication")
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
                reply(id, error: RelayError(.protocolViolation, "Hello was already answered"))
                return
            }
            guard hello.versions.contains(RelayProtocol.version) else {
                reply(id, error: RelayError(.unsupportedVersion,
                    "this relay speaks protocol version \(RelayProtocol.version) only; the client offered \(hello.versions)"))
                return
            }
            let (challenge, at) = relay.challenges.issue()
            state.withLock {
                $0.phase = .welcomed(challenge: challenge, at: at)
                $0.wantsQueueEmpty = hello.wantQueueEmpty
            }
            if hello.padFrames { transport.padFrames() }
            let configuration = relay.configuration
            reply(id, .welcome(WireWelcome.with {
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
                reply(id, error: RelayError(.protocolViolation, "send Hello and wait for Welcome before Authenticate"))
                return
            }
            do {
                let address = try checkAuthentication(request, challenge: challenge, issuedAt: issuedAt)
                try await checkNotBanned(request.deviceKey)
                let owner = try await checkNotRevoked(request.deviceKey)
                await authenticated(id, device: request.deviceKey, owner: owner, address: address, challenge: challenge)
            } catch {
                relay.logger.info("authentication refused", metadata: [
                    "code": "\(error.code.name)", "device": "\(logTag(request.deviceKey))"])
                reply(id, error: error)
            }
        case .ping(let ping):
            reply(id, .pong(WirePong.with { $0.data = ping.data }))
        default:
            reply(id, error: RelayError(.unauthenticated, "authenticate before making requests"))
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

    /// The refusal of a device the operator banned (`caucus-relay ban`), at authentication and
    /// pushed before its open connections are closed (Protocol.md §7.3).
    static let banned = RelayError(.forbidden, "this device is banned from this relay by its operator")

    /// Refuses a banned device, read from the store at every authentication so that a ban made
    /// while the relay runs counts at once.
    private func checkNotBanned(_ device: Data) async throws(RelayError) {
        let isBanned: Bool
        do {
            isBanned = try await relay.store.isBanned(device)
        } catch {
            logger.error("reading the bans failed", metadata: ["error": "\(type(of: error))"])
            throw RelayError(.internal, "the relay could not complete the request; retry later")
        }
        if isBanned { throw Self.banned }
    }

    /// The refusal of a device its owner revoked (Protocol.md §7.3, §7.8), at authentication and
    /// pushed before its open connections are closed.
    static let revoked = RelayError(.forbidden, "this device was revoked by its owner")

    /// Refuses a device that its owner's device chain revoked; returns the identity the device
    /// speaks for (the device itself when no chain lists it).
    private func checkNotRevoked(_ device: Data) async throws(RelayError) -> Data {
        let status: DeviceStatus?
        do {
            status = try await relay.store.deviceStatus(device)
        } catch {
            logger.error("reading the device chains failed", metadata: ["error": "\(type(of: error))"])
            throw RelayError(.internal, "the relay could not complete the request; retry later")
        }
        if status?.revoked == true { throw Self.revoked }
        return status?.identity ?? device
    }

    static func verify(key: Data, signature: Data, statement: CanonicalMessage) -> Bool {
        guard let key = try? Ed25519.PublicKey(rawRepresentation: Array(key)),
              let signature = try? Ed25519.Signature(rawRepresentation: Array(signature))
        else { return false }
        return key.isValidSignature(signature, for: statement)
    }

    private func authenticated(_ id: UInt64, device: Data, owner: Data, address: String, challenge: Data) async {
        let changed = state.withLock { state -> Bool in
            guard case .welcomed = state.phase, !state.shuttingDown else { return false }
            state.phase = .authenticated(device: device, owner: owner, address: address, challenge: challenge)
            return true
        }
        guard changed else {
            reply(id, error: RelayError(.protocolViolation, "already authenticated"))
            return
        }
        relay.metrics.authenticated.increment()
        relay.hub.register(device, queue)
        let pending = (try? await relay.store.pendingCount(recipient: device)) ?? 0
        let prekeys = (try? await relay.store.prekeyCounts(owner: device)) ?? PrekeyCounts(oneTime: 0, kemOneTime: 0)
        reply(id, .authenticated(WireAuthenticated.with {
            $0.pendingMessages = UInt64(pending)
            $0.oneTimePrekeys = UInt32(prekeys.oneTime)
            $0.kemOneTimePrekeys = UInt32(prekeys.kemOneTime)
        }))
        logger.debug("authenticated", metadata: ["device": "\(logTag(device))"])
        let task = Task(priority: Self.taskPriority) { await self.pushLoop(device: device) }
        state.withLock { $0.pushTask = task }
    }

    // MARK: Pushes

    /// Sends the mailbox's backlog, then `QueueEmpty` (once, if the Hello asked for it), then
    /// deliveries as they are committed. The cursor is the highest sequence sent; the store is read whenever the
    /// in-memory queue cannot be trusted. Before each batch it waits until the device has read
    /// enough of what was sent before.
    private func pushLoop(device: Data) async {
        var cursor: Int64 = 0
        var readStore = true
        // Deliveries pushed before the first complete read of the store, and whether it was told.
        var backlog: UInt64 = 0
        var toldQueueEmpty = !state.withLock { $0.wantsQueueEmpty }
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
                    // The page goes out as the store gave it; the cursor is its last sequence.
                    guard let pushed = await push(page) else { return }
                    if !toldQueueEmpty { backlog += UInt64(pushed) }
                    if let last = page.last { cursor = last.sequence }
                    if page.count < 256 { break }
                }
                readStore = false
                if !toldQueueEmpty {
                    // Everything stored before this read has gone out ahead of it (Protocol.md §7.4).
                    var frame = WireServerFrame()
                    frame.queueEmpty = WireQueueEmpty.with { $0.pushed = backlog }
                    guard transport.send([frame]) else { return }
                    toldQueueEmpty = true
                }
            }
            let (work, sent) = await queue.next(after: cursor)
            cursor = sent
            switch work {
            case .stop:
                return
            case .readStore:
                readStore = true
            case .notices(let frames):
                await transport.writable()
                transport.send(frames)
            case .deliver(let deliveries):
                // Only those past the cursor: the store read may have sent the others.
                let fresh = deliveries.filter { $0.sequence > cursor }
                guard await push(fresh) != nil else { return }
                if let last = fresh.last { cursor = last.sequence }
            }
        }
    }

    /// Sends the deliveries that have not expired, in order, as one batch, and returns how many
    /// went out; nil once the connection is gone.
    private func push(_ deliveries: [StoredDelivery]) async -> Int? {
        guard !deliveries.isEmpty else { return 0 }
        await transport.writable()
        // Expired but not yet swept: never delivered.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var frames: [WireServerFrame] = []
        frames.reserveCapacity(deliveries.count)
        for delivery in deliveries {
            if let frame = PushQueue.frame(delivery, now: now) { frames.append(frame) }
        }
        guard !frames.isEmpty else { return 0 }
        guard transport.send(frames) else { return nil }
        relay.metrics.deliveriesPushed.increment(by: frames.count)
        return frames.count
    }

    // MARK: Replies

    /// Sends the reply to a request counted in `inFlight`, which stops counting it.
    func queueReply(_ frame: WireServerFrame) {
        transport.send(frame)
        finishedRequest()
    }

    func reply(_ id: UInt64, _ body: WireServerFrame.OneOf_Body) {
        var frame = WireServerFrame()
        frame.requestID = id
        frame.body = body
        transport.send(frame)
    }

    func reply(_ id: UInt64, error: RelayError) {
        relay.metrics.error(error.code)
        reply(id, .error(error.wire))
    }

    // MARK: Lifetime

    /// Called when the socket is gone.
    package func ended() {
        let (phase, task) = state.withLock { ($0.phase, $0.pushTask) }
        queue.close()
        task?.cancel()
        if case .authenticated(let device, _, _, _) = phase { relay.hub.unregister(device, queue) }
        relay.closed(self)
    }

    /// Graceful shutdown: refuse new requests, wait for those in progress, say so, close.
    package func shutdown() async {
        state.withLock { $0.shuttingDown = true }
        await waitIdle()
        reply(0, error: RelayError(.shuttingDown, "the relay is shutting down; reconnect shortly",
                                   retryAfterMilliseconds: 1_000))
        transport.close(code: CloseCode.goingAway, reason: "relay shutting down")
    }

    /// Tells a connection whose device was banned why, and closes it (close code 1008).
    func closeBanned() {
        reply(0, error: Self.banned)
        transport.close(code: CloseCode.policyViolation, reason: "device banned")
    }

    /// Tells a connection whose device its owner revoked why, and closes it (close code 1008).
    func closeRevoked() {
        reply(0, error: Self.revoked)
        transport.close(code: CloseCode.policyViolation, reason: "device revoked")
    }

    /// The device the connection authenticated as, if it has.
    var device: Data? {
        state.withLock { if case .authenticated(let device, _, _, _) = $0.phase { device } else { nil } }
    }

    /// Whether the handshake is done.
    var isAuthenticated: Bool {
        state.withLock { if case .authenticated = $0.phase { true } else { false } }
    }

    // MARK: Inbox access (per connection)

    func openInbox(_ key: Data) { state.withLock { _ = $0.openInboxes.insert(key) } }
    func hasOpened(_ key: Data) -> Bool { state.withLock { $0.openInboxes.contains(key) } }
}

/// What a request handler knows about its request.
struct RequestContext: Sendable {
    let id: UInt64
    let device: Data
    /// The identity the device speaks for: rate limits and blob quotas count per identity.
    let owner: Data
    let address: String
    let challenge: Data
}
