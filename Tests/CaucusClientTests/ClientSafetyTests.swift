@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation
import GRDB
import Testing

/// What must hold whatever goes wrong: wrong passphrases, damaged stores, replays, bad invites,
/// tampered files; and what the store and relay may never hold in clear.
@Suite("Client safety", .timeLimit(.minutes(10)))
struct ClientSafetyTests {
    @Test func wrongPassphraseOpensNothingAndChangesNothing() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: nil)
        let before = try [rosa.home.keystorePath, rosa.home.storePath].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let error = await clientError { _ = try await Account.open(home: rosa.home, passphrase: Passphrase("not it")) }
        #expect(error == .wrongPassphrase)
        let after = try [rosa.home.keystorePath, rosa.home.storePath].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(before == after)
        #expect(try await rosa.run { try await $0.displayName() } == "Rosa")
    }

    @Test func damagedOrForeignStoreIsRefusedUntouched() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: nil)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: nil)

        // Another identity's store in Rosa's directory.
        let own = try Data(contentsOf: URL(fileURLWithPath: rosa.home.storePath))
        try FileManager.default.removeItem(atPath: rosa.home.storePath)
        try FileManager.default.copyItem(atPath: tomasz.home.storePath, toPath: rosa.home.storePath)
        guard case .damagedStore(_, let reason)? = await clientError({ _ = try await Account.open(home: rosa.home, passphrase: Worker.passphrase) }) else {
            Issue.record("a foreign store was opened")
            return
        }
        #expect(reason.contains("another identity"))

        // Bytes overwritten in the middle of the file.
        var damaged = own
        damaged.replaceSubrange(0..<4096, with: Data(Random.bytes(4096)))
        try FileManager.default.removeItem(atPath: rosa.home.storePath)
        try damaged.write(to: URL(fileURLWithPath: rosa.home.storePath))
        let error = await clientError { _ = try await Account.open(home: rosa.home, passphrase: Worker.passphrase) }
        guard case .damagedStore? = error else {
            Issue.record("a damaged store gave \(String(describing: error))")
            return
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: rosa.home.storePath)) == damaged)
    }

    @Test func invitesWorkOnceAndExpire() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: nil)
        let amira = try await Worker.make("Amira", in: directory, relay: nil)
        _ = try await rosa.run { try await $0.createGroup(name: "Warehouse 5") }
        let code = try await rosa.run { try await $0.createInvite(group: "Warehouse 5") }
        let shortLived = try await rosa.run { try await $0.createInvite(group: "Warehouse 5", lifetime: 1) }

        #expect(try await tomasz.run { try await $0.join(code, wait: .zero) } == .pending)
        #expect(try await amira.run { try await $0.join(code, wait: .zero) } == .pending)
        try await Task.sleep(for: .milliseconds(1100))
        // The code carries its expiry: an expired one is refused at once, without asking Rosa.
        let nadia = try await Worker.make("Nadia", in: directory, relay: nil)
        let expired = await clientError { _ = try await nadia.run { try await $0.join(shortLived, wait: .seconds(10)) } }
        guard case .invalidInvite(let why) = expired else { Issue.record("not refused as expired: \(String(describing: expired))"); return }
        #expect(why.hasPrefix("it expired "))
        let rosaKey = try await rosa.run { $0.did }
        #expect(why.hasSuffix("ask the inviter (\(rosaKey.short)) for a new one"))

        let (problems, admissions) = try await rosa.run { account in try await account.sync(); return (await account.problems, await account.admissions) }
        #expect(problems == ["refused a join request from Amira (\(try await amira.run { $0.did }.short)): this invite to Warehouse 5 was already used"])
        #expect(admissions.count == 1 && admissions[0].hasPrefix("admitted Tomasz (") && admissions[0].hasSuffix(" to Warehouse 5 with invite \(code.shortID)"))

        #expect(try await tomasz.run { try await $0.join(code, wait: .seconds(60)) } == .joined("Warehouse 5"))
        #expect(await clientError { _ = try await amira.run { try await $0.join(code, wait: .seconds(60)) } }
            == .joinRefused(inviter: rosaKey.short, reason: "this invite to Warehouse 5 was already used"))
        let invites = try await rosa.run { try await $0.invites() }
        #expect(invites.first { $0.shortID == code.shortID }?.usedBy?.name == "Tomasz")
        #expect(try await rosa.run { try await $0.members(of: "Warehouse 5") }.count == 2)
        await relay.stop()
    }

    @Test func inviteCodesRefuseDamage() throws {
        let code = InviteCode(inviter: Ed25519.PrivateKey().publicKey, inviteID: Random.bytes(16), secret: Random.bytes(16),
                              relay: "wss://relay.example.org")
        #expect(try InviteCode(parsing: code.text) == code)
        #expect(try InviteCode(parsing: "  " + code.text + "\n") == code)
        // Version 2 carries the expiry, to the second; version 1 (above) has none.
        let expiring = InviteCode(inviter: code.inviter, inviteID: code.inviteID, secret: code.secret, relay: code.relay,
                                  expiresAt: Date(timeIntervalSince1970: 1_900_000_000.7))
        let parsed = try InviteCode(parsing: expiring.text)
        #expect(parsed == expiring && parsed.expiresAt == Date(timeIntervalSince1970: 1_900_000_000) && code.expiresAt == nil)
        #expect(parsed.hasExpired(at: Date(timeIntervalSince1970: 1_900_000_000)) && !parsed.hasExpired(at: Date(timeIntervalSince1970: 1_899_999_999)))
        var chars = Array(code.text)
        let index = chars.count - 5
        chars[index] = chars[index] == "a" ? "b" : "a"
        let cases = [
            (String(chars), "checksum"), (String(code.text.dropLast(20)), "checksum"),
            ("caucus-invite:0OIl", "cannot be in an invite"), ("hello", "starts with"), ("caucus-invite:abc", "too short"),
            // Intact, but its relay is not a ws:// or wss:// URL (Protocol.md §9.4).
            (InviteCode(inviter: code.inviter, inviteID: code.inviteID, secret: code.secret, relay: "wsx://relay.example.org").text,
             "contents are not valid"),
        ]
        for (text, reason) in cases {
            do {
                _ = try InviteCode(parsing: text)
                Issue.record("\(text) parsed")
            } catch {
                guard case .invalidInvite(let why) = error, why.contains(reason) else {
                    Issue.record("\(text): \(error), expected \(reason)")
                    continue
                }
            }
        }
    }

    /// Found while fuzzing invites: base58 decoding is quadratic, so a pasted megabyte of base58
    /// took hours to refuse. Text far longer than any invite is refused before decoding: the
    /// length refusal (not a decoding one) is the proof, and a decoder reached would hang the
    /// suite past its time limit. (No wall-clock bound here: this test once took 1.2 s under load.)
    @Test func aHugeInviteTextIsRefusedAtOnce() throws {
        #expect(throws: ClientError.invalidInvite("it is far longer than an invite (1024 characters at most)")) {
            try InviteCode(parsing: "caucus-invite:" + String(repeating: "2", count: 1 << 20))
        }
        let longRelay = InviteCode(inviter: Ed25519.PrivateKey().publicKey, inviteID: Array(0..<16), secret: Array(16..<32),
                                   relay: "wss://" + String(repeating: "r", count: 600) + ".example.org")
        #expect(try InviteCode(parsing: longRelay.text) == longRelay)
    }

    @Test func redeliveryAndReplayShowNothingTwice() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, _) = try await GroupFlowTests.warehouse(directory, relay)
        _ = try await tomasz.read()
        // Capture what the relay delivers to Tomasz, as a hostile relay would.
        let tomaszKey = try await tomasz.run { $0.did.publicKey }, rosaKey = try await rosa.run { $0.did.publicKey }
        try await rosa.run { account in
            _ = try await account.send("only once, group", to: try await account.resolve("Warehouse 5"))
            _ = try await account.send("only once, direct", to: .direct(tomaszKey))
        }
        let stored = try await relay.store.pendingDeliveries(recipient: Data(tomaszKey.rawRepresentation), afterSequence: 0, limit: 10)
            .map { item in
                Delivery(messageID: MessageID(item.messageID), sequence: 0, payload: item.payload, groupID: item.groupID.map(GroupID.init),
                         acceptedAtMs: 0, expiresAtMs: 0)
            }
        #expect(stored.count == 2)
        try await tomasz.run { account in
            try await account.sync()
            // The same delivery again (a lost acknowledgement): recognised by its id, nothing new.
            for delivery in stored { try await account.receive(delivery) }
            // The same ciphertext under fresh ids (a replay): refused by the session and the group.
            for delivery in stored {
                var replay = delivery
                replay.messageID = MessageID.random()
                try await account.receive(replay)
            }
            let lines = try await account.unread()
            #expect(Worker.texts(lines).sorted() == ["only once, direct", "only once, group"])
            #expect(lines.contains { $0.conversation != .direct(rosaKey) && $0.message.kind == .warning && $0.message.text.contains("replay") })
            // The 1:1 replay is told in the conversation with Rosa.
            #expect(lines.contains { $0.conversation == .direct(rosaKey) && $0.message.kind == .warning && $0.message.text.contains("replay") })
        }
        await relay.stop()
    }

    @Test func filesRoundTripAndTamperingIsCaught() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        let original = Data(Random.bytes(5 * 1024 * 1024 + 12345))
        let path = directory.file("leaflet.pdf")
        try original.write(to: URL(fileURLWithPath: path))
        let sent = try await rosa.run { account in try await account.sendFile(at: path, to: try await account.resolve("Warehouse 5")) }
        #expect(sent.size == UInt64(original.count))

        let lines = try await amira.read()
        let fileID = try #require(lines.first { $0.message.kind == .file }?.message.fileID)
        #expect(fileID == sent.id)
        let out = try TempDirectory()
        defer { out.remove() }
        let (info, written) = try await amira.run { try await $0.getFile(fileID, to: out.path) }
        #expect(info.name == "leaflet.pdf")
        #expect(written == out.file("leaflet.pdf"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: written)) == original)
        let again = await clientError { _ = try await amira.run { try await $0.getFile(fileID, to: out.path) } }
        #expect(again?.description.contains("already exists") == true)

        // One flipped bit in the stored ciphertext: refused, and nothing is left on disk.
        let queue = try DatabaseQueue(path: relay.databasePath)
        try await queue.write { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT blob, offset, data FROM blob_chunks ORDER BY offset LIMIT 1 OFFSET 3"))
            var bytes = Array(row["data"] as Data)
            bytes[bytes.count / 2] ^= 0x01
            try db.execute(sql: "UPDATE blob_chunks SET data = ? WHERE blob = ? AND offset = ?",
                           arguments: [Data(bytes), row["blob"] as Int64, row["offset"] as Int64])
        }
        try queue.close()
        _ = try await tomasz.read()
        let tamperedOut = try TempDirectory()
        defer { tamperedOut.remove() }
        let tampered = await clientError { _ = try await tomasz.run { try await $0.getFile(fileID, to: tamperedOut.path) } }
        #expect(tampered?.description.contains("failed its integrity check") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tamperedOut.path).isEmpty)
        await relay.stop()
    }
}

