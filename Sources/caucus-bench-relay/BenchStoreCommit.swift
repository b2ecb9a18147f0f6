// Part 4: the store alone, without the network: what one commit of the relay's SQLite store costs
// the committing thread. The relay's half-load latency waits on that one thread, so its CPU per
// message is the figure to lower. It varied between 28 and 38 µs in six runs of one day, where the
// half-load p99 varies threefold, so it shows changes that a latency run cannot.
import CaucusIdentity
import CaucusRelay
import Foundation
import Glibc

struct StoreCommitResult: Codable, Sendable {
    var commits: Int
    var messagesPerCommit: Int
    var recipients: Int
    var payloadBytes: Int
    /// Requests in all commits: messages and acknowledgements (one per recipient acknowledged).
    var requests: Int
    /// CPU of the committing thread (CLOCK_THREAD_CPUTIME_ID) per message, its delivery row and
    /// its acknowledgement included.
    var cpuMicrosecondsPerMessage: Double
    var cpuMicrosecondsPerRequest: Double
    /// Wall time of one commit, its fdatasync included (mean), and the messages per second of
    /// commit time (the batches are made outside it).
    var wallMillisecondsPerCommit: Double
    var messagesPerSecond: Double
}

/// CPU time this thread has used, in nanoseconds.
private func threadCPUNanos() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Commits `commits` batches straight to a `SQLiteRelayStore` (the relay's settings) on this
/// thread: `messagesPerCommit` one-recipient messages spread over `recipients` devices, and the
/// acknowledgements of the messages committed two batches before, as a receiver that keeps up
/// sends them. The first 10 % of the commits warm the store up and are not counted.
func runStoreCommit(commits: Int, messagesPerCommit: Int = 40, recipients: Int = 100, payloadBytes: Int,
                    directory: URL) async throws -> StoreCommitResult {
    progress("store commit: \(commits) commits of \(messagesPerCommit) messages to \(recipients) devices, no network")
    let store = try SQLiteRelayStore(path: directory.appendingPathComponent("store-commit-\(UUID().uuidString).sqlite").path)
    let devices = (0..<recipients).map { _ in Data(Random.bytes(32)) }
    let payload = Data(Random.bytes(payloadBytes))
    let ids = Random.bytes(16 * commits * messagesPerCommit)
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let warmup = commits / 10
    var committed: [[(recipient: Data, id: Data)]] = []
    var requests = 0, cpu: UInt64 = 0, wall: UInt64 = 0
    for commit in 0..<commits {
        var messages: [NewMessage] = []
        var sent: [(recipient: Data, id: Data)] = []
        for index in 0..<messagesPerCommit {
            let number = commit * messagesPerCommit + index
            let id = Data(ids[(16 * number)..<(16 * number + 16)])
            let recipient = devices[number % recipients]
            messages.append(NewMessage(messageID: id, target: .devices([recipient]), payload: payload,
                                       acceptedAt: now, expiresAt: now + 86_400_000))
            sent.append((recipient, id))
        }
        committed.append(sent)
        var acknowledgements: [Acknowledgement] = []
        if committed.count > 2 {
            let old = committed.removeFirst()
            for (recipient, list) in Dictionary(grouping: old, by: \.recipient) {
                acknowledgements.append(Acknowledgement(recipient: recipient, messageIDs: list.map(\.id)))
            }
        }
        let batch = WriteBatch(messages: messages, acknowledgements: acknowledgements)
        let (before, started) = (threadCPUNanos(), monotonicNanos())
        let result = try store.commitBlocking(batch)
        let (used, took) = (threadCPUNanos() - before, monotonicNanos() - started)
        guard result.outcomes.allSatisfy({ if case .stored = $0 { true } else { false } }) else {
            throw BenchError("the store did not store every message of commit \(commit)")
        }
        if commit >= warmup {
            cpu += used
            wall += took
            requests += messages.count + acknowledgements.count
        }
    }
    try await store.close()
    let counted = commits - warmup
    return StoreCommitResult(
        commits: counted, messagesPerCommit: messagesPerCommit, recipients: recipients, payloadBytes: payloadBytes,
        requests: requests,
        cpuMicrosecondsPerMessage: Double(cpu) / 1_000 / Double(counted * messagesPerCommit),
        cpuMicrosecondsPerRequest: Double(cpu) / 1_000 / Double(requests),
        wallMillisecondsPerCommit: Double(wall) / 1e6 / Double(counted),
        messagesPerSecond: Double(counted * messagesPerCommit) / (Double(wall) / 1e9))
}
