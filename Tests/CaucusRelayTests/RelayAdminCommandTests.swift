import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import GRDB
import Testing

/// Runs the built `caucus-relay` with `arguments` to its end, without the operator's
/// `CAUCUS_RELAY_*` settings of the environment the tests run in.
func adminCommand(_ arguments: [String]) async throws -> ChildProcess.Outcome {
    let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAUCUS_RELAY_") || $0.key == "CAUCUS_RELAY_BIN" }
    return try await ChildProcess.run(RelayProcess.executable, arguments, environment: environment, within: .seconds(90))
}

/// What a `--json` command printed, as an object; fails the test when it is none.
func jsonObject(_ outcome: ChildProcess.Outcome) throws -> [String: Any] {
    try #require(outcome.json as? [String: Any], "\(outcome)")
}

extension RelayClient {
    /// Posts a sealed card to an inbox.
    func postCard(inbox: Data, sealed: Data = Data("sealed".utf8)) async throws {
        let reply = try await request(.postCard(WirePostCard.with {
            $0.inboxKey = inbox
            $0.itemID = Data(Random.bytes(RelayProtocol.cardItemIDLength))
            $0.sealed = sealed
        }))
        guard case .cardPosted = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
    }

    /// Stores a one-chunk blob and returns its id.
    @discardableResult
    func putBlob(_ data: Data) async throws -> Data {
        let id = Data(Random.bytes(RelayProtocol.blobIDLength))
        let reply = try await request(.putBlobChunk(WirePutBlobChunk.with {
            $0.blobID = id
            $0.data = data
            $0.last = true
        }))
        guard case .blobChunkStored = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        return id
    }
}

/// `caucus-relay stats`, `prune`, `ban`, `unban` and `bans`, run as the operator runs them
/// (the built binary) on the SQLite store of a relay that keeps running.
@Suite("Relay: admin commands on a running relay's SQLite store", .timeLimit(.minutes(10)))
struct RelayAdminCommandTests {
    @Test("stats counts what clients left in the store while the relay runs, and prints no key")
    func stats() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = Device(), bob = Device(), carol = Device()
        let a = try await relay.connect(alice.key)
        for _ in 0..<3 { try await a.send(Data("for bob".utf8), to: [bob.id]) }
        try await a.send(Data("for both".utf8), to: [bob.id, carol.id])
        try await a.putBlob(Data(repeating: 1, count: 1_000))
        let inbox = Data(Random.bytes(32))
        for _ in 0..<2 { try await a.postCard(inbox: inbox) }

        let outcome = try await adminCommand(["stats", "--json", "--data-dir", relay.directory.path])
        #expect(outcome.status == 0, "\(outcome)")
        let report = try jsonObject(outcome)
        #expect(report["store"] as? String == "sqlite")
        #expect(report["location"] as? String == relay.databasePath)
        // Bob and Carol are recipients, Alice owns the blob.
        #expect(report["devices"] as? Int == 3)
        #expect(report["mailboxes"] as? Int == 2)
        #expect(report["deliveries_waiting"] as? Int == 5)
        #expect(report["messages_waiting"] as? Int == 4)
        let age = try #require(report["oldest_undelivered_age_seconds"] as? Int)
        #expect(age >= 0 && age < 600)
        #expect(report["blobs"] as? Int == 1)
        #expect(report["blob_bytes"] as? Int == 1_000)
        #expect(report["card_inboxes"] as? Int == 1)
        #expect(report["card_items"] as? Int == 2)
        #expect(report["banned_devices"] as? Int == 0)
        #expect((report["store_bytes"] as? Int ?? 0) > 0)