@Suite("Client: signed prekey rotation", .timeLimit(.minutes(10)))
struct SignedPrekeyRotationTests {
    /// Makes every signed prekey of `worker` look `days` older.
    static func age(_ worker: Worker, days: Int64) async throws {
        try await worker.run { account in
            try await account.rawWrite { db in
                try db.execute(sql: "UPDATE prekeys SET created_at = created_at - ? WHERE kind = ?",
                               arguments: [days * 86_400_000, PrekeyKind.signed.rawValue])
            }
        }
    }

    static func signedPrekeyIDs(_ worker: Worker) async throws -> [Int64] {
        try await worker.run { account in
            try await account.rawRead { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM prekeys WHERE kind = ? ORDER BY id", arguments: [PrekeyKind.signed.rawValue])
            }
        }
    }

    @Test func aWeekOldSignedPrekeyIsReplacedAndTheOldOneStillOpensWaitingSessionStarts() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let amira = try await Worker.make("Amira", in: directory, relay: relay)
        let amiraKey = try await amira.run { account in
            try await account.sync()
            return account.did.publicKey
        }
        let published = { try await relay.store.takePrekeyBundle(owner: Data(amiraKey.rawRepresentation))?.signedPrekey }
        let first = try await published()
        // Rosa starts a session against this week's signed prekey, and her message waits.
        try await rosa.run { account in _ = try await account.send("sent against the old key", to: .direct(amiraKey)) }

        try await Self.age(amira, days: 8)
        _ = try await amira.run { try await $0.sync() }
        #expect(try await Self.signedPrekeyIDs(amira).count == 2)
        #expect(try await published() != first, "a new signed prekey is published")
        #expect(Worker.texts(try await amira.read()) == ["sent against the old key"])

        // Another week and a month later: the key replaced over 30 days ago is erased.
        try await Self.age(amira, days: 31)
        _ = try await amira.run { try await $0.sync() }
        let ids = try await Self.signedPrekeyIDs(amira)
        #expect(ids.count == 2 && !ids.contains(1))
        // A new contact starts with the newest key, and it works.
        let nadia = try await Worker.make("Nadia", in: directory, relay: relay)
        try await nadia.run { account in _ = try await account.send("hello from Nadia", to: .direct(amiraKey)) }
        #expect(Worker.texts(try await amira.read()) == ["hello from Nadia"])
        await relay.stop()
    }
}
