import CaucusLock
import CaucusProtocol
import Foundation

/// What a connected device's push loop waits on: deliveries just committed for it. The store
/// stays the source of truth; when too many pile up the queue is dropped and the loop reads the
/// store instead, so a slow reader costs bounded memory. The loop also reads the store when told
/// that another relay instance committed deliveries for the device (`storeAhead`).
final class PushQueue: Sendable {
    private struct State {
        var items: [StoredDelivery] = []
        var notices: [WireServerFrame] = []
        /// The store may hold deliveries the queue does not: read it before anything queued.
        var storeAhead = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    static let capacity = 1_024
    private let state = Locked(State())

    func offer(_ delivery: StoredDelivery) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
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

    /// Waits until there is work.
    func next() async -> Work {
        while true {
            let ready: Work? = state.withLock { state in
                if state.closed { return .stop }
                if !state.notices.isEmpty {
                    defer { state.notices.removeAll() }
                    return .notices(state.notices)
                }
                if state.storeAhead {
                    state.storeAhead = false
                    state.items.removeAll()
                    return .readStore
                }
                if !state.items.isEmpty {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return .deliver(state.items)
                }
                return nil
            }
            if let ready { return ready }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || state.storeAhead || !state.items.isEmpty || !state.notices.isEmpty { return true }
                    state.waiter = continuation
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
