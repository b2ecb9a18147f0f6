@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import Foundation
import GRDB
import Testing

/// The group state in the client store, in parts (Protocol.md §8.5 version 4, §9.9).
@Suite("Client: group state in the store", .timeLimit(.minutes(10)))
struct GroupStateStoreTests {
    static let passphrase = Passphrase("a passphrase for the store test")

    /// Rosa founds `group` with Tomasz, who joins from her welcome; no relay.
    static func rosaAndTomasz(in directory: TempDirectory, group name: String) async throws
        -> (rosa: Account, tomasz: Account, tomaszHome: ClientHome, group: GroupID)
    {
        func make(_ name: String) async throws -> (Account, ClientHome) {
            let home = ClientHome(explicit: directory.file(name))
            return (try await Account.create(home: home, passphrase: passphrase, displayName: name,
                                             parameters: .interactive, allowWeakPassphrase: true), home)
        }
        let (rosa, _) = try await make("rosa"), (tomasz, tomaszHome) = try await make("tomasz")
        let (group, welcome) = try await rosa.foundGroupWithWelcomeForBenchmark(name: name, members: [tomasz.did.publicKey])
        try await tomasz.joinGroupForBenchmark(name: name, welcome: welcome!, from: rosa.did.publicKey)
        return (rosa, tomasz, tomaszHome, group)
    }

    @Test("A group stored whole by an older client is read, and stored in parts at its next change")
    func versionOneStateMovesToParts() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let home = ClientHome(explicit: directory.path)
        let passphrase = Self.passphrase
        let members = (0..<70).map { _ in Ed25519.PrivateKey().publicKey }
        let account = try await Account.create(home: home, passphrase: passphrase, displayName: "Rosa",
                                                parameters: .interactive, allowWeakPassphrase: true)
        let group = try await account.foundGroupForBenchmark(name: "Old", members: members)
        for number in 0..<70 { _ = try await account.send("before \(number)", to: .group(group)) }
        // Rewrite the row as a client before version 2 left it: the whole state in `state`, no parts.
        let store = await account.store
        let whole = try await account.write { tx -> SecureBytes in
            let db = tx.db
            let (_, session, _) = try account.groupRow(tx, group)!
            let tag = Data(store.tag(group.bytes))
            try db.execute(sql: "UPDATE groups SET state = ?, generation = 0, tip = NULL WHERE tag = ?",
                           arguments: [store.sealSecret(session.serialized(), table: "groups.state", tag: Array(tag)), tag])
            for table in ["group_entries", "group_seen", "group_cores", "group_chains"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE grp = ?", arguments: [tag])
            }
            return session.serialized()
        }
        await account.close()

