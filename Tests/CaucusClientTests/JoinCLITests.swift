import Foundation
import Testing

/// Joining without silence (Protocol.md §9.4), through the built `caucus`: with the organizer offline
/// the joiner sees progress, a reused code is refused naming the inviter and the group, and the
/// organizer's `sync` and `invite list` say who was admitted with which code.
@Suite("CLI: joining tells the joiner and the organizer what happens", .timeLimit(.minutes(10)))
struct JoinCLITests {
    @Test("Organizer offline: progress on stderr; then sync names who was admitted, invite list who used the code; a reuse is refused by name")
    func joiningWithTheOrganizerOffline() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let rosaDID = try await rosa.did()
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let amira = try await CLIWorker.make("Amira", in: directory, relay: nil)
            let code = try await rosa.invite()
            let shortID = try #require((try await rosa.json("invite", "list") as? [[String: Any]])?.first?["id"] as? String)

            let waiting = try await tomasz.run("join", code, "--wait", "6")
            #expect(waiting.status == 0, "\(waiting)")
            #expect(waiting.stderr.hasPrefix("Asked the inviter (\(rosaDID.short)) through \(relay.url) to let you in"), "\(waiting)")
            #expect(waiting.stderr.contains("Still waiting for the inviter: 5 s of 6 s."), "\(waiting)")
            #expect(waiting.stdout.contains("Your request is with the inviter"), "\(waiting)")

            let synced = try await rosa.run("sync")
            #expect(synced.status == 0, "\(synced)")
            let tomaszDID = try await tomasz.did()
            #expect(synced.stdout.contains("You admitted Tomasz (\(tomaszDID.short)) to Warehouse 5 with invite \(shortID)."), "\(synced)")
            let list = try await rosa.run("invite", "list")
            #expect(list.stdout.contains("\(shortID)  Warehouse 5  used by Tomasz"), "\(list)")
            let listed = try #require(try await rosa.json("invite", "list") as? [[String: Any]])
            #expect((listed.first?["used_by"] as? [String: Any])?["did"] as? String == tomaszDID.description, "\(listed)")

            let reused = try await amira.join(code, admittedBy: rosa)
            #expect(reused.status != 0, "\(reused)")
            #expect(reused.stderr.contains("the inviter (\(rosaDID.short)) refused: this invite to Warehouse 5 was already used"), "\(reused)")
            let afterwards = try await rosa.run("sync")
            #expect(!afterwards.stdout.contains("You admitted Amira"), "\(afterwards)")
            #expect(try await rosa.memberNames() == ["Rosa", "Tomasz"])
        }
    }
}
