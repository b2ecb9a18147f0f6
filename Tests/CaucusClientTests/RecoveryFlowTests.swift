@testable import CaucusClient
import CaucusCrypto
import Foundation
import Testing

/// Losing every device and recovering with the paper key, over a real relay (Protocol.md §2.3,
/// §7.8, §9.15).
@Suite("Recovery from a paper key over a real relay", .timeLimit(.minutes(10)))
struct RecoveryFlowTests {
    @Test("""
        Every device lost, the identity recovered from its paper key: the same DID, the group back without a new invite once \
        its admin's client runs, contacts see a change of devices and not a new person, and the lost computer is refused
        """)
    func recoverAfterLosingEverything() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
        for worker in [rosa, tomasz, amira] { _ = try await worker.read() }
        let amiraDID = try await amira.run { $0.did }
        try await tomasz.run { account in _ = try await account.send("are you coming Thursday?", to: .direct(amiraDID.publicKey)) }
        _ = try await amira.read()
        let phrase = try await amira.run { try await $0.makePaperKey() }
        #expect(phrase.split(separator: " ").count == 12)

        // Amira's only computer is taken: a copy of it stays with whoever took it, and she has nothing.
        let taken = directory.file("amira-taken")
        try FileManager.default.copyItem(atPath: amira.home.path, toPath: taken)
        try FileManager.default.removeItem(atPath: amira.home.path)

        // A wrong word is refused before anything is asked of the relay.
        var words = phrase.split(separator: " ").map(String.init)
        words.swapAt(0, 1)
        let wrong = await clientError {
            _ = try await Account.recover(home: ClientHome(explicit: directory.file("wrong")), passphrase: Worker.passphrase,
                                          phrase: words.joined(separator: " "), relay: relay.url, name: "new laptop", parameters: .interactive)
        }
        #expect(wrong?.description.contains("do not fit together") == true, "\(String(describing: wrong))")

        let newHome = ClientHome(explicit: directory.file("amira-new"))
        let (recovered, recovery) = try await Account.recover(home: newHome, passphrase: Worker.passphrase, phrase: phrase.uppercased(),
                                                              relay: relay.url, name: "new laptop", parameters: .interactive)
        #expect(recovered.did == amiraDID)
        #expect(recovery.groupsAsked == [DeviceGroupFlowTests.group] && recovery.groupsWithoutAdmin.isEmpty, "\(recovery)")
        let tomaszDID = try await tomasz.run { $0.did }
        #expect(try await recovered.contacts().contains { $0.did == tomaszDID })
        await recovered.close()
        let amiraNew = Worker(name: "Amira (new laptop)", home: newHome)

        // Rosa's client runs: she re-admits Amira's new computer, and the group says so.
        let atRosa = try await rosa.read()
        #expect(atRosa.contains { $0.message.text.contains("recovered their identity from their paper key") }, "\(atRosa.map(\.message.text))")
        // Tomasz sees a change of Amira's devices, not a new person.
        let atTomasz = try await tomasz.read()
        #expect(atTomasz.contains { $0.message.text.contains("added a device") && $0.conversation == .direct(amiraDID.publicKey) },
                "\(atTomasz.map(\.message.text))")
        #expect(atTomasz.contains { $0.message.text.contains("revoked a device") }, "\(atTomasz.map(\.message.text))")

        // Amira's new computer has the group back and writes in it; everyone reads Amira.
        _ = try await amiraNew.read()
        #expect(try await amiraNew.run { try await $0.groups() }.map(\.name) == [DeviceGroupFlowTests.group])
        try await DeviceGroupFlowTests.say("back, on a new laptop", from: amiraNew)
        for member in [rosa, tomasz] {
            let lines = try await member.read()
            let line = lines.first { $0.message.text == "back, on a new laptop" }
            #expect(line?.author?.did == amiraDID, "\(lines.map(\.message.text))")
        }
        try await DeviceGroupFlowTests.say("welcome back", from: rosa)
        #expect(Worker.texts(try await amiraNew.read()).contains("welcome back"))

        // The taken computer is refused by the relay and reads nothing more.
        let refused = await clientError { _ = try await Worker(name: "taken", home: ClientHome(explicit: taken)).read() }
        #expect(refused?.description.contains("no longer one of your devices") == true, "\(String(describing: refused))")
    }
}
