import CaucusLock
import CaucusProtocol
import Foundation

/// Gathers the message accepts and acknowledgements that arrive while a commit is running into
/// the next commit, so many requests share one fsync. Replies go out only after their commit.
final class GroupCommitter: Sendable {
    private enum Request {
        case accept(NewMessage, CheckedContinuation<AcceptOutcome, any Error>)
        case acknowledge(Acknowledgement, CheckedContinuation<Int, any Error>)
    }

    private struct State {
        var queue: [Request] = []
        var running = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let store: any RelayStore
    private let maxBatch: Int
    private let afterCommit: @Sendable (_ messages: [NewMessage], _ outcomes: [AcceptOutcome], _ batchSize: Int, _ duration: Duration) -> Void
    private let state = Locked(State())

    init(store: any RelayStore, maxBatch: Int,
         afterCommit: @escaping @Sendable ([NewMessage], [AcceptOutcome], Int, Duration) -> Void) {
        self.store = store
        self.maxBatch = maxBatch
        self.afterCommit = afterCommit
    }

    func accept(_ message: NewMessage) async throws -> AcceptOutcome {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.accept(message, continuation))
        }
    }

    func acknowledge(_ ack: Acknowledgement) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.acknowledge(ack, continuation))
        }
    }

    /// Returns when nothing is queued or being committed (graceful shutdown).
    func drain() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if !state.running && state.queue.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func enqueue(_ request: Request) {
        let start = state.withLock { state -> Bool in
            state.queue.append(request)
            if state.running { return false }
            state.running = true
            return true
        }
        if start { Task { await self.run() } }
    }

    private func run() async {
        while true {
            let taken: [Request]? = state.withLock { state in
                if state.queue.isEmpty {
                    state.running = false
                    return nil
                }
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                return batch
            }
            guard let batch = taken else {
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    guard !state.running else { return [] }
                    defer { state.idleWaiters = [] }
                    return state.idleWaiters
                }
                for waiter in waiters { waiter.resume() }
                return
            }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Request]) async {
        var writes = WriteBatch()
        for request in batch {
            switch request {
            case .accept(let message, _): writes.messages.append(message)
            case .acknowledge(let ack, _): writes.acknowledgements.append(ack)
            }
        }
        do {
            let started = ContinuousClock.now
            let result = try await store.commit(writes)
            afterCommit(writes.messages, result.outcomes, batch.count, ContinuousClock.now - started)
            var outcomes = result.outcomes.makeIterator()
            var removed = result.removed.makeIterator()
            for request in batch {
                switch request {
                case .accept(_, let continuation): continuation.resume(returning: outcomes.next()!)
                case .acknowledge(_, let continuation): continuation.resume(returning: removed.next()!)
                }
            }
        } catch {
            for request in batch {
                switch request {
                case .accept(_, let continuation): continuation.resume(throwing: error)
                case .acknowledge(_, let continuation): continuation.resume(throwing: error)
                }
            }
        }
    }
}
