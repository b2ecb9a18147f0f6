// The lean open-loop load generator, for `--rate` runs against a relay in its own process: one
// plain thread (not the cooperative pool) driving every connection through nonblocking sockets
// and epoll, with its own minimal WebSocket client and no task per message. The RelayClient-based
// generator costs about as much CPU per message as the relay, so on a small machine it, not the
// relay, sets the figure; this one costs a fraction of the relay's CPU per message, most of it in
// the kernel (a loopback write runs the relay's TCP receive path in the writer's context).
import CBenchEpoll
import CaucusIdentity
import CaucusProtocol
import Foundation
import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// What the lean generator is asked to do.
struct LeanLoadPlan: Sendable {
    /// The store's label for the report.
    var store: String
    /// The relay, `ws://<IPv4 address>:<port>`.
    var url: String
    /// Receiver `i` gets every message of sender `i`.
    var receiverKeys: [Ed25519.PrivateKey]
    var senderKeys: [Ed25519.PrivateKey]
    /// The run; its `rate` (messages per second, all senders together) is set.
    var settings: ThroughputSettings
    /// The relay's process, for its CPU time.
    var relayPID: Int32?
}

/// Runs the plan on a thread of its own and returns what it measured.
func runLeanGenerator(_ plan: LeanLoadPlan) async throws -> ThroughputResult {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try LeanGenerator(plan: plan).run() })
        }
        thread.name = "caucus-bench-lean"
        thread.start()
    }
}

/// One connection and what the generator keeps for it.
private final class LeanPeer {
    let socket: LeanWebSocket
    /// Where it sits in the generator's list, which is its epoll data.
    let index: Int
    let isSender: Bool
    var lastRequestID: UInt64 = 0
    /// Whether its end during the run was counted.
    var lost = false
    /// The epoll events asked for: EPOLLIN, plus EPOLLOUT while output waits.
    var interest = EPOLLIN.rawValue
    /// Sends (senders) or AckMessages (receivers) not answered yet.
    var inFlight = 0
    /// Receivers: delivered ids not yet acknowledged, and when the oldest of them was read.
    var unacknowledged: [Data] = []
    var oldestUnacknowledgedAt: UInt64 = 0

    init(socket: LeanWebSocket, index: Int, isSender: Bool) {
        self.socket = socket
        self.index = index
        self.isSender = isSender
    }

    func nextRequestID() -> UInt64 {
        lastRequestID += 1
        return lastRequestID
    }
}

private final class LeanGenerator {
    private let plan: LeanLoadPlan
    private let pairs: Int
    private let host: String
    private let port: Int
    /// The normalised address dialled, as signed in Authenticate.
    private let address: String
    /// Receivers first (`0..<pairs`), then senders.
    private var peers: [LeanPeer] = []
    private var recipients: [Data]
    private var epoll: Int32 = -1

    /// Nanoseconds between two sends of all senders together: sender `i` sends message `k` at
    /// `t0 + i * interval / N + k * interval` (interval = N / rate), i.e. send number
    /// `j = k * N + i` at `t0 + j * spacing`.
    private let spacing: Double
    private var t0: UInt64 = 0
    private var measureStart: UInt64 = 0
    private var measureEnd: UInt64 = .max
    private var sequence = 0
    private var nextSendAt: UInt64 = 0
    private var sending = true
    private var payload: Data
    /// Random bytes for message ids, drawn from the CSPRNG 256 ids at a time (one getrandom
    /// call each, instead of one per message), and how many of them are used.
    private var idBytes: [UInt8] = []
    private var idBytesUsed = 0

    /// Ids wait at most this long for an AckMessages, however few are queued.
    private let ackWait: UInt64 = 10_000_000
    /// The earliest time an unacknowledged id reaches `ackWait`.
    private var nextAckDeadline: UInt64 = .max
    /// Events handled between two looks at the send schedule within one wake-up.
    private static let eventsBetweenSendChecks = 16
    /// The bound on the drain after the last send.
    private let drainBound: UInt64 = 20_000_000_000

