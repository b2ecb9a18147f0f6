import CaucusLock
import Testing

@Suite("Lock: a value behind a pthread mutex")
struct LockedTests {
    struct Failure: Error, Equatable {
        let code: Int
    }

    /// A value that cannot be copied, as the locked-memory arena keeps.
    struct Ledger: ~Copyable {
        var entries: [Int] = []
    }

    @Test("Tasks on several threads that count under the lock lose no update")
    func noLostUpdate() async {
        let counter = Locked(0)
        let tasks = 8, increments = 20_000
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<increments { counter.withLock { $0 += 1 } }
                }
            }
        }
        #expect(counter.withLock { $0 } == tasks * increments)
    }

    @Test("withLock returns what the body returns, passes its typed error on, and unlocks after it")
    func resultAndError() {
        let lock = Locked(Ledger())
        #expect(lock.withLock { ledger in
            ledger.entries.append(7)
            return ledger.entries.count
        } == 1)
        #expect(throws: Failure(code: 3)) {
            try lock.withLock { (ledger) throws(Failure) in
                ledger.entries.append(8)
                throw Failure(code: 3)
            }
        }
        // Still locked after the throw would stop here: the mutex refuses a second lock by one thread.
        #expect(lock.withLock { $0.entries } == [7, 8])
    }
}
