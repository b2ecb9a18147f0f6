@testable import CaucusClient
import CaucusCrypto
import Foundation
import Testing

/// A worker's several computers in groups, over a real relay (Protocol.md §9.14): each device
/// holds a leaf of its own, what one sends reaches the others and every member as one sender, a
/// device linked later gets the groups, and a revoked one gets nothing more.
@Suite("Devices in groups over a real relay", .timeLimit(.minutes(10)))
struct DeviceGroupFlowTests {
    static let group = "Warehouse 5"

    /// Sends `text` to the group from `worker`.
    static func say(_ text: String, from worker: Worker, in group: String = group) async throws {
        try await worker.run { account in _ = try await account.send(text, to: try await account.resolve(group)) }
    }

    /// The lines of `group` on `worker`'s device (after a sync), its own included.
    static func history(_ worker: Worker, _ group: String = group) async throws -> [MessageView] {
        _ = try await worker.read()
        return try await worker.run { account in try await account.history(try await account.resolve(group), limit: 200) }
    }

    /// Links a new device to `worker` and waits for the groups the linking device gives it.
    static func link(_ worker: Worker, as name: String, in directory: TempDirectory) async throws -> (Worker, received: Int) {
        let home = ClientHome(explicit: directory.file(name))
        let account = try await DeviceLinkFlowTests.link(worker, as: name, home: home)
        let groups = try await account.receiveLinkedGroups(wait: .seconds(60))
        #expect(groups.received == groups.announced)
        await account.close()
        return (Worker(name: name, home: home), groups.received)
    }

    @Test("""
        One worker with two devices in a group of three: what each device sends reaches the other and both members as one \
        sender; a third device linked mid-conversation writes at once; a revoked device reads nothing sent after
        """)
    func twoDevicesInAGroupOfThree() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [rosa, tomasz, amira] { _ = try await worker.read() }
        let rosaDID = try await rosa.run { $0.did }

        let (laptop, given) = try await Self.link(rosa, as: "rosa-laptop", in: directory)
        #expect(given == 1)
        // The laptop writes in the group at once; the members see Rosa, and Rosa's phone its own line.
        try await Self.say("from the laptop", from: laptop)
        for member in [tomasz, amira] {
            let lines = try await member.read()
            #expect(Worker.texts(lines) == ["from the laptop"], "\(lines.map(\.message.text))")
            #expect(lines.first { $0.message.kind == .text }?.author?.did == rosaDID)
        }
        #expect(try await Self.history(rosa).contains { $0.message.text == "from the laptop" && $0.author?.did == rosaDID })
        // And the other way round.
        try await Self.say("from the phone", from: rosa)
        #expect(Worker.texts(try await tomasz.read()) == ["from the phone"])
        #expect(try await Self.history(laptop).contains { $0.message.text == "from the phone" && $0.author?.did == rosaDID })
        // A member's message reaches both of Rosa's devices, and the group still has three members.
        try await Self.say("to both of you", from: tomasz)
        #expect(Worker.texts(try await rosa.read()) == ["to both of you"])
        #expect(Worker.texts(try await laptop.read()) == ["to both of you"])
        let members = try await amira.run { try await $0.members(of: Self.group) }
        #expect(members.count == 3 && members.filter { $0.did == rosaDID }.count == 1)

        // A third device, linked from the laptop mid-conversation, gets the group and writes at once.
        let (desktop, alsoGiven) = try await Self.link(laptop, as: "rosa-desktop", in: directory)
        #expect(alsoGiven == 1)
        try await Self.say("desktop here", from: desktop)
        let amiraSees = try await amira.read()
        #expect(Worker.texts(amiraSees) == ["from the phone", "to both of you", "desktop here"], "\(amiraSees.map(\.message.text))")
        #expect(try await Self.history(rosa).contains { $0.message.text == "desktop here" })
        #expect(try await Self.history(laptop).contains { $0.message.text == "desktop here" })

