import CaucusLock
import CaucusProtocol

/// A connection's replies that are ready to go, written to its socket in order by one task. A
/// request then needs no task of its own to be answered, and the replies that one commit
/// completes for a connection go out in one wake-up of that task.
final class ReplyQueue: Sendable {
    private struct State {
        var frames: [WireServerFrame] = []
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Locked(State())

    /// Queues a reply; false once the queue is closed (the connection is gone).
    func append(_ frame: WireServerFrame) -> Bool {
        let (queued, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (false, nil) }
            state.frames.append(frame)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return queued
    }

    /// Takes no more replies; those queued are still handed out.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for replies and takes all that are queued; nil once the queue is closed and empty.
    func next() async -> [WireServerFrame]? {
        while true {
            let taken = state.withLock { state -> [WireServerFrame]?? in
                if !state.frames.isEmpty {
                    defer { state.frames.removeAll(keepingCapacity: true) }
                    return .some(state.frames)
                }
                return state.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || !state.frames.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}