    private var histogram = newHistogram()
    /// How late each measured send went out after its planned time: the generator's own delay,
    /// which the latency includes.
    private var sendLag = newHistogram()
    private var latencySamples = 0
    private var measuredSent = 0
    private var inWindow = 0
    private var lastDeliveryAt: UInt64 = 0
    private var sent = 0
    private var accepted = 0
    private var received = 0
    private var sendErrors = 0
    private var ackErrors = 0
    private var acksSent = 0
    private var acknowledgedIDs = 0
    private var firstError: String?
    private var cpuStart: (sample: CPUSample, received: Int)?
    private var cpuEnd: (sample: CPUSample, received: Int)?

    init(plan: LeanLoadPlan) throws {
        guard let rate = plan.settings.rate, rate > 0 else { throw BenchError("the lean generator runs an open loop: give --rate") }
        guard let components = URLComponents(string: plan.url), components.scheme == "ws",
              let host = components.host, let port = components.port,
              let address = RelayProtocol.normalizedAddress(plan.url)
        else { throw BenchError("the lean generator needs a ws://<IPv4 address>:<port> relay, not \(plan.url)") }
        self.plan = plan
        self.host = host
        self.port = port
        self.address = address
        pairs = plan.senderKeys.count
        recipients = plan.receiverKeys.map(publicKey)
        spacing = 1e9 / rate
        payload = Data(Random.bytes(plan.settings.payloadBytes))
    }

    func run() throws -> ThroughputResult {
        let connectStart = monotonicNanos()
        for key in plan.receiverKeys { peers.append(try open(key: key, isSender: false)) }
        for key in plan.senderKeys { peers.append(try open(key: key, isSender: true)) }
        let connectSeconds = seconds(from: connectStart, to: monotonicNanos())
        progress(String(format: "  lean generator: %d connections opened in %.2f s; warm-up %.1f s, then %@",
                        peers.count, connectSeconds, plan.settings.warmupSeconds,
                        plan.settings.messages.map { "\($0) messages" }
                            ?? String(format: "%.1f s", plan.settings.durationSeconds ?? 0)))

        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw BenchError("epoll_create1: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(epoll) }
        for peer in peers {
            var event = epoll_event(events: peer.interest, data: epoll_data_t(u32: UInt32(peer.index)))
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, peer.socket.fd, &event) == 0 else {
                throw BenchError("epoll_ctl: \(String(cString: strerror(errno)))")
            }
        }

        t0 = monotonicNanos()
        nextSendAt = t0
        measureStart = t0 + UInt64(plan.settings.warmupSeconds * 1e9)
        if let duration = plan.settings.durationSeconds { measureEnd = measureStart + UInt64(duration * 1e9) }
        try loop()
        for peer in peers { peer.socket.close() }
        if latencySamples < measuredSent {
            progress("  \(measuredSent - latencySamples) of \(measuredSent) measured messages were not delivered")
        }

        var result = ThroughputResult(
            store: plan.store, settings: plan.settings, generator: .lean,
            measuredSeconds: plan.settings.durationSeconds ?? seconds(from: measureStart, to: lastDeliveryAt),
            deliveredInWindow: inWindow, histogram: histogram, latencySamples: latencySamples, accepted: accepted,
            received: received, sendErrors: sendErrors, ackErrors: ackErrors, firstError: firstError,
            connectSeconds: connectSeconds,
            cpu: cpuStart.flatMap { start in
                cpuEnd.map { CPUUsage(from: start.sample, to: $0.sample, delivered: $0.received - start.received) }
            })
        result.acksSent = acksSent
        result.sendLagP50Microseconds = sendLag.valueAtPercentile(50)
        result.sendLagP99Microseconds = sendLag.valueAtPercentile(99)
        result.acknowledgedIDs = acknowledgedIDs
        return result
    }

    // MARK: Connection setup (before the measured loop, one connection at a time)