        // The phone revokes the laptop: the group moves to a new epoch without it.
        let revoked = try await rosa.run { try await $0.revokeDevice("rosa-laptop") }
        #expect(revoked == Account.RevokedDevice(name: "rosa-laptop", groups: 1))
        let seen = try await tomasz.read()
        #expect(seen.contains { $0.message.text.contains("revoked a device") }, "\(seen.map(\.message.text))")
        try await Self.say("after the revocation", from: tomasz)
        try await tomasz.run { account in _ = try await account.send("just for Rosa", to: .direct(rosaDID.publicKey)) }
        #expect(Worker.texts(try await rosa.read()) == ["after the revocation", "just for Rosa"])
        #expect(Worker.texts(try await desktop.read()) == ["after the revocation", "just for Rosa"])
        // The relay refuses the laptop, which therefore reads nothing more.
        let refused = await clientError { _ = try await laptop.read() }
        #expect(refused?.description.contains("revoked") == true, "\(String(describing: refused))")
        let laptopLines = try await laptop.run { account in
            try await account.history(try await account.resolve(Self.group), limit: 200)
                + account.history(.direct(try await tomasz.run { $0.did.publicKey }), limit: 200)
        }
        #expect(!laptopLines.contains { ["after the revocation", "just for Rosa"].contains($0.message.text) })
        // The desktop, which remains, writes on in the new epoch.
        try await Self.say("still here", from: desktop)
        #expect(Worker.texts(try await amira.read()).contains("still here"))
    }

    @Test("A group created on a linked device, and one joined from a linked device, reach the identity's other devices")
    func createAndJoinOnLinkedDevices() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        let amira = try await Worker.make("Amira", in: directory, relay: relay)
        for worker in [rosa, amira] { try await worker.run { try await $0.sync() } }
        let (rosaLaptop, none) = try await Self.link(rosa, as: "rosa-laptop", in: directory)
        let (amiraLaptop, _) = try await Self.link(amira, as: "amira-laptop", in: directory)
        #expect(none == 0)

        // Rosa founds the group on her laptop; her phone gets it, as an admin with the routing key.
        _ = try await rosaLaptop.run { try await $0.createGroup(name: "Night shift") }
        let phoneLines = try await rosa.read()
        #expect(phoneLines.map(\.message.text) == ["this device now takes part in Night shift, given by your other device"])
        let onPhone = try await rosa.run { try await $0.groups() }
        #expect(onPhone.map(\.name) == ["Night shift"] && onPhone.first?.isAdmin == true)

        // Amira joins from her laptop with an invite the phone made; her phone gets the group from the laptop.
        let code = try await rosa.run { try await $0.createInvite(group: "Night shift") }
        #expect(try await amiraLaptop.run { try await $0.join(code, wait: .zero) } == .pending)
        try await rosa.run { try await $0.sync() }
        #expect(try await amiraLaptop.run { try await $0.join(code, wait: .seconds(60)) } == .joined("Night shift"))
        _ = try await amira.read()
        #expect(try await amira.run { try await $0.groups() }.map(\.name) == ["Night shift"])

        // Everyone's every device reads everyone, each person as one sender.
        let amiraDID = try await amira.run { $0.did }
        try await Self.say("from Amira's phone", from: amira, in: "Night shift")
        try await Self.say("from Rosa's laptop", from: rosaLaptop, in: "Night shift")
        let atRosa = try await Self.history(rosa, "Night shift")
        #expect(atRosa.contains { $0.message.text == "from Amira's phone" && $0.author?.did == amiraDID })
        #expect(atRosa.contains { $0.message.text == "from Rosa's laptop" })
        #expect(try await Self.history(amiraLaptop, "Night shift").contains { $0.message.text == "from Rosa's laptop" })
        #expect(try await Self.history(amiraLaptop, "Night shift").contains { $0.message.text == "from Amira's phone" })
        let members = try await rosaLaptop.run { try await $0.members(of: "Night shift") }
        #expect(members.count == 2)
    }
}
