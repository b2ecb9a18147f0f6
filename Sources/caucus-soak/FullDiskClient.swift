// One real client whose disk fills up during the soak: a sender and a receiver made with the
// client library (keystore, encrypted SQLite store, sessions), the receiver's data on a small
// tmpfs that is filled before the first relay kill and freed after it.
import CaucusClient
import CaucusCrypto
import CaucusTestSupport
import Foundation
import GRDB
import CaucusLock

/// What the full-disk client saw. Every count of something wrong must be 0; `deliveriesRefused`
/// and (when the soak kills the relay) `killsWhileFull` must not be; and `quickCheck` must be "ok".
/// A read on the full disk may succeed: one that has nothing to write (its lines were marked read
/// before the disk filled) or whose few pages fit in space the store's files already have (the log
/// is reused from its start after each checkpoint); one that fails must fail with "the disk is
/// full", or it is counted in `unexpected`.
struct FullDiskReport: Codable {
    /// Messages the sender's client took (sent at once, or queued in its outbox).
    var sent = 0
    /// Of those, sends that were queued because the relay was away at that moment.
    var queued = 0
    /// Of `sent`, how many the relay accepted: all but what is still in the sender's outbox at the end.
    var accepted = 0
    /// Reads (sync, then the unread lines) while the disk was full.
    var readsWhileFull = 0
    /// Of those, reads refused with the store's "the disk is full" (a read that marks lines read
    /// writes; whether it finds room depends on where the store's log stands).
    var diskFullFailures = 0
    /// Deliveries the full store could not take, each reported to the user ("the disk is full")
    /// and left unacknowledged on the relay.
    var deliveriesRefused = 0
    /// Messages a read showed while the disk was full: ones SQLite could still store in space its
    /// files already had (it may, and then acknowledging them is right).
    var storedWhileFull = 0
    /// Reads that found no relay (it was being killed and restarted).
    var relayUnreachableReads = 0
    /// Times the relay was killed while the disk was full.
    var killsWhileFull = 0
    /// Accepted messages that reached the receiver, each counted once.
    var delivered = 0
    /// Accepted messages that never reached the receiver.
    var lost = 0
    /// Messages the receiver was shown more than once.
    var duplicates = 0
    /// Messages the receiver was shown that the sender never sent, byte for byte.
    var corrupted = 0
    /// Whether the receiver was shown the messages in the order they were sent.
    var inOrder = true
    /// SQLite's `PRAGMA quick_check` on the receiver's store after the run.
    var quickCheck = ""
    /// Failures nothing in the run explains (client error descriptions; never a message text).
    var unexpected: [String] = []

    /// Why this run failed, or nil when it did not; `killed`: whether the soak killed the relay at all.
    func failure(killed: Bool) -> String? {
        var reasons: [String] = []
        if lost > 0 { reasons.append("\(lost) lost") }
        if duplicates > 0 { reasons.append("\(duplicates) shown twice") }
        if corrupted > 0 { reasons.append("\(corrupted) corrupted") }
        if !inOrder { reasons.append("out of order") }
        if deliveriesRefused == 0 { reasons.append("no delivery ever met the full store") }
        if killed, killsWhileFull == 0 { reasons.append("the relay was never killed while the disk was full") }
        if quickCheck != "ok" { reasons.append("store check: \(quickCheck)") }
        if !unexpected.isEmpty { reasons.append("\(unexpected.count) unexpected failures, first: \(unexpected[0])") }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }
}

/// When the disk is filled and freed, and how often the client sends and reads, in proportion to
/// the run: the disk fills well before the first kill and is freed past halfway to the next one, so
/// that a 20 s run and a 5 min run both see several reads on a full disk with a relay kill among
/// them. Messages go in bursts a second apart: a read waits for the relay to be quiet for 600 ms.
struct FullDiskSchedule {
    let fill: Duration
    let free: Duration
    /// Messages sent back to back each second: some 200 to 300 in a run.
    let burst: Int
    let readEvery: Duration

    init(duration: Double, kills: Int) {
        let gap = duration / Double(kills + 1)
        fill = .seconds(gap * 0.3)
        free = .seconds(min(gap * 1.6, duration * 0.8))
        burst = min(max(Int((200 / duration).rounded(.up)), 1), 10)
        readEvery = .seconds(min(max(duration / 60, 0.5), 5))
    }
}

/// The sender keeps its account open (as `caucus chat` does) and sends messages every second; the
/// receiver, its data directory on `disk`, reads every few seconds in sessions of a few reads (as
/// someone who opens `caucus chat`, reads a while and quits).
final class FullDiskClient: Sendable {
    private let disk: SmallDisk
    private let sender: Account
    private let receiverHome: ClientHome
    private let passphrase: Passphrase
    private let conversation: Conversation
    private let senderKey: Ed25519.PublicKey
    private let state = Locked(State())

