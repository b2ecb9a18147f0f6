import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import CaucusRelayPostgres
import Foundation
import Logging
import Synchronization
import Testing

/// A fresh database on the test server; nil (after printing SKIP) when there is none. Under
/// CI=true a missing server throws, failing the test.
private func testDatabase() async throws -> TestDatabase? {
    guard TestPostgres.isConfigured || TestPostgres.isRequired else {
        print(TestPostgres.skipMessage)
        return nil
    }
    return try await TestPostgres.database()
}

/// Stops the instances still running (SIGTERM) and returns their exit statuses.
@discardableResult
private func stopInstances(_ instances: [RelayProcess]) async throws -> [Int32] {
    var statuses: [Int32] = []
    for instance in instances where instance.isRunning { statuses.append(try await instance.terminate()) }
    return statuses
}

/// `caucus-relay` processes on one database. The catch-up runs every `catchUp` seconds: tests of
/// the LISTEN/NOTIFY path set it far beyond their timeouts, so only a notice can deliver in time.
private func startInstances(_ database: TestDatabase, count: Int = 2, catchUp: Double = 600,
                            directory: TempDirectory) async throws -> [RelayProcess] {
    let arguments = ["--store", database.urlText, "--store-connections", "6", "--delivery-catch-up-seconds", "\(catchUp)",
                     "--store-connect-timeout", "60"]
    var instances: [RelayProcess] = []
    for _ in 0..<count { instances.append(try await RelayProcess.start(dataDirectory: directory.path, extra: arguments)) }
    return instances
}

