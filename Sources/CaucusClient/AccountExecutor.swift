import Dispatch

/// Where an account's work runs: a serial dispatch queue of its own, not Swift's cooperative pool.
/// An account writes its store synchronously, and every commit waits for the disk (Protocol.md
/// §9.9); on the cooperative pool, which has one thread per core, a slow disk would then stall
/// every task of the process, a relay connection's handshake and pings included. A dispatch
/// queue's thread may block without holding anyone else up.
final class AccountExecutor: SerialExecutor {
    private let queue = DispatchQueue(label: "caucus.account")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
