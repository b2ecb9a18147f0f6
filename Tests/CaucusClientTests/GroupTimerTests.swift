@testable import CaucusClient
import CaucusCrypto
import CaucusPayloads
import Foundation
import Testing

/// Only an admin sets a group's disappearing-message timer (Protocol.md §9.8), through the built `caucus`
/// and against a member whose client skips that check.
@Suite("Groups: only admins set the disappearing-message timer", .timeLimit(.minutes(10)))
struct GroupTimerTests {
    @Test("A member's `caucus expire` is refused; a timer change a member's modified client sends anyway is refused by every other member")
    func onlyAdminsSetTheTimer() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira"], relay: relay, in: directory)
            let (rosa, tomasz, amira) = (workers[0], workers[1], workers[2])
            try await rosa.succeed("expire", CLIWorker.group, "1d")

            let refused = try await tomasz.run("expire", CLIWorker.group, "off")
            #expect(refused.status != 0, "\(refused)")
            #expect(refused.stderr.contains("only an admin of Warehouse 5 can do that"), "\(refused)")

            // Tomasz's client, modified: it sends the Timer payload without the check.
            let account = try await Account.open(home: ClientHome(explicit: tomasz.home), passphrase: Passphrase(CLIWorker.passphrase))
            let group = try await account.resolve(CLIWorker.group)
            let sent = try await account.deliver(to: group) { _, stamp in
                (.expiry(MessageStamp(id: stamp.id, sentAt: stamp.sentAt, expirySeconds: 0)), { _ in })
            }
            await account.close()
            #expect(sent == .sent)

            for worker in [rosa, amira] {
                let read = try #require(try await worker.json("read") as? [[String: Any]])
                let warning = "Tomasz tried to change the disappearing-message timer, which only an admin may do; refused: the timer stays 1 d"
                #expect(read.contains { $0["kind"] as? String == "warning" && $0["text"] as? String == warning }, "\(worker.name): \(read)")
                let groups = try #require(try await worker.json("group", "list", "--sync") as? [[String: Any]])
                #expect(groups.first?["expiry_seconds"] as? Int == 86_400, "\(worker.name): \(groups)")
            }
        }
    }
}
