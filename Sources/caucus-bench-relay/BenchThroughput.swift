// Part 1: end-to-end delivered messages per second and latency, N senders to N receivers.
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation
import Histogram
import Synchronization

struct ThroughputSettings: Sendable {
    var connections: Int
    var warmupSeconds: Double
    /// Measured seconds; nil when `messages` is set.
    var durationSeconds: Double?
    /// Measured messages (all senders together); nil when measuring a duration.
    var messages: Int?
    var inFlight: Int
    var ackBatch: Int
    var payloadBytes: Int
    /// Messages per second offered by all senders together (open loop); nil: closed loop, each
    /// sender keeping `inFlight` sends in flight.
    var rate: Double?
    /// What drives an open-loop run against a relay process (other runs use RelayClients).
    var generator: LoadGenerator = .relayClient
}

/// What drives the load of a throughput run.
enum LoadGenerator: String, Codable, Sendable, CaseIterable {
    /// Async RelayClients on the cooperative pool, a task per request, as real clients run.
    case relayClient = "relay-client"
    /// One epoll thread with a minimal WebSocket client (LeanGenerator.swift): open loop, relay
    /// in its own process.
    case lean
}

struct ThroughputResult: Codable, Sendable {
    /// The store and how many relay instances shared it.
    var store: String
    var connections: Int
    var senders: Int
    var receivers: Int
    var payloadBytes: Int
    var inFlightPerSender: Int
    /// Open loop: messages per second offered by all senders together; nil for a closed loop.
    var offeredPerSecond: Double?
    var ackBatch: Int
    var warmupSeconds: Double
    /// The measurement window: the duration, or (with a message count) from its start to the
    /// last delivery.
    var measuredSeconds: Double
    /// Deliveries the receivers read inside the window, and per second.
    var deliveredInWindow: Int
    var deliveredPerSecond: Double
    /// Latency samples: messages sent inside the window (all delivered, after draining).
    var latencySamples: Int
    var latencyP50Microseconds: UInt64
    var latencyP90Microseconds: UInt64
    var latencyP99Microseconds: UInt64
    var latencyMaxMicroseconds: UInt64
    var sendsAccepted: Int
    var deliveriesReceived: Int
    var undelivered: Int
    var sendErrors: Int
    var ackErrors: Int
    var firstError: String?
    /// Opening and authenticating all connections (RelayClients: concurrently, 64 at a time;
    /// lean: one after another).
    var connectSeconds: Double
    var generator: LoadGenerator
    /// CPU over the window of this process (the load generator) and of the relay process; nil
    /// when the relay runs in this process or the run has no fixed window.
    var cpu: CPUUsage?
    /// AckMessages requests the receivers sent and the ids they carried (lean generator only).
    var acksSent: Int?
    var acknowledgedIDs: Int?
    /// How late the lean generator's measured sends went out after their planned times (its own
    /// delay, included in the latency), p50 and p99 in µs.
    var sendLagP50Microseconds: UInt64?
    var sendLagP99Microseconds: UInt64?
}

/// What the senders and receivers share while a run lasts.
private final class LoadState: Sendable {
    /// Monotonic times: measured messages are those sent at or after `measureStart`.
    let measureStart: UInt64
    let measureEnd: UInt64?
    let messageLimit: Int?
    /// A backstop for message-count runs that cannot finish.
    let hardStop: UInt64
    let inFlight: Int
    let ackBatch: Int
    let payload: Data
    /// Open loop: nanoseconds between one sender's sends.
    let interval: UInt64?

    let measuredIssued = Atomic<Int>(0)
    let accepted = Atomic<Int>(0)
    let received = Atomic<Int>(0)
    let sendErrors = Atomic<Int>(0)
    let ackErrors = Atomic<Int>(0)
    let firstError = FirstError()

    init(settings: ThroughputSettings) {
        let start = monotonicNanos() + UInt64(settings.warmupSeconds * 1e9)
        measureStart = start
        measureEnd = settings.durationSeconds.map { start + UInt64($0 * 1e9) }
        messageLimit = settings.messages
        hardStop = start + 600 * 1_000_000_000
        inFlight = settings.inFlight
        ackBatch = settings.ackBatch
        payload = Data(Random.bytes(settings.payloadBytes))
        interval = settings.rate.map { UInt64(Double(settings.connections / 2) / $0 * 1e9) }
    }