/// Runs `caucus-relay` with `arguments` to its end (at most `timeout`); returns its exit status and stderr.
private func runRelay(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (status: Int32, stderr: String) {
    let outcome = try await ChildProcess.run(RelayProcess.executable, ["--host", "127.0.0.1", "--port", "0"] + arguments,
                                             environment: ProcessInfo.processInfo.environment, within: timeout)
    return (outcome.status, outcome.stderr)
}

/// Tells load loops to stop.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

@Suite("Relay: several instances on one PostgreSQL database", .timeLimit(.minutes(10)))
struct RelayPostgresTests {
    @Test("Clients on two instances chat one to one and in a group, pushed through LISTEN/NOTIFY")
    func chatAcrossInstances() async throws {
        guard let database = try await testDatabase() else { return }
        let directory = try TempDirectory()
        let instances = try await startInstances(database, directory: directory)
        // After a failure the instances die with their last reference; the end of the test stops them and checks how.
        defer { directory.remove() }
        let (a, b) = (instances[0], instances[1])
        let alice = Device(), bob = Device(), carol = Device(), dave = Device()
        let onA = try await RelayClient.connect(url: a.url, deviceKey: alice.key, timeout: processConnectTimeout)
        let carolOnA = try await RelayClient.connect(url: a.url, deviceKey: carol.key, timeout: processConnectTimeout)
        let onB = try await RelayClient.connect(url: b.url, deviceKey: bob.key, timeout: processConnectTimeout)
        let daveOnB = try await RelayClient.connect(url: b.url, deviceKey: dave.key, timeout: processConnectTimeout)

        try await onA.send(Data("to bob".utf8), to: [bob.id])
        #expect(try await onB.deliveries(1, timeout: .seconds(10)).map(\.payload) == [Data("to bob".utf8)])
        try await onB.send(Data("to alice".utf8), to: [alice.id])
        #expect(try await onA.deliveries(1, timeout: .seconds(10)).map(\.payload) == [Data("to alice".utf8)])

        let group = Data(Random.bytes(RelayProtocol.groupIDLength))
        let admin = Ed25519.PrivateKey()
        let route = try await onA.updateRoute(group: group, serial: 1, signer: admin, add: [alice.id, bob.id, carol.id, dave.id])
        #expect(route.devices == 4)
        let accepted = try await onA.sendToGroup(Data("to the group".utf8), group: group)
        #expect(accepted.recipients == 3)
        for client in [onB, carolOnA, daveOnB] {
            let got = try await client.deliveries(1, timeout: .seconds(10))
            #expect(got.map(\.payload) == [Data("to the group".utf8)] && got.first?.groupID?.data == group)
        }
        // A change made through B is the route A fans out by.
        try await onB.updateRoute(group: group, serial: 2, signer: admin, remove: [carol.id])
        #expect(try await onA.sendToGroup(Data("without carol".utf8), group: group).recipients == 2)
        for client in [onA, carolOnA, onB, daveOnB] { await client.close() }
        #expect(try await stopInstances(instances) == [0, 0], "SIGTERM stops both instances cleanly")
        await database.drop()
    }

    @Test("Concurrent prekey fetches through two instances never hand out a one-time prekey twice")
    func prekeysAcrossInstances() async throws {
        guard let database = try await testDatabase() else { return }
        let directory = try TempDirectory()
        let instances = try await startInstances(database, directory: directory)
        // After a failure the instances die with their last reference; the end of the test stops them and checks how.
        defer { directory.remove() }
        let owner = Device()
        let o = try await RelayClient.connect(url: instances[0].url, deviceKey: owner.key, timeout: processConnectTimeout)
        let reply = try await o.request(.publishPrekeys(WirePublishPrekeys.with {
            $0.signedPrekey = Data(Random.bytes(100))
            $0.oneTimePrekeys = (1...40).map { i in WireOneTimePrekey.with { $0.id = UInt32(i); $0.publicKey = Data(Random.bytes(32)) } }
        }))
        guard case .prekeysPublished(let published) = reply, published.oneTimePrekeys == 40 else { Issue.record("\(reply)"); return }
        let fetchers = try await withThrowingTaskGroup(of: RelayClient.self, returning: [RelayClient].self) { group in
            for index in 0..<10 {
                let url = instances[index % 2].url
                group.addTask { try await RelayClient.connect(url: url, deviceKey: Device().key, timeout: processConnectTimeout) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let handedOut = try await withThrowingTaskGroup(of: UInt32?.self, returning: [UInt32].self) { group in
            for fetcher in fetchers {
                for _ in 0..<6 {
                    group.addTask {
                        let reply = try await fetcher.request(.fetchPrekeys(WireFetchPrekeys.with { $0.owner = owner.id }))
                        guard case .prekeyBundle(let bundle) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
                        return bundle.hasOneTimePrekey ? bundle.oneTimePrekey.id : nil
                    }
                }
            }
            return try await group.reduce(into: []) { if let id = $1 { $0.append(id) } }
        }
        // 60 fetches, 40 keys: each key exactly once, 20 bundles without one.
        #expect(handedOut.count == 40)
        #expect(Set(handedOut) == Set(1...40))
        for fetcher in fetchers { await fetcher.close() }
        await o.close()
        try await stopInstances(instances)
        await database.drop()
    }

    @Test("One instance is killed with SIGKILL under load: every message it acknowledged is delivered through the other")
    func killOneInstanceUnderLoad() async throws {
        guard let database = try await testDatabase() else { return }
        let directory = try TempDirectory()
        var instances = try await startInstances(database, catchUp: 1, directory: directory)
        // After a failure the instances die with their last reference; the end of the test stops them and checks how.
        defer { directory.remove() }
        let (a, b) = (instances[0], instances[1])
        let bob = Device()
        let receiver = try await RelayClient.connect(url: b.url, deviceKey: bob.key, timeout: processConnectTimeout)
        let acknowledged = IDSet()
        // Three senders on A (to be killed) and one on B push 1 KiB messages to Bob on B.
        let senders = try await withThrowingTaskGroup(of: RelayClient.self, returning: [RelayClient].self) { group in
            for url in [a.url, a.url, a.url, b.url] { group.addTask { try await RelayClient.connect(url: url, deviceKey: Device().key, timeout: processConnectTimeout) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let stop = StopFlag()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for sender in senders {
                    for _ in 0..<4 {
                        group.addTask {
                            while !stop.isSet {
                                let id = newMessageID()
                                do {
                                    try await sender.send(Data(repeating: 0xAB, count: 1024), to: [bob.id], id: id)
                                    acknowledged.insert(id)
                                } catch {
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
        while acknowledged.count < 400 { try await Task.sleep(for: .milliseconds(20)) }
        a.kill()
        try await Task.sleep(for: .milliseconds(300))
        stop.set()
        await load.value
        for sender in senders { await sender.close() }
        let sent = acknowledged.all

        // Bob, still connected to B, is pushed every acknowledged message exactly once.
        var received: [Data] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while !sent.isSubset(of: Set(received)), ContinuousClock.now < deadline {
            let missing = sent.subtracting(received).count
            let pushed = try await receiver.deliveries(missing, timeout: .seconds(30))
            received.append(contentsOf: pushed.map(\.messageID.data))
        }
        #expect(sent.isSubset(of: Set(received)), "an acknowledged message was lost")
        #expect(Set(received).count == received.count, "a message was pushed twice on one connection")
        await receiver.close()

        // A restarted on the same database holds the same mailbox.
        instances[0] = try await startInstances(database, count: 1, directory: directory)[0]
        let again = try await RelayClient.open(url: instances[0].url, timeout: processConnectTimeout)
        try await again.hello()
        let pending = try await again.authenticate(deviceKey: bob.key).pendingMessages
        #expect(Int(pending) == Set(received).count)
        await again.close()
        try await stopInstances(instances)
        await database.drop()
    }

    @Test("A notice tells another instance at once; the catch-up finds deliveries no notice announced")
    func noticesAndCatchUp() async throws {
        guard let database = try await testDatabase() else { return }
        // Its warnings are printed: a failure here has been a LISTEN or a catch-up that kept failing.
        let watcher = try await database.open(logger: TestPostgres.warningLogger)
        let writer = try await database.open()
        let told = IDSet()
        let bob = Data(Random.bytes(32)), carol = Data(Random.bytes(32))
        func watch(catchUp: Duration) -> Task<Void, any Error> {
            Task {
                try await watcher.watchDeliveries(catchUp: catchUp, connected: { [bob, carol] },
                                                  storeChanged: { keys in keys.forEach(told.insert) })
            }
        }
        func waitTold(_ key: Data, within: Duration) async throws -> Bool {
            let deadline = ContinuousClock.now + within
            while ContinuousClock.now < deadline {
                if told.all.contains(key) { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }

        // No catch-up for ten minutes: only the NOTIFY of the writer's commit can tell the watcher.
        var watching = watch(catchUp: .seconds(600))
        // Until its LISTEN is in place the watcher hears nothing, so the writer commits again each
        // second until a notice gets through (at most 60 times), rather than guessing when it is.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var notified = false
        for _ in 0..<60 where !notified {
            _ = try await writer.commit(WriteBatch(messages: [
                NewMessage(messageID: Data(Random.bytes(16)), target: .devices([carol]), payload: Data("x".utf8),
                           acceptedAt: now, expiresAt: now + 60_000),
            ]))
            notified = try await waitTold(carol, within: .seconds(1))
        }
        #expect(notified)
        #expect(!told.all.contains(bob))
        watching.cancel()
        _ = try? await watching.value

        // A delivery written without any NOTIFY (as if the notice were lost) is found by the catch-up.
        let hex = bob.map { String(format: "%02x", $0) }.joined()
        try await database.execute("""
            WITH d AS (INSERT INTO devices (key, pending) VALUES ('\\x\(hex)', 1) RETURNING id),
                 m AS (INSERT INTO messages (message_id, payload, accepted_at, expires_at, remaining)
                       VALUES ('\\x00112233445566778899aabbccddeeff', '\\x01', \(now), \(now + 60_000), 1) RETURNING id)
            INSERT INTO deliveries (device, message) SELECT d.id, m.id FROM d, m
            """)
        // Every 200 ms; the bound is for a machine so loaded that the pool takes seconds to connect.
        watching = watch(catchUp: .milliseconds(200))
        #expect(try await waitTold(bob, within: .seconds(60)))
        watching.cancel()
        _ = try? await watching.value
        #expect(try await watcher.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 10).count == 1)
        try await watcher.close()
        try await writer.close()
        await database.drop()
    }
}

@Suite("Relay: PostgreSQL store durability", .timeLimit(.minutes(10)))
struct RelayPostgresSyncTests {
    @Test("Every pooled session commits with synchronous_commit = on, even where the database's default is off")
    func sessionsCommitSynchronously() async throws {
        guard let database = try await testDatabase() else { return }
        try await database.admin("ALTER DATABASE \(database.url.database) SET synchronous_commit = off")
        let store = try await database.open()
        // Several requests at once, so that more than one pooled session answers.
        let settings = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 { group.addTask { try await store.sessionSetting("synchronous_commit") } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(settings == Array(repeating: "on", count: 6), "\(settings)")
        try await store.close()
        await database.drop()
    }
}

// Six minutes: the outage test takes 90-105 s on a quiet machine, waiting for PostgresNIO to
// connect again. A limit it can pass under load matters: a test cancelled by its limit in the
// middle of closing its pool can wait forever, and the whole run with it (a fresh-clone run hung
// for 15 minutes with this test unfinished, its limit then 2 minutes).
@Suite("Relay: PostgreSQL store refusals and outages", .timeLimit(.minutes(10)))
struct RelayPostgresBadInputTests {
    @Test("A bad --store URL is refused at start with a clear error that does not show the password")
    func badStoreURL() async throws {
        for (url, expected) in [
            ("mysql://relay:hunter2secret@127.0.0.1/caucus", "--store takes a postgres:// URL"),
            ("postgres://relay:hunter2secret@/caucus", "names no host"),
            ("postgres://relay:hunter2secret@127.0.0.1:5432/", "names no database"),
            ("postgres://relay:hunter2secret@127.0.0.1/caucus?sslmode=sometimes", "sslmode must be"),
        ] {
            let (status, stderr) = try await runRelay(["--store", url])
            #expect(status != 0, "\(url)")
            #expect(stderr.contains(expected), "\(stderr)")
            #expect(!stderr.contains("hunter2secret"), "\(stderr)")
        }
    }

    @Test("An unreachable database or a wrong password stops the relay at start with a clear error")
    func unreachableDatabase() async throws {
        // Port 1 on loopback: nothing listens there.
        var (status, stderr) = try await runRelay(["--store", "postgres://relay:hunter2secret@127.0.0.1:1/caucus",
                                                   "--store-connect-timeout", "2"])
        #expect(status != 0)
        #expect(stderr.contains("cannot use the PostgreSQL store") && stderr.contains("127.0.0.1:1/caucus"), "\(stderr)")
        #expect(!stderr.contains("hunter2secret"), "\(stderr)")

        guard let database = try await testDatabase() else { return }
        var wrong = database.url
        wrong.password = "hunter2secret"
        (status, stderr) = try await runRelay(["--store", "\(wrong.description.replacingOccurrences(of: "***", with: "hunter2secret"))"])
        #expect(status != 0)
        #expect(stderr.contains("28P01") && stderr.contains("password authentication failed"), "\(stderr)")
        #expect(!stderr.contains("hunter2secret"), "\(stderr)")
        await database.drop()
    }

    @Test("When the database goes away, requests fail with INTERNAL; when it is back, nothing acknowledged is lost")
    func databaseGoesAway() async throws {
        guard let database = try await testDatabase() else { return }
        // The schema is made first, under the default bound: making it within the 20 s bound below
        // (twice that for a transaction to finish) failed once in a fresh-clone CI run, on two
        // cores the rest of the suite kept busy, as in databaseStopsAnswering. The store under
        // test then finds it made.
        try await database.open().close()
        // Short enough that the one request during the outage fails within the test's limit; long
        // enough to connect on a machine whose two cores the rest of the suite keeps busy (5 s
        // was not, once).
        let store = try await database.open(connectTimeout: .seconds(20))
        let (url, running) = try await startRelay(on: store)
        let alice = Device(), bob = Device()
        // The relay answers within twice its 20 s bound: 40 s.
        let sender = try await RelayClient.connect(url: url, deviceKey: alice.key, timeout: processConnectTimeout,
                                                   requestTimeout: .seconds(60))
        var sent: [Data] = []
        for _ in 0..<10 {
            let id = newMessageID()
            try await sender.send(Data("before".utf8), to: [bob.id], id: id)
            sent.append(id)
        }

        let name = database.url.database
        try await database.admin("ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
        try await database.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'")
        let during = newMessageID()
        let error = await relayError { try await sender.send(Data("during".utf8), to: [bob.id], id: during) }
        #expect(error?.code == .internal, "\(String(describing: error))")

        try await database.admin("ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        // The sender retries the same id until the relay takes it again. PostgresNIO's pool waits
        // longer between reconnection attempts the longer the outage lasted, up to 60 s; with the
        // 20 s wait for a connection, the relay may need 80 s to take requests again.
        #expect(try await sendUntilAccepted(sender, Data("during".utf8), to: bob.id, id: during, within: .seconds(150)))
        sent.append(during)
        let receiver = try await RelayClient.connect(url: url, deviceKey: bob.key, timeout: processConnectTimeout)
        let got = try await receiver.deliveries(sent.count).map(\.messageID.data)
        #expect(got == sent)
        await sender.close()
        await receiver.close()
        await running.stop()
        try await store.close()
        await database.drop()
    }

    @Test("When PostgreSQL holds a request past the bound, the relay answers INTERNAL, and the retry is delivered once")
    func databaseStopsAnswering() async throws {
        guard let database = try await testDatabase() else { return }
        // The schema is made first, under the default bound: making it within the 10 s bound below,
        // on a machine whose two cores the rest of the suite kept busy, failed once. The store
        // under test then finds it made.
        try await database.open().close()
        let store = try await database.open(connectTimeout: .seconds(10))
        let (url, running) = try await startRelay(on: store)
        let alice = Device(), bob = Device()
        // The relay answers within twice its 10 s bound: 20 s.
        let sender = try await RelayClient.connect(url: url, deviceKey: alice.key, timeout: processConnectTimeout,
                                                   requestTimeout: .seconds(60))
        let before = newMessageID()
        try await sender.send(Data("before".utf8), to: [bob.id], id: before)

        // A third party's transaction holds the messages table: the relay's transaction for the
        // next send has its connection, and waits on the database until the lock goes.
        let held = newMessageID()
        try await database.whileLocked("messages") {
            let error = await relayError { try await sender.send(Data("held".utf8), to: [bob.id], id: held) }
            #expect(error?.code == .internal, "\(String(describing: error))")
        }
        // The held transaction may commit once the lock goes; the retry with the same id is
        // taken either way, and the message is stored once.
        #expect(try await sendUntilAccepted(sender, Data("held".utf8), to: bob.id, id: held, within: .seconds(60)))
        let after = newMessageID()
        try await sender.send(Data("after".utf8), to: [bob.id], id: after)
        let receiver = try await RelayClient.connect(url: url, deviceKey: bob.key, timeout: processConnectTimeout)
        let got = try await receiver.deliveries(3).map(\.messageID.data)
        #expect(got == [before, held, after])
        await sender.close()
        await receiver.close()
        await running.stop()
        try await store.close()
        await database.drop()
    }

    /// Sends `payload` with `id` again and again until the relay takes it; false if it has not
    /// within `bound`.
    private func sendUntilAccepted(_ sender: RelayClient, _ payload: Data, to recipient: Data, id: Data,
                                   within bound: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if await relayError({ try await sender.send(payload, to: [recipient], id: id) }) == nil { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// A relay on a loopback port over `store`, quiet.
    private func startRelay(on store: PostgresRelayStore) async throws -> (url: String, running: RunningRelay) {
        var configuration = RelayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var logger = Logger(label: "test.relay")
        logger.logLevel = .critical
        let relay = Relay(configuration: configuration, store: store, logger: logger)
        let running = try await RelayServer(relay: relay, logger: logger).start()
        return (relay.publicAddresses.first!, running)
    }
}
