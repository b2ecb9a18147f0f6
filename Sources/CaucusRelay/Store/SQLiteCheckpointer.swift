import CaucusLock
import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the SQLite store's write-ahead log back into the database file from a connection and a
/// thread of its own, so that the writer, which limits the relay's throughput, never does it as
/// part of a commit. PASSIVE checkpoints run beside commits without blocking them.
///
/// A checkpoint copies the newest copy of each page the log holds, so its cost follows the pages
/// the log touches, not the commits that wrote them: under load every commit rewrites many of
/// the same pages (the message-id index, each mailbox's tail), and checkpointing after every
/// commit copied those pages once per commit. A checkpoint therefore runs once the log holds
/// `logPages` pages more than at the last one, or `idleDelay` after the last commit when fewer
/// are waiting. The writer learns the log's length from SQLite's WAL hook after each commit; the
/// same hook checkpoints on the writer itself if the log reaches `backstopPages` (in case this
/// checkpointer falls behind or stops), which is what SQLite's own automatic checkpoint would do.
final class SQLiteCheckpointer: Sendable {
    /// How often the log's length is looked at.
    static let pollInterval = DispatchTimeInterval.milliseconds(50)

    let log: LogLength
    private let policy: SQLiteCheckpointPolicy

    /// The log's length in pages after the writer's last commit, shared with the WAL hook.
    final class LogLength: Sendable {
        let backstopPages: Int32
        let pages = Atomic<Int>(0)
        /// When the writer last committed (`ContinuousClock` nanoseconds since `origin`).
        let lastCommit = Atomic<Int64>(0)
        let origin = ContinuousClock.now

        init(backstopPages: Int) {
            self.backstopPages = Int32(clamping: backstopPages)
        }

        func now() -> Int64 {
            let elapsed = ContinuousClock.now - origin
            return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        }
    }

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "caucus.relay.sqlite.checkpoint")
    private let stopped = Locked(false)
    /// The log length the last checkpoint saw (touched only on `queue`).
    private let checkpointedAt = Locked(0)

    init(path: String, policy: SQLiteCheckpointPolicy) throws {
        self.policy = policy
        log = LogLength(backstopPages: policy.backstopPages)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // The checkpoint syncs the log before copying it and the database file before the log
            // may be reused.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        connection = try DatabaseQueue(path: path, configuration: configuration)
        scheduleNext()
    }

    /// Installs the WAL hook on the writer's connection (in place of SQLite's automatic
    /// checkpoint, which uses the same hook). `log` must outlive the connection: the store keeps
    /// this checkpointer until after the pool has closed.
    func installHook(on writer: OpaquePointer) {
        let context = Unmanaged.passUnretained(log).toOpaque()
        sqlite3_wal_hook(writer, { context, db, name, pages in
            let log = Unmanaged<LogLength>.fromOpaque(context!).takeUnretainedValue()
            log.pages.store(Int(pages), ordering: .relaxed)
            log.lastCommit.store(log.now(), ordering: .relaxed)
            if pages >= log.backstopPages {
                // A failed checkpoint leaves the log as it was; the commit has already succeeded.
                _ = sqlite3_wal_checkpoint(db, name)
            }
            return SQLITE_OK
        }, context)
    }

    private func scheduleNext() {
        queue.asyncAfter(deadline: .now() + Self.pollInterval) { [weak self] in
            guard let self, !self.stopped.withLock({ $0 }) else { return }
            self.checkpointIfDue()
            self.scheduleNext()
        }
    }

    private func checkpointIfDue() {
        let pages = log.pages.load(ordering: .relaxed)
        let last = checkpointedAt.withLock { $0 }
        // After the writer restarted the log from its beginning, `pages` counts from zero again.
        let added = pages >= last ? pages - last : pages
        guard added > 0 else { return }
        let quiet = log.now() - log.lastCommit.load(ordering: .relaxed)
        let idle = policy.idleDelay.components
        let idleNanoseconds = idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000
        guard added >= policy.logPages || quiet >= idleNanoseconds else { return }
        // A failed checkpoint leaves the log as it was; the next one, or the writer's backstop,
        // copies it.
        _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        checkpointedAt.withLock { $0 = pages }
    }

    /// Stops checkpointing (a checkpoint in progress finishes).
    func cancel() {
        stopped.withLock { $0 = true }
    }

    /// Stops checkpointing and closes the connection (before the store closes).
    func stop() throws {
        cancel()
        // Waits for a checkpoint in progress.
        queue.sync {}
        try connection.close()
    }
}

/// When the SQLite store's log is copied into its database file (`SQLiteCheckpointer`).
public struct SQLiteCheckpointPolicy: Sendable {
    /// Pages added to the log since the last checkpoint that start the next one.
    public var logPages: Int
    /// How long a shorter log waits after the last commit before it is checkpointed.
    public var idleDelay: Duration
    /// The log length at which the writer checkpoints itself, inside its commit.
    public var backstopPages: Int

    /// 32 MiB of log at 4 KiB pages, one second after the last commit, and a backstop at 160 MiB.
    public init(logPages: Int = 8_192, idleDelay: Duration = .seconds(1), backstopPages: Int = 40_960) {
        self.logPages = logPages
        self.idleDelay = idleDelay
        self.backstopPages = backstopPages
    }
}