        // Bob reads and acknowledges his four: only Carol's one waits.
        let b = try await relay.connect(bob.key)
        let delivered = try await b.deliveries(4)
        try await b.ack(delivered.map(\.messageID.data))
        let text = try await adminCommand(["stats", "--data-dir", relay.directory.path])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("backlog:      1 deliveries waiting, of 1 messages; the oldest accepted "), "\(text)")
        #expect(text.stdout.contains("devices:      3 known, 1 with undelivered messages"), "\(text)")
        // The relay's settings file locates the store as well as --data-dir does.
        let config = relay.directory.file("relay.conf")
        try "data-dir = \(relay.directory.path)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let configured = try await adminCommand(["stats", "--config", config])
        #expect(configured.status == 0, "\(configured)")
        #expect(configured.stdout.contains(relay.databasePath), "\(configured)")
        #expect(configured.stdout.contains("devices:      3 known, 1 with undelivered messages"), "\(configured)")
        for device in [alice, bob, carol] {
            let key = device.id
            for form in [OperatorKeyText.hex(key), key.base64EncodedString(), logTag(key).dropLast().description] {
                #expect(!text.stdout.contains(form) && !outcome.stdout.contains(form), "stats printed a key: \(text)")
            }
        }
        await a.close()
        await b.close()
    }

    @Test("prune expires now, deletes the named card inboxes, and deletes nothing when one is missing")
    func prune() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        let closed = Data(Random.bytes(32)), open = Data(Random.bytes(32)), missing = Data(Random.bytes(32))
        for _ in 0..<3 { try await a.postCard(inbox: closed) }
        try await a.postCard(inbox: open)
        try await a.send(Data("kept".utf8), to: [bob.id])
        try await a.send(Data("short-lived".utf8), to: [bob.id], ttl: 1)
        let data = relay.directory.path

        let refused = try await adminCommand(["prune", "--card-inbox", OperatorKeyText.hex(closed),
                                              "--card-inbox", OperatorKeyText.hex(missing), "--data-dir", data])
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("no card inbox \(OperatorKeyText.hex(missing)) in the store"), "\(refused)")
        #expect(try await relay.store.cardCount(inboxKey: closed) == 3)

        // The relay's own sweep runs each minute: the command removes the expired message sooner.
        try await eventually("prune to expire the message whose second has passed", within: .seconds(60)) {
            let outcome = try await adminCommand(["prune", "--json", "--data-dir", data])
            return try jsonObject(outcome)["expired_messages"] as? Int == 1
        }
        #expect(try await relay.store.pendingCount(recipient: bob.id) == 1)

        let outcome = try await adminCommand(["prune", "--card-inbox", OperatorKeyText.hex(closed).uppercased(), "--data-dir", data])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.contains("expired: 0 messages (0 undelivered deliveries), 0 blobs"), "\(outcome)")
        #expect(outcome.stdout.contains("deleted card inbox \(OperatorKeyText.hex(closed)) with its 3 items"), "\(outcome)")
        #expect(try await relay.store.cardCount(inboxKey: closed) == 0)
        #expect(try await relay.store.cardCount(inboxKey: open) == 1)
        // The relay keeps serving: Bob gets the message that had not expired.
        let b = try await relay.connect(bob.key)
        #expect(try await b.deliveries(1).map(\.payload) == [Data("kept".utf8)])
        await a.close()
        await b.close()
    }

    @Test("A device banned while the relay runs is closed, refused at login with FORBIDDEN, and let in again when unbanned")
    func banAndUnban() async throws {
        let relay = try await TestRelay.start { $0.banCheckSeconds = 0.2 }
        defer { Task { await relay.stop() } }
        let mallory = Device(), alice = Device()
        let data = relay.directory.path
        let connected = try await relay.connect(mallory.key)
        let did = DID(publicKey: mallory.key.publicKey).description

        let banned = try await adminCommand(["ban", did, "--data-dir", data])
        #expect(banned.status == 0, "\(banned)")
        #expect(banned.stdout.contains("banned \(OperatorKeyText.hex(mallory.id)) (\(did))"), "\(banned)")
        // The open connection is told and closed.
        let pushed = try await connected.nextPushedError(timeout: .seconds(30))
        #expect(pushed.code == .forbidden, "\(pushed)")
        try await eventually("the banned device's connection to close") { !connected.isOpen }
        // A new login is refused; another device is not.
        let refusal = await relayError { _ = try await relay.connect(mallory.key) }
        #expect(refusal?.code == .forbidden, "\(String(describing: refusal))")
        let other = try await relay.connect(alice.key)
        // Messages for the banned device are still accepted and kept.
        try await other.send(Data("waits".utf8), to: [mallory.id])

        let again = try await adminCommand(["ban", OperatorKeyText.hex(mallory.id), "--data-dir", data])
        #expect(again.status == 0 && again.stdout.contains("was already banned, since"), "\(again)")
        let list = try await adminCommand(["bans", "--json", "--data-dir", data])
        let bans = try #require(try jsonObject(list)["bans"] as? [[String: Any]], "\(list)")
        #expect(bans.map { $0["key"] as? String } == [OperatorKeyText.hex(mallory.id)])
        #expect(bans.map { $0["did"] as? String } == [did])

        let unbanned = try await adminCommand(["unban", mallory.id.base64EncodedString(), "--data-dir", data])
        #expect(unbanned.status == 0, "\(unbanned)")
        let back = try await relay.connect(mallory.key)
        #expect(try await back.deliveries(1).map(\.payload) == [Data("waits".utf8)])
        let notBanned = try await adminCommand(["unban", OperatorKeyText.hex(mallory.id), "--data-dir", data])
        #expect(notBanned.status == 1 && notBanned.stderr.contains("is not banned"), "\(notBanned)")
        let empty = try await adminCommand(["bans", "--data-dir", data])
        #expect(empty.stdout == "no device is banned\n", "\(empty)")
        await back.close()
        await other.close()
    }

    @Test("Bad input is named, and a missing data directory or store is not created")
    func badInput() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let missing = directory.file("no-such-dir")
        let cases: [([String], String)] = [
            (["stats", "--data-dir", missing], "no data directory \(missing)"),
            (["stats", "--data-dir", directory.path], "no relay store at \(directory.file("relay.sqlite"))"),
            (["ban", "abc", "--data-dir", directory.path], "abc is not a device key: give the device key as 64 hex digits"),
            (["ban", "did:key:z6MkNotReally", "--data-dir", directory.path], "is not a device's DID"),
            (["ban", String(repeating: "ff", count: 32), "--data-dir", directory.path], "is 32 bytes but not an Ed25519 public key"),
            (["prune", "--card-inbox", "12ab", "--data-dir", directory.path], "12ab is not a card inbox id"),
            (["bans", "--store", "mysql://x", "--data-dir", directory.path], "--store takes a postgres:// URL"),
        ]
        for (arguments, expected) in cases {
            let outcome = try await adminCommand(arguments)
            #expect(outcome.status == 1, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(expected), "\(arguments): \(outcome)")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
        #expect(!FileManager.default.fileExists(atPath: directory.file("relay.sqlite")))
    }

    @Test("A store older than the command's schema is refused, not upgraded under a relay that may run on it")
    func olderSchemaRefused() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let path = directory.file("relay.sqlite")
        let old = try DatabaseQueue(path: path)
        try SQLiteRelayStore.migrator.migrate(old, upTo: "v3-ids-in-memory")
        try old.close()
        let outcome = try await adminCommand(["ban", OperatorKeyText.hex(Device().id), "--data-dir", directory.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("has an older schema than this caucus-relay's"), "\(outcome)")
        #expect(try SQLiteInspector.scalar(path: path, sql: "SELECT COUNT(*) FROM sqlite_master WHERE name = 'bans'") == 0)
    }

    @Test("A store a newer relay upgraded is refused by this relay and its commands, and left as it was")
    func newerSchemaRefused() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let path = directory.file("relay.sqlite")
        try await SQLiteRelayStore(path: path).close()
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        try queue.close()
        #expect(throws: SQLiteStoreOpenError.schemaTooNew(path)) { try SQLiteRelayStore(path: path) }
        let outcome = try await adminCommand(["stats", "--data-dir", directory.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("was upgraded by a newer caucus-relay"), "\(outcome)")
        let daemon = try await ChildProcess.run(RelayProcess.executable, ["--port", "0", "--data-dir", directory.path],
                                                environment: ProcessInfo.processInfo.environment)
        #expect(daemon.status != 0 && daemon.stderr.contains("was upgraded by a newer caucus-relay"), "\(daemon)")
        #expect(try SQLiteInspector.scalar(path: path, sql: "SELECT COUNT(*) FROM grdb_migrations WHERE identifier = 'v99-from-the-future'") == 1)
    }

    @Test("Each command's --help describes it")
    func help() async throws {
        let expected = [
            "stats": "Shows what the relay's store holds", "prune": "Removes expired messages and blobs now",
            "ban": "Bans a device from the relay", "unban": "Lifts a device's ban", "bans": "Lists the banned devices",
        ]
        for (command, abstract) in expected {
            let outcome = try await adminCommand([command, "--help"])
            #expect(outcome.status == 0 && outcome.stdout.contains(abstract), "\(outcome)")
            #expect(outcome.stdout.contains("--data-dir") && outcome.stdout.contains("--store"), "\(outcome)")
            #expect(!outcome.stdout.contains("--max-connections"), "the daemon's options in \(command) --help: \(outcome)")
        }
    }
}