    /// Whether a message sent (or planned) at `time` is measured; nil when the run is over.
    func measured(at time: UInt64) -> Bool? {
        guard time >= measureStart else { return false }
        if let end = measureEnd, time >= end { return nil }
        if time >= hardStop { return nil }
        if let limit = messageLimit {
            guard measuredIssued.wrappingAdd(1, ordering: .relaxed).newValue <= limit else { return nil }
        }
        return true
    }
}

/// What one receiver saw of the measured messages.
private struct ReceiverStats: Sendable {
    var histogram: Histogram<UInt64>
    /// Latency samples (messages sent inside the window).
    var measured: Int
    /// Deliveries read inside the window, and when the last one after its start was read.
    var inWindow: Int
    var lastAt: UInt64
}

/// The latency histogram range: 1 µs to 60 s, three significant digits.
let histogramMaxMicroseconds: UInt64 = 60_000_000

func newHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: histogramMaxMicroseconds,
                      numberOfSignificantValueDigits: .three)
}

/// Payload layout: bytes 0..<8 the send time (monotonic ns, little endian), byte 8 is 1 for a
/// measured message and 0 for warm-up; the rest random.
func stamp(_ payload: inout Data, at time: UInt64, measured: Bool) {
    payload.withUnsafeMutableBytes { bytes in
        bytes.storeBytes(of: time.littleEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: measured ? 1 : 0, toByteOffset: 8, as: UInt8.self)
    }
}

func readStamp(_ payload: Data) -> (time: UInt64, measured: Bool)? {
    guard payload.count >= 9 else { return nil }
    return payload.withUnsafeBytes { bytes in
        (UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
         bytes.load(fromByteOffset: 8, as: UInt8.self) == 1)
    }
}

/// One sender: `inFlight` loops, each sending its next message as soon as the last is accepted.
private func runSender(_ client: RelayClient, to recipient: Data, state: LoadState) async {
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<state.inFlight {
            group.addTask {
                var payload = state.payload
                while true {
                    let now = monotonicNanos()
                    guard let measured = state.measured(at: now) else { return }
                    stamp(&payload, at: now, measured: measured)
                    guard await send(payload, to: recipient, on: client, state: state) else { return }
                }
            }
        }
    }
}

/// The open-loop senders, all paced by one loop: each sender sends every `state.interval` from a
/// random phase, without waiting for the replies of earlier sends, so a relay that falls behind
/// does not slow the offered load. The loop wakes at most every `pacingTick` and starts every send
/// that is due; a message is stamped with its planned time, so the latency of a late send
/// (the tick included) counts its delay. One loop instead of a sleeping task per sender keeps
/// the generator's own cost low enough to offer tens of thousands of messages a second.
private func runPacedSenders(_ senders: [(client: RelayClient, recipient: Data)], interval: UInt64,
                             state: LoadState) async {
    let pacingTick: UInt64 = 500_000
    var planned = senders.map { _ in monotonicNanos() + UInt64.random(in: 0..<max(interval, 1)) }
    await withDiscardingTaskGroup { group in
        while true {
            let now = monotonicNanos()
            var next = UInt64.max
            for index in senders.indices {
                while planned[index] <= now {
                    guard let measured = state.measured(at: planned[index]) else { return }
                    var payload = state.payload
                    stamp(&payload, at: planned[index], measured: measured)
                    let (client, recipient) = senders[index]
                    group.addTask { _ = await send(payload, to: recipient, on: client, state: state) }
                    planned[index] += interval
                }
                next = min(next, planned[index])
            }
            let wake = max(next, now + pacingTick), current = monotonicNanos()
            if wake > current { try? await Task.sleep(for: .nanoseconds(Int64(wake - current))) }
        }
    }
}