    /// Opens a WebSocket, says Hello and authenticates as §7.3 says, within 15 s (§7.13).
    private func open(key: Ed25519.PrivateKey, isSender: Bool) throws -> LeanPeer {
        let deadline = monotonicNanos() + 15_000_000_000
        let socket = try LeanWebSocket(host: host, port: port, path: RelayProtocol.path, deadline: deadline)
        let peer = LeanPeer(socket: socket, index: peers.count, isSender: isSender)
        let hello = WireHello.with {
            $0.versions = [RelayProtocol.version]
            $0.client = "caucus-bench-relay/lean"
            $0.wantQueueEmpty = false
        }
        guard case .welcome(let welcome) = try request(.hello(hello), on: peer, until: deadline) else {
            throw BenchError("the relay did not answer Hello with Welcome")
        }
        guard RelayProtocol.normalizedAddress(welcome.relayAddress) == address else {
            throw BenchError("the relay at \(address) calls itself \(welcome.relayAddress)")
        }
        let device = Data(key.publicKey.rawRepresentation)
        let statement = RelayProtocol.authenticationStatement(relayAddress: address, challenge: welcome.challenge,
                                                              deviceKey: device)
        let authenticate = WireAuthenticate.with {
            $0.deviceKey = device
            $0.challenge = welcome.challenge
            $0.relayAddress = address
            $0.signature = Data(key.signature(for: statement).rawRepresentation)
        }
        guard case .authenticated = try request(.authenticate(authenticate), on: peer, until: deadline) else {
            throw BenchError("the relay did not answer Authenticate with Authenticated")
        }
        return peer
    }

    /// Sends one request and waits for its reply, skipping pushes; an Error reply throws.
    private func request(_ body: WireClientFrame.OneOf_Body, on peer: LeanPeer,
                         until deadline: UInt64) throws -> WireServerFrame.OneOf_Body {
        let id = peer.nextRequestID()
        let frame = WireClientFrame.with {
            $0.requestID = id
            $0.body = body
        }
        peer.socket.sendBinary(try frame.serializedBytes())
        try peer.socket.flush(until: deadline)
        while true {
            let reply = try WireServerFrame(serializedBytes: try peer.socket.awaitMessage(until: deadline))
            guard reply.requestID == id else { continue }
            switch reply.body {
            case .error(let error): throw RelayError(error)
            case .some(let body): return body
            case nil: throw BenchError("the relay answered request \(id) with an empty frame")
            }
        }
    }

    // MARK: The measured loop

    /// Sends on schedule and handles replies and pushes until sending has ended and everything
    /// is answered, delivered and acknowledged, or the drain bound passes (with a warning).
    private func loop() throws {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var drainDeadline = UInt64.max
        while true {
            let now = monotonicNanos()
            if cpuStart == nil && now >= measureStart { cpuStart = (CPUSample.now(relayPID: plan.relayPID), received) }
            if sending { sendDue(now) }
            if cpuEnd == nil && (now >= measureEnd || !sending) {
                cpuEnd = (CPUSample.now(relayPID: plan.relayPID), received)
            }
            if !sending && drainDeadline == .max { drainDeadline = now + drainBound }
            acknowledgeOverdue(now)
            if !sending && isDrained { return }
            if now >= drainDeadline {
                progress("  warning: not everything was answered, delivered and acknowledged within "
                         + "\(drainBound / 1_000_000_000) s of the last send")
                return
            }

            var wake = min(nextAckDeadline, drainDeadline)
            if sending { wake = min(wake, nextSendAt) }
            if cpuStart == nil { wake = min(wake, measureStart) }
            if cpuEnd == nil { wake = min(wake, measureEnd) }
            let current = monotonicNanos()
            let wait = wake > current ? wake - current : 0
            // epoll_pwait2 is epoll_wait with a timespec: the next send is often due in tens of
            // microseconds, and epoll_wait's whole milliseconds would make every send late.
            var timeout = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
            let count = epoll_pwait2(epoll, &events, Int32(events.count), &timeout, nil)
            if count < 0 {
                guard errno == EINTR else { throw BenchError("epoll_pwait2: \(String(cString: strerror(errno)))") }
                continue
            }
            // A wake-up can bring hundreds of events: sends that fall due while they are handled
            // go out between them rather than after the last.
            for (index, event) in events[0..<Int(count)].enumerated() {
                handle(event: event)
                if sending && index % Self.eventsBetweenSendChecks == Self.eventsBetweenSendChecks - 1 {
                    sendDue(monotonicNanos())
                }
            }
        }
    }