    private struct State {
        /// Texts the sender's client took, in order.
        var sent: [String] = []
        /// Texts the receiver was shown, in order.
        var received: [String] = []
        var full = false
        /// The receiver's account while a session is open, and how many reads it has done.
        var receiver: Account?
        var readsInSession = 0
        /// How many of the open account's `problems` have been sorted.
        var problemsTaken = 0
        var report = FullDiskReport()
    }

    /// Reads per session of the receiver.
    static let readsPerSession = 2

    /// Makes both identities on `relayURL`, the receiver's on `disk`, and opens the session with
    /// a first message.
    static func start(relayURL: String, directory: String, disk: SmallDisk) async throws -> FullDiskClient {
        let passphrase = Passphrase(Data(Random.bytes(24)).base64EncodedString())
        let receiverHome = ClientHome(explicit: disk.path)
        let receiver = try await Account.create(home: receiverHome, passphrase: passphrase, displayName: "Receiver", parameters: .interactive)
        try await receiver.addRelay(relayURL)
        try await receiver.sync()   // publishes its prekeys
        await receiver.close()
        let sender = try await Account.create(home: ClientHome(explicit: (directory as NSString).appendingPathComponent("sender")),
                                        passphrase: passphrase, displayName: "Sender", parameters: .interactive)
        try await sender.addRelay(relayURL)
        let client = FullDiskClient(disk: disk, sender: sender, receiverHome: receiverHome, passphrase: passphrase,
                                    receiver: receiver.did.publicKey)
        try await client.sendOne()
        return client
    }

    private init(disk: SmallDisk, sender: Account, receiverHome: ClientHome, passphrase: Passphrase, receiver: Ed25519.PublicKey) {
        self.disk = disk
        self.sender = sender
        self.receiverHome = receiverHome
        self.passphrase = passphrase
        conversation = .direct(receiver)
        senderKey = sender.did.publicKey
    }

    /// Sends and reads until `end`, filling and freeing the disk on `schedule` from `start`.
    func run(from start: ContinuousClock.Instant, until end: ContinuousClock.Instant, schedule: FullDiskSchedule) async {
        async let sending: Void = sendUntil(end, burst: schedule.burst)
        async let reading: Void = readUntil(end, from: start, schedule: schedule)
        _ = await (sending, reading)
    }

    /// After the load: frees the disk if it is still full, lets the sender empty its outbox and
    /// the receiver read until it has everything (or `deadline` passes), then accounts for it all.
    func finish(deadline: ContinuousClock.Instant) async -> FullDiskReport {
        if state.withLock({ $0.full }) { free() }
        while ContinuousClock.now < deadline, ((try? await sender.queuedCount()) ?? 1) > 0 {
            _ = try? await sender.sync()
            try? await Task.sleep(for: .milliseconds(200))
        }
        let stillQueued = (try? await sender.queuedCount()) ?? 0
        await sender.close()
        let sent = state.withLock { $0.sent }
        let accepted = Array(sent.prefix(sent.count - stillQueued))
        // Read until everything accepted is here, then once more in a new session: a repeat
        // would show there.
        await endSession()
        while ContinuousClock.now < deadline, Set(state.withLock { $0.received }).isSuperset(of: accepted) == false {
            await readOnce()
            try? await Task.sleep(for: .milliseconds(200))
        }
        await endSession()
        await readOnce()
        await endSession()

        let quickCheck = Self.quickCheck(receiverHome.storePath)
        return state.withLock { state in
            var report = state.report
            report.quickCheck = quickCheck
            report.sent = sent.count
            report.accepted = accepted.count
            let position = Dictionary(uniqueKeysWithValues: sent.enumerated().map { ($1, $0) })
            var shown = Set<String>(), last = -1
            for text in state.received {
                guard let index = position[text] else { report.corrupted += 1; continue }
                guard shown.insert(text).inserted else { report.duplicates += 1; continue }
                if index < last { report.inOrder = false }
                last = index
            }
            report.delivered = accepted.count(where: shown.contains)
            report.lost = accepted.count - report.delivered
            return report
        }
    }

    // MARK: The sender

    private func sendUntil(_ end: ContinuousClock.Instant, burst: Int) async {
        var next = ContinuousClock.now
        while next < end {
            for _ in 0..<burst {
                do { try await sendOne() } catch {
                    note("send: \(error)")
                }
            }
            next += .seconds(1)
            try? await Task.sleep(until: next)
        }
    }

