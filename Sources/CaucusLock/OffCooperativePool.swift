import Dispatch

/// Runs blocking work (passphrase hardening, opening or migrating a database, waiting for a child
/// process) on a dispatch thread, and waits for it without holding a thread of Swift's cooperative
/// pool, which has one per core: a task blocked there holds up every other task of the process.
public func offCooperativePool<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(returning: Result { () throws(E) -> T in try body() })
        }
    }
    return try result.get()
}
