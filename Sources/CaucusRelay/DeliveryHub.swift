import CaucusLock
import CaucusProtocol
import Foundation

/// What a connected device's push loop waits on: deliveries just committed for it. The store
/// stays the source of truth; when too many pile up the queue is dropped and the loop reads the
/// store instead, so a slow reader costs bounded memory. The loop also reads the store when told
/// that another relay instance committed deliveries for the device (`storeAhead`).
///
/// While the loop waits with everything before it sent (it is parked at its cursor), a delivery
/// offered goes to the transport at once from `offer`, on the committing side, without waking the
/// loop: a thread hand-off less per delivery. Anything else (a transport that is not writable, a
/// store read, a notice) wakes the loop, and offers queue up behind it until it parks again.
final class PushQueue: Sendable {
    private struct State {
        var items: [StoredDelivery] = []
        var notices: [WireServerFrame] = []
        /// The store may hold deliveries the queue does not: read it before anything queued.
        var storeAhead = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
        /// While the loop is parked: the highest sequence sent to the device.
        var parkedCursor: Int64?
    }

    static let capacity = 1_024
    private let state = Locked(State())
    private let transport: any RelayTransport
    private let pushed: @Sendable (Int) -> Void

    /// `pushed` counts deliveries that `offer` sent itself.
    init(transport: any RelayTransport, pushed: @escaping @Sendable (Int) -> Void) {
        self.transport = transport
        self.pushed = pushed
    }

    func offer(_ delivery: StoredDelivery) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            if let cursor = state.parkedCursor, state.items.isEmpty, !state.storeAhead, transport.isWritable {
                // A store read may already have sent it.
                guard delivery.sequence > cursor else { return nil }
                state.parkedCursor = delivery.sequence
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                // Sent under the lock, so that deliveries reach the transport in sequence order.
                if let frame = Self.frame(delivery, now: now), transport.send([frame]) { pushed(1) }
                return nil
            }
            if state.items.count >= Self.capacity {
                state.items.removeAll(keepingCapacity: false)
                state.storeAhead = true
            } else if !state.storeAhead {
                state.items.append(delivery)
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The Delivery push for a stored delivery; nil once it has expired (it is never delivered
    /// then, though not yet swept).
    static func frame(_ delivery: StoredDelivery, now: Int64) -> WireServerFrame? {
        guard delivery.expiresAt > now else { return nil }
        var frame = WireServerFrame()
        frame.delivery = WireDelivery.with {
            $0.messageID = delivery.messageID
            $0.sequence = UInt64(delivery.sequence)
            $0.payload = delivery.payload
            if let group = delivery.groupID { $0.groupID = group }
            $0.acceptedAtMs = UInt64(delivery.acceptedAt)
            $0.expiresAtMs = UInt64(delivery.expiresAt)
        }
        return frame
    }

    /// Makes the loop read the store: deliveries were committed for the device elsewhere.
    func storeChanged() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            state.items.removeAll(keepingCapacity: false)
            state.storeAhead = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Queues a push that is not a delivery (PrekeysLow); at most a few are kept.
    func notify(_ frame: WireServerFrame) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed, state.notices.count < 16 else { return nil }
            state.notices.append(frame)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Stops the loop (the connection is gone).
    func close() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// What the push loop should do next.
    enum Work {
        case deliver([StoredDelivery])
        case readStore
        case notices([WireServerFrame])
        case stop
    }

    /// Waits until there is work, parked at `cursor` (the highest sequence the loop sent) while
    /// there is none. Returns the work and the cursor, which deliveries sent by `offer` meanwhile
    /// moved on.
    func next(after cursor: Int64) async -> (work: Work, cursor: Int64) {
        var cursor = cursor
        while true {
            let (ready, unparked): (Work?, Int64?) = state.withLock { state in
                let unparked = state.parkedCursor
                state.parkedCursor = nil
                if state.closed { return (.stop, unparked) }
                if !state.notices.isEmpty {
                    defer { state.notices.removeAll() }
                    return (.notices(state.notices), unparked)
                }
                if state.storeAhead {
                    state.storeAhead = false
                    state.items.removeAll()
                    return (.readStore, unparked)
                }
                if !state.items.isEmpty {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return (.deliver(state.items), unparked)
                }
                return (nil, unparked)
            }
            if let unparked { cursor = unparked }
            if let ready { return (ready, cursor) }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || state.storeAhead || !state.items.isEmpty || !state.notices.isEmpty { return true }
                    state.waiter = continuation
                    state.parkedCursor = cursor
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}

/// Which devices are connected here, and their push queues.
final class DeliveryHub: Sendable {
    private let queues = Locked<[Data: [ObjectIdentifier: PushQueue]]>([:])

    func register(_ device: Data, _ queue: PushQueue) {
        queues.withLock { $0[device, default: [:]][ObjectIdentifier(queue)] = queue }
    }

    func unregister(_ device: Data, _ queue: PushQueue) {
        queues.withLock { queues in
            queues[device]?[ObjectIdentifier(queue)] = nil
            if queues[device]?.isEmpty == true { queues[device] = nil }
        }
    }

    func deliver(to device: Data, _ delivery: StoredDelivery) {
        guard let targets = queues.withLock({ $0[device].map { Array($0.values) } }) else { return }
        for queue in targets { queue.offer(delivery) }
    }

    /// Makes the push loops of these devices (those connected here) read the store.
    func storeChanged(for devices: [Data]) {
        let targets = queues.withLock { queues in devices.flatMap { queues[$0].map { Array($0.values) } ?? [] } }
        for queue in targets { queue.storeChanged() }
    }

    /// The devices connected here.
    var connectedDevices: [Data] { queues.withLock { Array($0.keys) } }

    func queues(of device: Data) -> [PushQueue] {
        queues.withLock { $0[device].map { Array($0.values) } ?? [] }
    }
}