    /// One message of random text: sent now, or queued while the relay is away.
    private func sendOne() async throws {
        let text = "soak \(state.withLock { $0.sent.count }) " + Data(Random.bytes(150)).base64EncodedString()
        let outcome = try await sender.send(text, to: conversation)
        state.withLock { state in
            state.sent.append(text)
            if case .queued = outcome { state.report.queued += 1 }
        }
    }

    // MARK: The receiver

    private func readUntil(_ end: ContinuousClock.Instant, from start: ContinuousClock.Instant, schedule: FullDiskSchedule) async {
        while ContinuousClock.now < end {
            await takeProblems()
            // The disk changes between reads, so that each read is plainly on a full disk or not,
            // and fills while a session is open: deliveries then reach a store that cannot take them.
            let (full, inSession) = state.withLock { ($0.full, $0.receiver != nil) }
            if !full, inSession, ContinuousClock.now >= start + schedule.fill, ContinuousClock.now < start + schedule.free {
                do {
                    try disk.fill()
                    state.withLock { $0.full = true }
                    progress("full-disk client: the receiver's disk is full")
                } catch {
                    note("fill: \(error)")
                }
            } else if full, ContinuousClock.now >= start + schedule.free {
                free()
            }
            await readOnce()
            try? await Task.sleep(for: schedule.readEvery)
        }
    }

    /// Told by the soak when it kills the relay.
    func relayKilled() {
        state.withLock { state in if state.full { state.report.killsWhileFull += 1 } }
    }

    private func free() {
        disk.emptyFiller()
        state.withLock { $0.full = false }
        progress("full-disk client: the receiver's disk has space again")
    }

    /// One read as the chat screen does it (sync, then take the unread lines), in the receiver's
    /// session: the account is opened for the first read of a session and closed after the last.
    private func readOnce() async {
        let full = state.withLock { $0.full }
        do throws(ClientError) {
            let account = try await session()
            var failure: ClientError?
            var lines: [MessageView] = []
            do throws(ClientError) {
                try await account.sync()
                lines = try await account.unread()
            } catch {
                failure = error
            }
            await takeProblems()
            await endOfRead()
            if let failure { throw failure }
            let texts = lines.filter { !$0.message.outgoing && $0.message.kind == .text && $0.conversation == .direct(senderKey) }
                .map(\.message.text)
            state.withLock { state in
                state.received += texts
                if full {
                    state.report.readsWhileFull += 1
                    state.report.storedWhileFull += texts.count
                }
            }
        } catch {
            state.withLock { state in
                if full { state.report.readsWhileFull += 1 }
                switch error {
                case .storeUnavailable where full && error.description.contains("the disk is full"):
                    state.report.diskFullFailures += 1
                case .relayUnreachable:
                    state.report.relayUnreachableReads += 1
                default:
                    state.report.unexpected.append("read\(full ? " on the full disk" : ""): \(error)")
                }
            }
        }
    }

    /// The receiver's open account, opened now if its session has ended.
    private func session() async throws(ClientError) -> Account {
        if let account = state.withLock({ $0.receiver }) { return account }
        let account = try await Account.open(home: receiverHome, passphrase: passphrase)
        state.withLock { state in
            state.receiver = account
            state.readsInSession = 0
            state.problemsTaken = 0
        }
        return account
    }

    /// Sorts what the receiver's open account has told its user since last asked (deliveries
    /// arrive between reads too): a delivery the store could not take is expected while the disk
    /// is full, and nothing else is. The disk changes only after this has run.
    private func takeProblems() async {
        guard let account = state.withLock({ $0.receiver }) else { return }
        let problems = await account.problems
        state.withLock { state in
            for problem in problems.dropFirst(state.problemsTaken) {
                if state.full, problem.contains("could not store a message"), problem.contains("the disk is full") {
                    state.report.deliveriesRefused += 1
                } else {
                    state.report.unexpected.append("the receiver was told\(state.full ? " on the full disk" : ""): \(problem)")
                }
            }
            state.problemsTaken = problems.count
        }
    }

    /// Counts a read of the session, and closes the account after the session's last.
    private func endOfRead() async {
        let ended: Account? = state.withLock { state in
            state.readsInSession += 1
            guard state.readsInSession >= Self.readsPerSession else { return nil }
            defer { state.receiver = nil }
            return state.receiver
        }
        await ended?.close()
    }

    /// Closes the receiver's account now.
    private func endSession() async {
        await takeProblems()
        await state.withLock { state in defer { state.receiver = nil }; return state.receiver }?.close()
    }

    private func note(_ text: String) {
        state.withLock { $0.report.unexpected.append(text) }
    }

    /// `PRAGMA quick_check` on a SQLite file, opened read-only.
    private static func quickCheck(_ path: String) -> String {
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") } ?? "no answer"
        } catch {
            return "cannot open: \(error)"
        }
    }
}