/// Sends one message and counts the outcome; false when the connection is gone.
private func send(_ payload: Data, to recipient: Data, on client: RelayClient, state: LoadState) async -> Bool {
    var send = WireSendMessage()
    send.messageID = Data(Random.bytes(RelayProtocol.messageIDLength))
    send.recipients = [recipient]
    send.payload = payload
    do {
        let reply = try await client.request(.send(send))
        guard case .sendAccepted(let accepted) = reply, accepted.recipients == 1 else {
            state.sendErrors.add(1, ordering: .relaxed)
            state.firstError.note(RelayClientError.unexpectedReply("\(reply)"))
            return true
        }
        state.accepted.add(1, ordering: .relaxed)
    } catch let error as RelayError {
        state.sendErrors.add(1, ordering: .relaxed)
        state.firstError.note(error)
        try? await Task.sleep(for: .milliseconds(max(Int(error.retryAfterMilliseconds), 10)))
    } catch {
        state.sendErrors.add(1, ordering: .relaxed)
        state.firstError.note(error)
        return false
    }
    return true
}

/// One receiver: records latency of measured deliveries and acknowledges everything in batches,
/// on a separate task so that a commit in progress never holds up reading the next push.
/// Ends when its task is cancelled (or the connection closes), after sending the last batch.
private func runReceiver(_ client: RelayClient, state: LoadState) async -> ReceiverStats {
    var stats = ReceiverStats(histogram: newHistogram(), measured: 0, inWindow: 0, lastAt: 0)
    let (batches, batchContinuation) = AsyncStream<[MessageID]>.makeStream()
    let acker = Task {
        for await batch in batches {
            do {
                let reply = try await client.request(.ack(WireAckMessages.with { $0.messageIds = batch.map(\.data) }))
                guard case .ackDone = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
            } catch {
                state.ackErrors.add(1, ordering: .relaxed)
                state.firstError.note(error)
            }
        }
    }
    var pending: [MessageID] = []
    pending.reserveCapacity(state.ackBatch)
    for await push in client.pushes {
        guard case .delivery(let delivery) = push else { continue }
        let now = monotonicNanos()
        if let (sent, measured) = readStamp(delivery.payload), measured {
            let micros = now > sent ? (now - sent) / 1_000 : 0
            _ = stats.histogram.record(min(micros, histogramMaxMicroseconds))
            stats.measured += 1
        }
        if now >= state.measureStart, now < state.measureEnd ?? .max {
            stats.inWindow += 1
            stats.lastAt = max(stats.lastAt, now)
        }
        state.received.add(1, ordering: .relaxed)
        pending.append(delivery.messageID)
        if pending.count >= state.ackBatch {
            batchContinuation.yield(pending)
            pending.removeAll(keepingCapacity: true)
        }
    }
    if !pending.isEmpty { batchContinuation.yield(pending) }
    batchContinuation.finish()
    await acker.value
    return stats
}

func runThroughput(_ settings: ThroughputSettings, store: BenchStore = .sqlite, directory: URL) async throws -> ThroughputResult {
    let pairs = settings.connections / 2
    progress("throughput (\(store.label)): \(settings.connections) connections (\(pairs) senders, \(pairs) receivers)")
    let relay = try await BenchRelays.start(store, directory: directory, name: "throughput-\(settings.connections)")
    let receiverKeys = makeKeys(pairs)
    let senderKeys = makeKeys(pairs)
    if settings.generator == .lean, settings.rate != nil, let daemon = relay.daemon {
        let plan = LeanLoadPlan(store: store.label, url: daemon.url, receiverKeys: receiverKeys, senderKeys: senderKeys,
                                settings: settings, relayPID: daemon.process.processIdentifier)
        let result: ThroughputResult
        do {
            result = try await runLeanGenerator(plan)
        } catch {
            await relay.stop()
            throw error
        }
        await relay.stop()
        return result
    }

    // With two instances, receiver i and its sender sit on different instances.
    let urls = relay.urls
    let connectStart = monotonicNanos()
    let receivers = try await connectAll(urls: { urls[$0 % urls.count] }, keys: receiverKeys)
    let senders = try await connectAll(urls: { urls[($0 + 1) % urls.count] }, keys: senderKeys)
    let connectSeconds = seconds(from: connectStart, to: monotonicNanos())
    progress(String(format: "  connected in %.2f s; warm-up %.1f s, then %@", connectSeconds, settings.warmupSeconds,
                    settings.messages.map { "\($0) messages" } ?? String(format: "%.1f s", settings.durationSeconds ?? 0)))

    let state = LoadState(settings: settings)
    let cpuTask = relay.daemon.map(\.process.processIdentifier).map { pid in
        Task { await measureCPU(state: state, relayPID: pid) }
    }
    let receiverTasks = receivers.map { client in Task { await runReceiver(client, state: state) } }
    let pairsOfSenders = zip(senders, receiverKeys).map { (client: $0, recipient: publicKey($1)) }
    let senderTasks = if let interval = state.interval {
        [Task { await runPacedSenders(pairsOfSenders, interval: interval, state: state) }]
    } else {
        pairsOfSenders.map { sender in Task { await runSender(sender.client, to: sender.recipient, state: state) } }
    }
    for task in senderTasks { await task.value }
    // Every accepted message must reach its receiver: wait for the stragglers.
    let drained = await waitUntil(timeout: 60) {
        state.received.load(ordering: .relaxed) >= state.accepted.load(ordering: .relaxed)
    }
    if !drained { progress("  warning: not every accepted message was delivered within 60 s") }
    for task in receiverTasks { task.cancel() }
    var histogram = newHistogram()
    var measured = 0
    var inWindow = 0
    var last: UInt64 = 0
    for task in receiverTasks {
        let stats = await task.value
        histogram.add(stats.histogram)
        measured += stats.measured
        inWindow += stats.inWindow
        last = max(last, stats.lastAt)
    }
    let cpu = await cpuTask?.value
    await closeAll(senders + receivers)
    await relay.stop()

    return ThroughputResult(
        store: store.label, settings: settings, generator: .relayClient,
        measuredSeconds: settings.durationSeconds ?? seconds(from: state.measureStart, to: last), deliveredInWindow: inWindow,
        histogram: histogram, latencySamples: measured,
        accepted: state.accepted.load(ordering: .relaxed), received: state.received.load(ordering: .relaxed),
        sendErrors: state.sendErrors.load(ordering: .relaxed), ackErrors: state.ackErrors.load(ordering: .relaxed),
        firstError: state.firstError.value, connectSeconds: connectSeconds, cpu: cpu)
}

