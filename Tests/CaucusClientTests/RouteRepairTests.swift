@testable import CaucusClient
import CaucusCrypto
import Foundation
import GRDB
import Testing

/// How an admin's client finds a group route the relay has behind the membership chain, and
/// what it repairs (Protocol.md §9.10), against a real relay whose store is set back by hand.
@Suite("Groups: repairing a route the relay lost changes of", .timeLimit(.minutes(10)))
struct RouteRepairTests {
    @Test("Rosters before each entry: a removed member is in the rosters up to its removal only")
    func rostersBeforeEachEntry() throws {
        let rosa = Ed25519.PrivateKey(), tomasz = Ed25519.PrivateKey().publicKey, amira = Ed25519.PrivateKey().publicKey
        var session = GroupSession(founder: rosa)
        _ = try session.add(tomasz, role: .member, by: rosa)
        _ = try session.add(amira, role: .member, by: rosa)
        _ = try session.remove(tomasz, by: rosa)
        let rosters = Account.rosters(session.chain.entries)
        #expect(rosters.count == 5)
        #expect(rosters[0].isEmpty)
        #expect(Set(rosters[2].keys) == [rosa.publicKey, tomasz])
        #expect(Set(rosters[3].keys) == [rosa.publicKey, tomasz, amira])
        #expect(Set(rosters[4].keys) == [rosa.publicKey, amira])
        #expect(rosters[4] == session.chain.roster)
    }

    /// Rosa's group with Tomasz and Amira, who have read everything, on a fresh relay; and its id.
    static func warehouse(_ directory: TempDirectory) async throws -> (TestRelay, Worker, Worker, Worker, [UInt8]) {
        let relay = try await TestRelay.start()
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [tomasz, amira] { _ = try await worker.read() }
        return (relay, rosa, tomasz, amira, try await rosa.run { try await $0.groups()[0].id.bytes })
    }

    @Test("An admin's next connection finds a route set back to before a removal and makes it follow the chain again")
    func routeSetBackIsRepaired() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (relay, rosa, tomasz, amira, group) = try await Self.warehouse(directory)
        let before = try #require(try await relay.store.groupRoute(Data(group)))
        let amiraKey = try await amira.run { $0.did.publicKey }

        // Rosa removes Amira; the route follows.
        try await rosa.run { try await $0.remove(member: "Amira", from: "Warehouse 5") }
        let removed = try #require(try await relay.store.groupRoute(Data(group)))
        #expect(removed.serial == before.serial + 1 && removed.deviceCount == 2)

        // The relay's route goes back to what it was before the removal, as a restored backup has it.
        try await setBack(relay) { db in
            try db.execute(sql: "UPDATE groups SET serial = ? WHERE group_id = ?", arguments: [Int64(before.serial), Data(group)])
            try db.execute(sql: """
                INSERT INTO group_members (grp, device) SELECT g.id, d.id FROM groups g, devices d WHERE g.group_id = ? AND d.key = ?
                """, arguments: [Data(group), Data(amiraKey.rawRepresentation)])
        }
        #expect(try await relay.store.groupRoute(Data(group))?.deviceCount == 3)

        // Rosa's next connection finds it and re-publishes the route at the chain's serial.
        try await rosa.run { try await $0.sync() }
        let repaired = try #require(try await relay.store.groupRoute(Data(group)))
        #expect(repaired.serial == removed.serial)
        #expect(Set(try await relay.store.groupDevices(Data(group))) == Set(try await [rosa, tomasz].asyncMap { worker in
            try await worker.run { Data($0.did.publicKey.rawRepresentation) }
        }))
        let warning = try await rosa.run { account in try await account.history(try await account.resolve("Warehouse 5")) }.last { $0.message.kind == .warning }
        #expect(warning?.message.text.contains("the relay had lost changes of Warehouse 5 (it was probably restored from a backup): its route was 1 membership change(s) behind") == true)

        // A connection that finds the route where the chain says changes nothing and warns of nothing.
        try await rosa.run { try await $0.sync() }
        let after = try await rosa.run { account in try await account.history(try await account.resolve("Warehouse 5")) }.filter { $0.message.kind == .warning }
        #expect(after.filter { $0.message.text.contains("had lost") }.count == 1)
    }

    @Test("A member the relay lost a removal for applies it from the admin over their pairwise session and writes again")
    func repairedEntryOverPairwise() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (relay, rosa, tomasz, amira, group) = try await Self.warehouse(directory)

        // The relay loses the removal's group message and epoch key for Tomasz: he is not online,
        // and his mailbox is emptied as a restore would.
        try await rosa.run { try await $0.remove(member: "Amira", from: "Warehouse 5") }
        let tomaszKey = try await tomasz.run { $0.did.publicKey }
        try await setBack(relay) { db in
            try db.execute(sql: "DELETE FROM deliveries WHERE device = (SELECT id FROM devices WHERE key = ?)",
                           arguments: [Data(tomaszKey.rawRepresentation)])
        }
        _ = try await tomasz.read()
        #expect(try await tomasz.run { try await $0.members(of: "Warehouse 5") }.count == 3)

        // Rosa's client repairs from the route's serial before the removal.
        let serial = try #require(try await relay.store.groupRoute(Data(group))).serial - 1
        try await rosa.run { account in
            try await account.connected()
            try await account.repairGroup(group, routeSerial: serial)
            try await account.flushOutbox()
        }
        _ = try await tomasz.read()
        let members = try await tomasz.run { try await $0.members(of: "Warehouse 5") }
        #expect(Set(members.compactMap(\.name)) == ["Rosa", "Tomasz"])
        // Tomasz can write again, in the new epoch, which Amira cannot open.
        try await tomasz.run { account in
            _ = try await account.send("after the repair", to: try await account.resolve("Warehouse 5"))
        }
        #expect(Worker.texts(try await rosa.read()).contains("after the repair"))
        #expect(!Worker.texts(try await amira.read()).contains("after the repair"))
    }
}

/// Changes the relay's store directly, as a restore from an older copy would.
private func setBack(_ relay: TestRelay, _ change: @escaping @Sendable (Database) throws -> Void) async throws {
    var configuration = Configuration()
    configuration.busyMode = .timeout(10)
    let queue = try DatabaseQueue(path: relay.databasePath, configuration: configuration)
    try await queue.write(change)
    try queue.close()
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
