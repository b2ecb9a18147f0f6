#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that threads share, reachable only inside `withLock`, which holds a pthread mutex.
///
/// Caucus uses this rather than `Synchronization.Mutex`. On Linux, a contended `Mutex` changes hands
/// inside the kernel (a priority-inheritance futex), called from the Synchronization library, which
/// is not built with ThreadSanitizer; the sanitizer then sees no ordering between the accesses the
/// lock guards and reports them as races. It intercepts `pthread_mutex_lock` and `_unlock`, so
/// under this lock it checks what the lock really orders, and still reports an access made
/// without it.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    /// Allocated once, so that the mutex never moves.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Only reached while holding `mutex`, which already makes every access exclusive.
    @usableFromInline @exclusivity(unchecked) var value: Value

    /// A lock around `initialValue`, which from now on only the holder of the lock can reach.
    public init(_ initialValue: consuming sending Value) {
        value = initialValue
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        // Taking the lock again on the same thread is a bug: stop there rather than deadlock.
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        let status = pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(status == 0, "pthread_mutex_init failed (\(status))")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` on the value while holding the lock, and returns what `body` returns.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        let status = pthread_mutex_lock(mutex)
        precondition(status == 0, "pthread_mutex_lock failed (\(status)): taken twice on one thread?")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
