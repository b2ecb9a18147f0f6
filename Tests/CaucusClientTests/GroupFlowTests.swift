@testable import CaucusClient
import CaucusCrypto
import Foundation
import Testing

/// Three workers in separate data directories, through a real relay: invite, join, chat both
/// ways with one of them offline, remove one, who then sees nothing new.
@Suite("Groups end to end", .timeLimit(.minutes(10)))
struct GroupFlowTests {
    /// Rosa founds "Warehouse 5"; Tomasz and Amira join with one-time invites.
    static func warehouse(_ directory: TempDirectory, _ relay: TestRelay) async throws -> (Worker, Worker, Worker) {
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: nil)
        let amira = try await Worker.make("Amira", in: directory, relay: nil)
        _ = try await rosa.run { try await $0.createGroup(name: "Warehouse 5") }
        for joiner in [tomasz, amira] {
            let code = try await rosa.run { try await $0.createInvite(group: "Warehouse 5") }
            // Rosa is offline: the request waits on the relay.
            let first = try await joiner.run { try await $0.join(code, wait: .zero) }
            #expect(first == .pending)
            try await rosa.run { try await $0.sync() }
            let second = try await joiner.run { try await $0.join(code, wait: .seconds(60)) }
            #expect(second == .joined("Warehouse 5"))
        }
        return (rosa, tomasz, amira)
    }

    @Test func inviteJoinChatAndRemove() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await Self.warehouse(directory, relay)

        // Everyone sees the same signed membership.
        for worker in [rosa, tomasz, amira] {
            _ = try await worker.read()
            let members = try await worker.run { try await $0.members(of: "Warehouse 5") }
            #expect(Set(members.compactMap(\.name)) == ["Rosa", "Tomasz", "Amira"])
            #expect(members.filter(\.isAdmin).map(\.name) == ["Rosa"])
        }

        // Amira is offline while the others talk, in the group and one to one.
        try await rosa.run { account in
            _ = try await account.send("Meeting Thursday 6pm", to: try await account.resolve("Warehouse 5"))
        }
        try await tomasz.run { account in
            _ = try await account.send("I'll bring the sheet", to: try await account.resolve("Warehouse 5"))
            _ = try await account.send("just for Amira", to: try await account.resolve("Amira"))
        }
        let amiraLines = try await amira.read()
        #expect(Worker.texts(amiraLines) == ["Meeting Thursday 6pm", "I'll bring the sheet", "just for Amira"])
        let tomaszKey = try await tomasz.run { $0.did.publicKey }
        #expect(amiraLines.first { $0.message.text == "just for Amira" }?.conversation == .direct(tomaszKey))
        #expect(amiraLines.first { $0.message.text == "Meeting Thursday 6pm" }?.senderName == "Rosa")

        // And back.
        try await amira.run { account in
            _ = try await account.send("on my way", to: try await account.resolve("Warehouse 5"))
            _ = try await account.send("got it", to: try await account.resolve("Tomasz"))
        }
        #expect(Worker.texts(try await rosa.read()) == ["I'll bring the sheet", "on my way"])
        #expect(Worker.texts(try await tomasz.read()) == ["Meeting Thursday 6pm", "on my way", "got it"])

        // Rosa removes Tomasz: he is told, and sees nothing said afterwards.
        try await rosa.run { try await $0.remove(member: "Tomasz", from: "Warehouse 5") }
        try await rosa.run { account in
            _ = try await account.send("cards go out Monday", to: try await account.resolve("Warehouse 5"))
        }
        let amiraAfter = try await amira.read()
        #expect(Worker.texts(amiraAfter) == ["cards go out Monday"])
        #expect(amiraAfter.contains { $0.message.text == "Rosa removed Tomasz" })
        try await amira.run { account in
            _ = try await account.send("see you Monday", to: try await account.resolve("Warehouse 5"))
        }
        #expect(Worker.texts(try await rosa.read()) == ["see you Monday"])

        let tomaszAfter = try await tomasz.read()
        #expect(Worker.texts(tomaszAfter).isEmpty)
        #expect(tomaszAfter.map(\.message.text) == ["Rosa removed you from the group"])
        let refused = await clientError {
            try await tomasz.run { account in _ = try await account.send("hello?", to: try await account.resolve("Warehouse 5")) }
        }
        #expect(refused == .notMember(group: "Warehouse 5"))
        #expect(try await tomasz.run { try await $0.groups() }.first?.removed == true)
        await relay.stop()
    }

    @Test("One identity open twice (the agent and a command): each sends from the group state the other left")
    func twoOpenAccountsTakeTurns() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, _) = try await Self.warehouse(directory, relay)
        _ = try await rosa.read()   // the joins' notices
        // Both keep the group state they decoded; a row changed by the other must be read again,
        // or the second message of `first` would reuse the sender chain step `second` took.
        let first = try await Account.open(home: tomasz.home, passphrase: Worker.passphrase)
        let second = try await Account.open(home: tomasz.home, passphrase: Worker.passphrase)
        let group = try await first.resolve("Warehouse 5")
        for (account, text) in [(first, "one"), (second, "two"), (first, "three"), (second, "four")] {
            #expect(try await account.send(text, to: group) == .sent)
        }
        await first.close()
        await second.close()
        let lines = try await rosa.read()
        #expect(Worker.texts(lines) == ["one", "two", "three", "four"])
        #expect(lines.filter { $0.message.kind == .warning }.isEmpty, "\(lines.map(\.message.text))")
        await relay.stop()
    }

    @Test func promotedMemberCanInviteAndRemove() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await Self.warehouse(directory, relay)
        for worker in [tomasz, amira] { _ = try await worker.read() }
        let notAdmin = await clientError { _ = try await tomasz.run { try await $0.createInvite(group: "Warehouse 5") } }
        #expect(notAdmin == .notAdmin(group: "Warehouse 5"))

        try await rosa.run { try await $0.promote(member: "Tomasz", in: "Warehouse 5") }
        let told = try await tomasz.read().map(\.message.text)
        #expect(told == ["Rosa made you an admin"])
        let members = try await tomasz.run { try await $0.members(of: "Warehouse 5") }
        #expect(Set(members.filter(\.isAdmin).compactMap(\.name)) == ["Rosa", "Tomasz"])

        // As an admin Tomasz holds the routing key: his invite and removal reach the relay.
        let nadia = try await Worker.make("Nadia", in: directory, relay: nil)
        let code = try await tomasz.run { try await $0.createInvite(group: "Warehouse 5") }
        #expect(try await nadia.run { try await $0.join(code, wait: .zero) } == .pending)
        try await tomasz.run { try await $0.sync() }
        #expect(try await nadia.run { try await $0.join(code, wait: .seconds(60)) } == .joined("Warehouse 5"))
        try await tomasz.run { try await $0.remove(member: "Amira", from: "Warehouse 5") }
        try await tomasz.run { account in
            _ = try await account.send("after Amira left", to: try await account.resolve("Warehouse 5"))
        }
        #expect(Worker.texts(try await rosa.read()) == ["after Amira left"])
        #expect(Worker.texts(try await nadia.read()) == ["after Amira left"])
        #expect(Worker.texts(try await amira.read()).isEmpty)
        for worker in [rosa, tomasz, amira, nadia] {
            let problems = try await worker.run { account in try await account.sync(); return await account.problems }
            #expect(problems.isEmpty, "\(worker.name): \(problems)")
        }
        await relay.stop()
    }
}