extension ThroughputResult {
    /// The figures of one run of `settings`. `histogram` holds the latency of every message sent
    /// inside the window; `measuredSeconds` is the window (or, with a message count, from its
    /// start to the last delivery).
    init(store: String, settings: ThroughputSettings, generator: LoadGenerator, measuredSeconds: Double,
         deliveredInWindow: Int, histogram: Histogram<UInt64>, latencySamples: Int, accepted: Int, received: Int,
         sendErrors: Int, ackErrors: Int, firstError: String?, connectSeconds: Double, cpu: CPUUsage?) {
        let pairs = settings.connections / 2
        self.init(
            store: store, connections: pairs * 2, senders: pairs, receivers: pairs, payloadBytes: settings.payloadBytes,
            inFlightPerSender: settings.inFlight, offeredPerSecond: settings.rate, ackBatch: settings.ackBatch,
            warmupSeconds: settings.warmupSeconds, measuredSeconds: measuredSeconds, deliveredInWindow: deliveredInWindow,
            deliveredPerSecond: measuredSeconds > 0 ? Double(deliveredInWindow) / measuredSeconds : 0,
            latencySamples: latencySamples,
            latencyP50Microseconds: histogram.valueAtPercentile(50),
            latencyP90Microseconds: histogram.valueAtPercentile(90),
            latencyP99Microseconds: histogram.valueAtPercentile(99),
            latencyMaxMicroseconds: histogram.max,
            sendsAccepted: accepted, deliveriesReceived: received, undelivered: max(accepted - received, 0),
            sendErrors: sendErrors, ackErrors: ackErrors, firstError: firstError, connectSeconds: connectSeconds,
            generator: generator, cpu: cpu)
    }
}

/// CPU of this process and the relay's over the window of a duration run; nil for a run with
/// a message count.
private func measureCPU(state: LoadState, relayPID: Int32) async -> CPUUsage? {
    guard let end = state.measureEnd else { return nil }
    await sleep(until: state.measureStart)
    let start = (sample: CPUSample.now(relayPID: relayPID), received: state.received.load(ordering: .relaxed))
    await sleep(until: end)
    let received = state.received.load(ordering: .relaxed)
    return CPUUsage(from: start.sample, to: CPUSample.now(relayPID: relayPID), delivered: received - start.received)
}

private func sleep(until time: UInt64) async {
    let now = monotonicNanos()
    if time > now { try? await Task.sleep(for: .nanoseconds(Int64(time - now))) }
}
