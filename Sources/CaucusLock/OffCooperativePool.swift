import Dispatch

/// Runs blocking or long CPU-bound work (passphrase hardening, opening or migrating a database,
/// waiting for a child process) on a dispatch thread, and waits for it without holding a thread of
/// Swift's cooperative pool, which has one per core: a task blocked there holds up every other
/// task of the process.
///
/// On Linux that pool is dispatch's global queue of the default QoS, so the work goes to the
/// utility queue, which has threads of its own (as many as cores, more while some block in a
/// system call). Sent to the default queue, seconds of Argon2id have queued ahead of every task
/// of the process, a relay's among them.
public func offCooperativePool<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .utility).async {
            continuation.resume(returning: Result { () throws(E) -> T in try body() })
        }
    }
    return try result.get()
}