    private var isDrained: Bool {
        received >= accepted && peers.allSatisfy { $0.inFlight == 0 && $0.unacknowledged.isEmpty }
    }

    /// Sends every message whose planned time has come, stamped with that time, so that a late
    /// send counts its delay.
    private func sendDue(_ now: UInt64) {
        while nextSendAt <= now {
            let planned = nextSendAt
            guard planned < measureEnd else { sending = false; return }
            let measured = planned >= measureStart
            if measured, let limit = plan.settings.messages, measuredSent >= limit { sending = false; return }
            if measured {
                let now = monotonicNanos()
                _ = sendLag.record(min((now > planned ? now - planned : 0) / 1_000, histogramMaxMicroseconds))
            }
            send(from: peers[pairs + sequence % pairs], to: recipients[sequence % pairs], plannedAt: planned,
                 measured: measured)
            sequence += 1
            nextSendAt = t0 + UInt64(Double(sequence) * spacing)
        }
    }

    private func send(from sender: LeanPeer, to recipient: Data, plannedAt planned: UInt64, measured: Bool) {
        sent += 1
        if measured { measuredSent += 1 }
        stamp(&payload, at: planned, measured: measured)
        var message = WireSendMessage()
        message.messageID = nextMessageID()
        message.recipients = [recipient]
        message.payload = payload
        var frame = WireClientFrame()
        frame.requestID = sender.nextRequestID()
        frame.body = .send(message)
        guard let bytes: [UInt8] = try? frame.serializedBytes(), sender.socket.sendBinary(bytes) else {
            noteError(on: sender, sender.socket.closedReason ?? "a SendMessage could not be encoded")
            return
        }
        sender.inFlight += 1
        updateInterest(sender)
    }

    private func nextMessageID() -> Data {
        let length = RelayProtocol.messageIDLength
        if idBytesUsed == idBytes.count {
            idBytes = Random.bytes(256 * length)
            idBytesUsed = 0
        }
        idBytesUsed += length
        return Data(idBytes[(idBytesUsed - length)..<idBytesUsed])
    }

    /// Sends an AckMessages for every receiver whose oldest queued id has waited `ackWait`.
    private func acknowledgeOverdue(_ now: UInt64) {
        guard now >= nextAckDeadline else { return }
        nextAckDeadline = .max
        for receiver in peers[0..<pairs] where !receiver.unacknowledged.isEmpty {
            let due = receiver.oldestUnacknowledgedAt + ackWait
            if now >= due {
                acknowledge(receiver)
            } else {
                nextAckDeadline = min(nextAckDeadline, due)
            }
        }
    }

    private func acknowledge(_ receiver: LeanPeer) {
        var frame = WireClientFrame()
        frame.requestID = receiver.nextRequestID()
        frame.body = .ack(WireAckMessages.with { $0.messageIds = receiver.unacknowledged })
        acksSent += 1
        acknowledgedIDs += receiver.unacknowledged.count
        receiver.unacknowledged.removeAll(keepingCapacity: true)
        guard let bytes: [UInt8] = try? frame.serializedBytes(), receiver.socket.sendBinary(bytes) else {
            noteError(on: receiver, receiver.socket.closedReason ?? "an AckMessages could not be encoded")
            return
        }
        receiver.inFlight += 1
        updateInterest(receiver)
    }

    // MARK: Events