        let reopened = try await Account.open(home: home, passphrase: passphrase)
        #expect(try await reopened.members(of: "Old").count == members.count + 1)
        _ = try await reopened.send("after the upgrade", to: .group(group))
        let counts = try await reopened.rawRead { db in
            let tag = Data(store.tag(group.bytes))
            return (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_entries WHERE grp = ?", arguments: [tag]) ?? 0,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_seen WHERE grp = ?", arguments: [tag]) ?? 0)
        }
        await reopened.close()
        // The founding entry and one per member; 71 remembered hashes (one per message) fill two pages.
        #expect(counts.0 == members.count + 1 && counts.1 == 2)

        // Opened afresh (nothing kept in memory), the parts give the state the send left.
        let third = try await Account.open(home: home, passphrase: passphrase)
        let state = try await third.read { tx in try third.groupRow(tx, group)!.1 }
        let old = try GroupSession(serialized: whole)
        #expect(state.entryCount == old.entryCount && state.chain.head == old.chain.head)
        #expect(state.seenPageCount == 2)
        guard case .queued = try await third.send("and once more", to: .group(group)) else {
            Issue.record("a send with no relay should wait in the outbox"); return
        }
        await third.close()
    }

    @Test("A group stored by a version 2 client (chains in the core) is read, and stored as version 4 at its next change")
    func versionTwoStateMovesChainsApart() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let passphrase = Self.passphrase
        let (rosa, tomasz, tomaszHome, group) = try await Self.rosaAndTomasz(in: directory, group: "Two")
        for number in 0..<3 { _ = try await rosa.send("before \(number)", to: .group(group)) }
        let queued = try await rosa.queuedMessagesForBenchmark()
        for (number, message) in queued.prefix(2).enumerated() {
            #expect(try await tomasz.receiveForBenchmark(message, sequence: UInt64(number + 1)))
        }
        // Rewrite Tomasz's row as a version 2 client left it: the core with the chains and tip
        // inside, in `state`; no core row, no chain rows, no tip.
        let store = await tomasz.store
        let tag = Data(store.tag(group.bytes))
        let before = try await tomasz.write { tx -> GroupSession in
            let db = tx.db
            let (_, session, _) = try tomasz.groupRow(tx, group)!
            try db.execute(sql: "UPDATE groups SET state = ?, generation = 0, tip = NULL WHERE tag = ?",
                           arguments: [store.sealSecret(session.serializedCoreVersion2(), table: "groups.state", tag: Array(tag)), tag])
            try db.execute(sql: "DELETE FROM group_cores WHERE grp = ?", arguments: [tag])
            try db.execute(sql: "DELETE FROM group_chains WHERE grp = ?", arguments: [tag])
            return session
        }
        await tomasz.close()

        let reopened = try await Account.open(home: tomaszHome, passphrase: passphrase)
        let read = try await reopened.read { tx in try reopened.groupRow(tx, group)!.1 }
        #expect(read.serialized().withUnsafeBytes { Array($0) } == before.serialized().withUnsafeBytes { Array($0) })
        // The third message: opened (the chain went on where version 2 left it), and the state
        // stored in version 4's parts.
        #expect(try await reopened.receiveForBenchmark(queued[2], sequence: 3))
        let rows = try await reopened.rawRead { db in
            (try Data.fetchOne(db, sql: "SELECT state FROM groups WHERE tag = ?", arguments: [tag]) ?? Data([1]),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM groups WHERE tag = ? AND tip IS NOT NULL", arguments: [tag]) ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_cores WHERE grp = ?", arguments: [tag]) ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM group_chains WHERE grp = ?", arguments: [tag]) ?? 0)
        }
        #expect(rows.0.isEmpty && rows.1 == 1 && rows.2 == 1 && rows.3 == 1)
        let after = try await reopened.read { tx in try reopened.groupRow(tx, group)!.1 }
        await reopened.close()
        // Opened afresh, the version 4 parts give the same state.
        let third = try await Account.open(home: tomaszHome, passphrase: passphrase)
        let fresh = try await third.read { tx in try third.groupRow(tx, group)!.1 }
        #expect(fresh.serialized().withUnsafeBytes { Array($0) } == after.serialized().withUnsafeBytes { Array($0) })
        await third.close()
        await rosa.close()
    }

    @Test("A member welcomed back after a removal starts remembering again, and the stored state still opens")
    func welcomedBackMemberStateOpens() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let passphrase = Self.passphrase
        let (rosa, tomasz, tomaszHome, group) = try await Self.rosaAndTomasz(in: directory, group: "Back")
        for number in 0..<70 { _ = try await rosa.send("before \(number)", to: .group(group)) }
        for (number, message) in try await rosa.queuedMessagesForBenchmark().enumerated() {
            #expect(try await tomasz.receiveForBenchmark(message, sequence: UInt64(number + 1)))
        }
        // Rosa removes Tomasz and adds him again: his new state's chain continues the old one, and
        // remembers nothing yet.
        let identity = await rosa.identity
        var state = try #require(try await rosa.read { tx in try rosa.groupRow(tx, group)?.1 })
        _ = try state.remove(tomasz.did.publicKey, by: identity)
        let (_, again) = try state.add(tomasz.did.publicKey, role: .member, by: identity)
        try await tomasz.joinGroupForBenchmark(name: "Back", welcome: again, from: rosa.did.publicKey)
        await tomasz.close()
        await rosa.close()

        let reopened = try await Account.open(home: tomaszHome, passphrase: passphrase)
        let stored = try await reopened.read { tx in try reopened.groupRow(tx, group)?.1 }
        #expect(stored?.entryCount == state.entryCount && stored?.seenPageCount == 0)
        await reopened.close()
    }
}
