import CaucusLock
import Dispatch
import GRDB

/// Copies the SQLite store's write-ahead log back into the database file from a connection and a
/// thread of its own, so that the writer, which limits the relay's throughput, never does it as
/// part of a commit. PASSIVE checkpoints run beside commits without blocking them; the writer's
/// own automatic checkpoint stays on at a much larger log size (`backstopPages`) in case this
/// one falls behind or stops.
final class SQLiteCheckpointer: Sendable {
    /// How often a checkpoint runs.
    static let interval = DispatchTimeInterval.milliseconds(100)
    /// The writer's automatic checkpoint threshold, in pages (40 MiB of log at 4 KiB pages).
    static let backstopPages = 10_000

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "caucus.relay.sqlite.checkpoint")
    private let stopped = Locked(false)

    init(path: String) throws {
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

    private func scheduleNext() {
        queue.asyncAfter(deadline: .now() + Self.interval) { [weak self] in
            guard let self, !self.stopped.withLock({ $0 }) else { return }
            // A failed checkpoint leaves the log as it was; the next one, or the writer's
            // backstop, copies it.
            _ = try? self.connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            self.scheduleNext()
        }
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