    private func handle(event: epoll_event) {
        let peer = peers[Int(event.data.u32)]
        guard peer.socket.isOpen else { return }
        if event.events & EPOLLOUT.rawValue != 0 { _ = peer.socket.flush() }
        if event.events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            peer.socket.receive()
            // Every frame of this read arrived by now: the time it reached the generator, not
            // the time the generator got round to decoding it.
            let readAt = monotonicNanos()
            do {
                while let message = try peer.socket.nextMessage() { handle(message, on: peer, readAt: readAt) }
            } catch {
                noteError(on: peer, "\(error)")
            }
            _ = peer.socket.flush()
        }
        if peer.socket.isOpen {
            updateInterest(peer)
        } else {
            lost(peer)
        }
    }

    private func handle(_ message: [UInt8], on peer: LeanPeer, readAt: UInt64) {
        guard let frame = try? WireServerFrame(serializedBytes: message) else {
            peer.socket.close()
            noteError(on: peer, "the relay sent an undecodable frame of \(message.count) bytes; connection closed")
            return
        }
        switch frame.body {
        case .delivery(let delivery) where !peer.isSender:
            delivered(delivery, to: peer, readAt: readAt)
        case .sendAccepted(let reply) where peer.isSender && frame.requestID != 0:
            peer.inFlight -= 1
            if reply.recipients == 1 {
                accepted += 1
            } else {
                noteError(on: peer, "SendAccepted stored the message for \(reply.recipients) recipients, not 1")
            }
        case .ackDone where !peer.isSender && frame.requestID != 0:
            peer.inFlight -= 1
        case .error(let error):
            if frame.requestID != 0 { peer.inFlight -= 1 }
            noteError(on: peer, "\(RelayError(error))")
        case .queueEmpty where frame.requestID == 0, .prekeysLow where frame.requestID == 0:
            break
        default:
            noteError(on: peer, "unexpected frame from the relay: \(frame.body.map { "\($0)" } ?? "no body")")
        }
    }

    /// Records the latency of a measured message and queues its id for acknowledgement.
    private func delivered(_ delivery: WireDelivery, to receiver: LeanPeer, readAt now: UInt64) {
        if let (planned, measured) = readStamp(delivery.payload), measured {
            let micros = now > planned ? (now - planned) / 1_000 : 0
            _ = histogram.record(min(micros, histogramMaxMicroseconds))
            latencySamples += 1
        }
        if now >= measureStart && now < measureEnd {
            inWindow += 1
            lastDeliveryAt = now
        }
        received += 1
        if receiver.unacknowledged.isEmpty {
            receiver.oldestUnacknowledgedAt = now
            nextAckDeadline = min(nextAckDeadline, now + ackWait)
        }
        receiver.unacknowledged.append(delivery.messageID)
        if receiver.unacknowledged.count >= plan.settings.ackBatch { acknowledge(receiver) }
    }

    /// Asks for EPOLLOUT while output waits, and stops asking once it is written.
    private func updateInterest(_ peer: LeanPeer) {
        let wanted = EPOLLIN.rawValue | (peer.socket.hasPendingOutput ? EPOLLOUT.rawValue : 0)
        guard wanted != peer.interest else { return }
        var event = epoll_event(events: wanted, data: epoll_data_t(u32: UInt32(peer.index)))
        if epoll_ctl(epoll, EPOLL_CTL_MOD, peer.socket.fd, &event) == 0 { peer.interest = wanted }
    }

    /// A connection that ended during the run: its unanswered requests count as errors, and
    /// its unacknowledged ids are dropped (the drain then waits for nothing of it).
    private func lost(_ peer: LeanPeer) {
        guard !peer.lost else { return }
        peer.lost = true
        noteError(on: peer, "connection lost: \(peer.socket.closedReason ?? "closed")", count: max(peer.inFlight, 1))
        peer.inFlight = 0
        peer.unacknowledged.removeAll()
    }

    private func noteError(on peer: LeanPeer, _ text: String, count: Int = 1) {
        if peer.isSender { sendErrors += count } else { ackErrors += count }
        if firstError == nil { firstError = text }
    }
}
