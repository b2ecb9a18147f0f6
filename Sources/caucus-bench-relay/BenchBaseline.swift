// Part 0: what the storage alone can do on this machine, in this run, so that the relay's
// throughput can be read as a ratio: plain GRDB inserts of 1 KiB rows into a SQLite file with
// the relay's settings (WAL, synchronous=FULL), one row per commit and 64 rows per commit.
import Foundation
import GRDB

struct StorageBaselineResult: Codable, Sendable {
    var payloadBytes: Int
    var seconds: Double
    var rowsPerSecondOnePerCommit: Double
    var rowsPerSecondBatched: Double
    var batchRows: Int
}

func runStorageBaseline(payloadBytes: Int, seconds: Double, directory: URL) throws -> StorageBaselineResult {
    progress("storage baseline: SQLite WAL synchronous=FULL, \(payloadBytes)-byte rows, \(seconds) s per mode")
    let path = directory.appendingPathComponent("baseline-\(UUID().uuidString).sqlite").path
    defer {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
    let pool = try DatabasePool(path: path)
    defer { try? pool.close() }
    // After opening: GRDB's WAL set-up sets NORMAL after `prepareDatabase` would have run.
    try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    try pool.write { db in
        try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, message_id BLOB NOT NULL UNIQUE, payload BLOB NOT NULL)")
    }
    let payload = Data(repeating: 0x5A, count: payloadBytes)

    func measure(rowsPerCommit: Int) throws -> Double {
        let start = monotonicNanos()
        let end = start + UInt64(seconds * 1e9)
        var rows = 0
        while monotonicNanos() < end {
            try pool.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO rows (message_id, payload) VALUES (?, ?)")
                for _ in 0..<rowsPerCommit {
                    try insert.execute(arguments: [Data(UUID().uuidString.utf8), payload])
                }
            }
            rows += rowsPerCommit
        }
        return Double(rows) / (Double(monotonicNanos() - start) / 1e9)
    }

    let single = try measure(rowsPerCommit: 1)
    let batched = try measure(rowsPerCommit: 64)
    return StorageBaselineResult(payloadBytes: payloadBytes, seconds: seconds,
                                 rowsPerSecondOnePerCommit: single, rowsPerSecondBatched: batched, batchRows: 64)
}
