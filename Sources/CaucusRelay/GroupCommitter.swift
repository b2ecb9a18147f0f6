import CaucusLock
import CaucusProtocol
import Foundation

/// Gathers the message accepts and acknowledgements that arrive while a commit is running into
/// the next commit, so many requests share one fsync. Each request's completion runs only after
/// the commit that holds it returned; completions take no task of their own. They run, with the
/// after-commit hook (pushes), on a second serial queue, in commit order, so the committing
/// thread goes on to the next batch at once.
final class GroupCommitter: Sendable {
    private enum Request {
        case accept(NewMessage, @Sendable (Result<AcceptOutcome, any Error>) -> Void)
        case acknowledge(Acknowledgement, @Sendable (Result<Int, any Error>) -> Void)
    }

    private struct State {
        var queue: [Request] = []
        var running = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Committed batches whose completions have not run yet.
        var completing = 0
    }

    private let store: any RelayStore
    private let maxBatch: Int
    private let afterCommit: @Sendable (_ messages: [NewMessage], _ outcomes: [AcceptOutcome], _ batchSize: Int, _ duration: Duration) -> Void
    private let state = Locked(State())
    private let executor = CommitExecutor()
    private let completions = DispatchQueue(label: "caucus.relay.commit.completions")

    init(store: any RelayStore, maxBatch: Int,
         afterCommit: @escaping @Sendable ([NewMessage], [AcceptOutcome], Int, Duration) -> Void) {
        self.store = store
        self.maxBatch = maxBatch
        self.afterCommit = afterCommit
    }

    /// Queues a message for the next commit; `completion` gets its outcome once that commit returned.
    func accept(_ message: NewMessage, completion: @escaping @Sendable (Result<AcceptOutcome, any Error>) -> Void) {
        enqueue(.accept(message, completion))
    }

    /// Queues an acknowledgement for the next commit; `completion` gets how many deliveries it
    /// removed once that commit returned.
    func acknowledge(_ ack: Acknowledgement, completion: @escaping @Sendable (Result<Int, any Error>) -> Void) {
        enqueue(.acknowledge(ack, completion))
    }

    /// Returns when nothing is queued or being committed (graceful shutdown).
    func drain() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if !state.running && state.queue.isEmpty && state.completing == 0 { return true }
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
        if start { Task(executorPreference: executor) { await self.run() } }
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
                resumeIdleWaiters()
                return
            }
            await commit(batch)
        }
    }

    private func resumeIdleWaiters() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.running, state.queue.isEmpty, state.completing == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs a committed batch's completions on the completions queue, in commit order.
    private func complete(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.completing += 1 }
        completions.async {
            body()
            self.state.withLock { $0.completing -= 1 }
            self.resumeIdleWaiters()
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
            // This task runs on the committer's own thread (CommitExecutor): a store that can
            // commit on it does, without a hop to its queue and back.
            let result = if let store = store as? any BlockingCommitStore {
                try store.commitBlocking(writes)
            } else {
                try await store.commit(writes)
            }
            let duration = ContinuousClock.now - started
            let afterCommit = self.afterCommit, messages = writes.messages
            complete {
                afterCommit(messages, result.outcomes, batch.count, duration)
                var outcomes = result.outcomes.makeIterator()
                var removed = result.removed.makeIterator()
                for request in batch {
                    switch request {
                    case .accept(_, let completion): completion(.success(outcomes.next()!))
                    case .acknowledge(_, let completion): completion(.success(removed.next()!))
                    }
                }
            }
        } catch {
            complete {
                for request in batch {
                    switch request {
                    case .accept(_, let completion): completion(.failure(error))
                    case .acknowledge(_, let completion): completion(.failure(error))
                    }
                }
            }
        }
    }
}
