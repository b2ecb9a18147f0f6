@testable import CaucusClient
import CaucusCrypto
import Foundation
import GRDB
import CaucusLock
import Testing

/// A worker whose disk fills up: nothing the relay holds for them is lost, nothing is shown twice,
/// and they are told why. The disk is a real tmpfs of 4 MiB mounted for the test (needs root, as
/// the test script runs; elsewhere the suite is skipped, and under CI=true it fails instead).
/// Its limit is a bound on a hang: each test opens accounts (Argon2id) eight times or more, which
/// alone takes seconds but took 96 to 130 s beside the rest of the suite on 2 cores.
@Suite("Client: a full disk", .enabled(if: SmallDisk.canMount), .timeLimit(.minutes(10)))
struct DiskFullTests {
    /// A relay, Rosa, and Amira, whose home is a 4 MiB tmpfs.
    struct Scene {
        let relay: TestRelay
        let directory: TempDirectory
        let disk: SmallDisk
        let rosa: Worker
        let amira: Worker

        init() async throws {
            relay = try await TestRelay.start()
            directory = try TempDirectory()
            do {
                disk = try SmallDisk(at: directory.file("amira"), bytes: 4 << 20)
            } catch {
                directory.remove()
                throw error
            }
            do {
                rosa = try await Worker.make("Rosa", in: directory, relay: relay)
                amira = try await Worker.make("Amira", in: directory, relay: relay)
            } catch {
                disk.unmount()
                directory.remove()
                throw error
            }
        }

        func remove() {
            disk.unmount()
            directory.remove()
        }
    }

    @Test func nothingIsLostWhileTheDiskIsFull() async throws {
        let scene = try await Scene()
        defer { scene.remove() }
        let (relay, disk, rosa, amira) = (scene.relay, scene.disk, scene.rosa, scene.amira)
        let amiraKey = try await amira.run { account in
            try await account.sync()   // publishes her prekeys
            return account.did.publicKey
        }
        try await rosa.run { account in _ = try await account.send("before the disk filled", to: .direct(amiraKey)) }
        #expect(Worker.texts(try await amira.read()) == ["before the disk filled"])

        try disk.fill()
        // The store's log may still have room for a message or two in pages it already holds
        // (SQLite reuses its write-ahead log in place), so Rosa writes until Amira's caucus can
        // take no more; what it took before is shown, and must not be shown again.
        var texts: [String] = [], shown: [String] = []
        var failure: ClientError?
        for number in 1...20 {
            let text = "while the disk is full \(number)"
            texts.append(text)
            try await rosa.run { account in _ = try await account.send(text, to: .direct(amiraKey)) }
            var read: [String] = []
            failure = await clientError { read = Worker.texts(try await amira.read()) }
            if failure != nil { break }
            shown += read
        }
        // Amira's caucus says why it cannot take them; the relay keeps every one it did not take.
        #expect(failure?.description.contains("the disk is full") == true, "\(String(describing: failure))")
        let held = try await relay.store.pendingDeliveries(recipient: Data(amiraKey.rawRepresentation), afterSequence: 0, limit: 100)
        #expect(held.count == texts.count - shown.count)
        // Her replies cannot be written either: refused with the reason, nothing claimed as sent.
        let rosaKey = try await rosa.run { $0.did.publicKey }
        let refused = await clientError { try await amira.run { account in _ = try await account.send("reply", to: .direct(rosaKey)) } }
        #expect(refused?.description.contains("the disk is full") == true, "\(String(describing: refused))")

        // Space again: everything arrives once, in order, and the store is intact.
        disk.emptyFiller()
        let after = try await amira.read()
        #expect(shown + Worker.texts(after) == texts)
        #expect(Worker.texts(try await amira.read()).isEmpty)
        let queue = try DatabaseQueue(path: (disk.path as NSString).appendingPathComponent("store.sqlite"))
        #expect(try await queue.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") } == "ok")
        try queue.close()
        await relay.stop()
    }

    /// A chat left open: deliveries the full disk refused come again on a new connection, which
    /// the open account makes by itself once it has waited `retryUnstoredAfter`.
    @Test func anOpenChatGetsWhatTheFullDiskRefusedOnceThereIsSpace() async throws {
        let scene = try await Scene()
        defer { scene.remove() }
        let (relay, disk, rosa, amira) = (scene.relay, scene.disk, scene.rosa, scene.amira)
        let open = try await Account.open(home: amira.home, passphrase: Worker.passphrase)
        let events = Events()
        await open.observe { event in if case .connection(let text) = event { events.append(text) } }
        await open.setRetryUnstoredAfter(.seconds(1))
        let amiraKey = open.did.publicKey
        let staying = Task { await open.stayConnected() }
        defer { staying.cancel() }
        try await events.wait(for: "connected to")
        try await rosa.run { account in _ = try await account.send("before the disk filled", to: .direct(amiraKey)) }
        try await waitUntil { Worker.texts(try await open.unread(markRead: false)).count == 1 }

        try disk.fill()
        let texts = (1...3).map { "while the disk is full \($0)" }
        try await rosa.run { account in for text in texts { _ = try await account.send(text, to: .direct(amiraKey)) } }
        try await events.wait(for: "the disk is full")
        // Still full: the account keeps replacing its connection, and the relay keeps every one.
        try await events.wait(for: "reconnecting to receive them again")
        #expect(try await relay.store.pendingCount(recipient: Data(amiraKey.rawRepresentation)) == texts.count)

        disk.emptyFiller()
        try await waitUntil { Worker.texts(try await open.unread(markRead: false)).count == 1 + texts.count }
        #expect(Worker.texts(try await open.unread()) == ["before the disk filled"] + texts)
        try await waitUntil { try await relay.store.pendingCount(recipient: Data(amiraKey.rawRepresentation)) == 0 }
        staying.cancel()
        await staying.value
        await open.close()
        await relay.stop()
    }
}

/// Connection notes an account told its observer.
private final class Events: Sendable {
    private let texts = Locked<[String]>([])
    func append(_ text: String) { texts.withLock { $0.append(text) } }
    /// Waits (at most 60 s) for a note containing `fragment`.
    func wait(for fragment: String) async throws {
        try await waitUntil { self.texts.withLock { $0.contains { $0.contains(fragment) } } }
    }
}

/// Polls `condition` every 50 ms until it holds; fails the test after `limit`.
private func waitUntil(_ limit: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        try #require(ContinuousClock.now < deadline, "the condition did not hold within \(limit)")
        try await Task.sleep(for: .milliseconds(50))
    }
}
