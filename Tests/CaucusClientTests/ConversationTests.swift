@testable import CaucusClient
import CaucusCrypto
import Foundation
import GRDB
import Testing

/// Disappearing messages, verification warnings and what the local store holds in clear.
@Suite("Conversations", .timeLimit(.minutes(10)))
struct ConversationTests {
    @Test func disappearingMessagesLeaveEveryStore() async throws {
        // The relay's sweep would delete the expired message before the last check reads its
        // lifetime from the relay's file, if the test ran past the first sweep (a busy machine).
        let relay = try await TestRelay.start { $0.expirySweepSeconds = 3_600 }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [tomasz, amira] { _ = try await worker.read() }
        // Long enough that every store is checked before it runs out, even on a busy machine: 10 s
        // was not, on two cores shared with another job's two busy processes.
        // Only an admin may set a group's timer (Protocol.md §9.8).
        let timer: UInt32 = 45
        try await rosa.run { account in _ = try await account.setExpiry(timer, for: try await account.resolve("Warehouse 5")) }
        try await tomasz.run { account in
            _ = try await account.send("gone soon", to: try await account.resolve("Warehouse 5"))
        }
        let lines = try await amira.read()
        #expect(lines.contains { $0.message.text == "Rosa set messages to disappear after \(timer) s" })
        let timed = try #require(lines.first { $0.message.text == "gone soon" })
        let expiresAt = try #require(timed.expiresAt)
        let now = { Int64(Date().timeIntervalSince1970 * 1000) }
        #expect(expiresAt > now() && expiresAt <= now() + Int64(timer) * 1000)
        #expect(try await tomasz.run { try await $0.groups() }.first?.expirySeconds == timer)
        // Every store holds it before its timer runs out, so its absence afterwards means something.
        #expect(Worker.texts(try await rosa.read()) == ["gone soon"])
        // Each store times the message from when it got it: wait for the last of them.
        var lastExpiry = expiresAt
        for worker in [rosa, tomasz, amira] {
            let history = try await worker.run { account in try await account.history(try await account.resolve("Warehouse 5")) }
            let line = history.first { $0.message.text == "gone soon" }
            #expect(line != nil, "\(worker.name) never had it")
            lastExpiry = max(lastExpiry, line?.expiresAt ?? 0)
        }

        try #require(now() < expiresAt, "the checks above took longer than the timer")
        try await Task.sleep(for: .milliseconds(lastExpiry - now() + 300))
        for worker in [rosa, tomasz, amira] {
            let history = try await worker.run { account in try await account.history(try await account.resolve("Warehouse 5")) }
            #expect(!history.contains { $0.message.text == "gone soon" }, "\(worker.name) still has it")
        }
        // The relay was told the same lifetime.
        let queue = try DatabaseQueue(path: relay.databasePath)
        let shortLived = try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages WHERE expires_at - accepted_at <= \(Int64(timer) * 1000)") ?? 0
        }
        try queue.close()
        #expect(shortLived >= 1)
        await relay.stop()
    }

    @Test func verifiedNameTakenByAnotherKeyIsWarnedLoudly() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, _, amira) = try await GroupFlowTests.warehouse(directory, relay)
        _ = try await amira.read()
        let verification = try await amira.run { account in
            try await account.setVerified("Rosa", true)
            return try await account.verification(of: "Rosa")
        }
        #expect(verification.verified)
        #expect(verification.safetyNumber == SafetyNumber(try await amira.run { $0.did }, try await rosa.run { $0.did }))

        // Someone else joins calling themselves Rosa.
        let impostorHome = try TempDirectory()
        defer { impostorHome.remove() }
        let impostor = try await Worker.make("Rosa", in: impostorHome, relay: nil)
        let code = try await rosa.run { try await $0.createInvite(group: "Warehouse 5") }
        _ = try await impostor.run { try await $0.join(code, wait: .zero) }
        try await rosa.run { try await $0.sync() }
        _ = try await impostor.run { try await $0.join(code, wait: .seconds(60)) }
        let warnings = try await amira.read().filter { $0.message.kind == .warning }.map(\.message.text)
        #expect(warnings.contains { $0.hasPrefix("WARNING:") && $0.contains("\"Rosa\", the same as or a look-alike of the name of your verified contact Rosa ✓") })
        #expect(warnings.contains { $0.contains("is not verified") })
        await relay.stop()
    }

    /// What went as session starts is kept, sealed, only until the peer answers in that session
    /// (Protocol.md §9.6); control payloads (display names) are never kept.
    @Test func sessionStartsAreKeptUntilAnswered() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let nadia = try await Worker.make("Nadia", in: directory, relay: relay)
        let amira = try await Worker.make("Amira", in: directory, relay: relay)
        _ = try await amira.read()   // publishes her prekeys
        let amiraDID = try await amira.run { $0.did }, nadiaDID = try await nadia.run { $0.did }
        func kept(_ worker: Worker) throws -> Int {
            let queue = try DatabaseQueue(path: worker.home.storePath)
            defer { try? queue.close() }
            return try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM unconfirmed_starts") ?? 0 }
        }
        try await nadia.run { account in
            _ = try await account.send("first", to: try await account.resolve(amiraDID.description))
            _ = try await account.send("second", to: try await account.resolve(amiraDID.description))
        }
        #expect(try kept(nadia) == 2)
        #expect(Worker.texts(try await amira.read()) == ["first", "second"])
        try await amira.run { account in _ = try await account.send("got both", to: try await account.resolve(nadiaDID.description)) }
        #expect(try kept(amira) == 0, "Amira answered in Nadia's session: nothing of hers is a start")
        #expect(Worker.texts(try await nadia.read()) == ["got both"])
        #expect(try kept(nadia) == 0)
        await relay.stop()
    }

    @Test func localStoreHoldsNoPlaintext() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, _) = try await GroupFlowTests.warehouse(directory, relay)
        try await rosa.run { account in
            _ = try await account.send("Strike vote Friday at noon", to: try await account.resolve("Warehouse 5"))
            _ = try await account.send("Tomasz, bring the ballot box", to: try await account.resolve("Tomasz"))
        }
        _ = try await tomasz.read()
        let tomaszDID = try await tomasz.run { $0.did }
        for worker in [rosa, tomasz] {
            let base = worker.home.storePath
            let bytes = try [base, base + "-wal"].compactMap { FileManager.default.fileExists(atPath: $0) ? try Data(contentsOf: URL(fileURLWithPath: $0)) : nil }
                .reduce(Data(), +)
            for secret in ["Strike vote", "ballot box", "Warehouse 5", "Tomasz", "Rosa", tomaszDID.description] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(worker.name)'s store holds \"\(secret)\" in clear")
            }
        }
        await relay.stop()
    }
}
