@testable import CaucusClient
import CaucusCrypto
import Foundation
import GRDB
import Testing

/// The group state in the client store, in parts (Protocol.md §8.5 version 2, §9.9).
@Suite("Client: group state in the store", .timeLimit(.minutes(2)))
struct GroupStateStoreTests {
    @Test("A group stored whole by an older client is read, and stored in parts at its next change")
    func versionOneStateMovesToParts() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let home = ClientHome(explicit: directory.path)
        let passphrase = Passphrase("a passphrase for the store test")
        let members = (0..<70).map { _ in Ed25519.PrivateKey().publicKey }
        let account = try await Account.create(home: home, passphrase: passphrase, displayName: "Rosa",
                                                parameters: .interactive, allowWeakPassphrase: true)
        let group = try await account.foundGroupForBenchmark(name: "Old", members: members)
        for number in 0..<70 { _ = try await account.send("before \(number)", to: .group(group)) }
        // Rewrite the row as a client before version 2 left it: the whole state in `state`, no parts.
        let store = await account.store
        let whole = try await account.write { db -> SecureBytes in
            let (_, session, _) = try account.groupRow(db, group)!
            let tag = Data(store.tag(group))
            try db.execute(sql: "UPDATE groups SET state = ?, generation = 0 WHERE tag = ?",
                           arguments: [store.sealSecret(session.serialized(), table: "groups.state", tag: Array(tag)), tag])
            try db.execute(sql: "DELETE FROM group_entries WHERE grp = ?", arguments: [tag])
            try db.execute(sql: "DELETE FROM group_seen WHERE grp = ?", arguments: [tag])
            return session.serialized()
        }
        await account.close()

        let reopened = try await Account.open(home: home, passphrase: passphrase)
        #expect(try await reopened.members(of: "Old").count == members.count + 1)
        _ = try await reopened.send("after the upgrade", to: .group(group))
        let counts = try await reopened.read { db in
            let tag = Data(store.tag(group))
            return (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_entries WHERE grp = ?", arguments: [tag]) ?? 0,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_seen WHERE grp = ?", arguments: [tag]) ?? 0)
        }
        await reopened.close()
        // The founding entry and one per member; 71 remembered hashes (one per message) fill two pages.
        #expect(counts.0 == members.count + 1 && counts.1 == 2)

        // Opened afresh (nothing kept in memory), the parts give the state the send left.
        let third = try await Account.open(home: home, passphrase: passphrase)
        let state = try await third.read { db in try third.groupRow(db, group)!.1 }
        let old = try GroupSession(serialized: whole)
        #expect(state.entryCount == old.entryCount && state.chain.head == old.chain.head)
        #expect(state.seenPageCount == 2)
        guard case .queued = try await third.send("and once more", to: .group(group)) else {
            Issue.record("a send with no relay should wait in the outbox"); return
        }
        await third.close()
    }

    @Test("A member welcomed back after a removal starts remembering again, and the stored state still opens")
    func welcomedBackMemberStateOpens() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let passphrase = Passphrase("a passphrase for the store test")
        func make(_ name: String) async throws -> (Account, ClientHome) {
            let home = ClientHome(explicit: directory.file(name))
            return (try await Account.create(home: home, passphrase: passphrase, displayName: name,
                                             parameters: .interactive, allowWeakPassphrase: true), home)
        }
        let (rosa, _) = try await make("rosa"), (tomasz, tomaszHome) = try await make("tomasz")
        let (group, welcome) = try await rosa.foundGroupWithWelcomeForBenchmark(name: "Back", members: [tomasz.did.publicKey])
        try await tomasz.joinGroupForBenchmark(name: "Back", welcome: welcome!, from: rosa.did.publicKey)
        for number in 0..<70 { _ = try await rosa.send("before \(number)", to: .group(group)) }
        for (number, message) in try await rosa.queuedMessagesForBenchmark().enumerated() {
            #expect(try await tomasz.receiveForBenchmark(message, sequence: UInt64(number + 1)))
        }
        // Rosa removes Tomasz and adds him again: his new state's chain continues the old one, and
        // remembers nothing yet.
        let identity = await rosa.identity
        var state = try #require(try await rosa.read { db in try rosa.groupRow(db, group)?.1 })
        _ = try state.remove(tomasz.did.publicKey, by: identity)
        let (_, again) = try state.add(tomasz.did.publicKey, role: .member, by: identity)
        try await tomasz.joinGroupForBenchmark(name: "Back", welcome: again, from: rosa.did.publicKey)
        await tomasz.close()
        await rosa.close()

        let reopened = try await Account.open(home: tomaszHome, passphrase: passphrase)
        let stored = try await reopened.read { db in try reopened.groupRow(db, group)?.1 }
        #expect(stored?.entryCount == state.entryCount && stored?.seenPageCount == 0)
        await reopened.close()
    }
}
