import CaucusCrypto
import CaucusRelay
import Foundation
import Testing

/// A removed member whom a hostile relay keeps unaware of the removal, through the built `caucus` binary
/// (issue 16, part 3): a send the relay refuses is never reported as sent, and what the relay forwards
/// from them afterwards reaches the members who applied the removal only behind a warning.
@Suite("A removed member kept unaware, in the caucus command", .timeLimit(.minutes(10)))
struct RemovedMemberCLITests {
    @Test("A refused send fails and says so in text and JSON; a forwarded one is flagged to the others")
    func removedMemberKeptUnaware() async throws {
        try await withRelay(hostile: true) { relay, directory in
            let liar = try #require(relay.hostile)
            let workers = try await makeGroup(["Rosa", "Amira", "Tomasz"], relay: relay, in: directory)
            let (rosa, amira, tomasz) = (workers[0], workers[1], workers[2])
            for worker in workers { try await worker.succeed("read") }
            let tomaszDID = try #require(try await tomasz.json("whoami") as? [String: Any])["did"] as! String
            let tomaszKey = Data(try #require(DID(tomaszDID)).publicKey.rawRepresentation)
            try await rosa.succeed("group", "remove", CLIWorker.group, "Tomasz")
            try await amira.succeed("read")

            // The relay withholds the removal from Tomasz; its route no longer has him, so it refuses his send.
            let removal = try #require(try await relay.store.pendingDeliveries(recipient: tomaszKey, afterSequence: 0, limit: 10).first { $0.groupID != nil })
            let groupID = try #require(removal.groupID)
            liar.attack { $0.withhold = [removal.messageID] }
            let json = try await tomasz.run("send", CLIWorker.group, "still here?", "--json")
            #expect(json.status != 0, "\(json)")
            let reply = try #require(json.json as? [String: Any], "\(json)")
            #expect(reply["sent"] as? Bool == false && reply["refused"] as? Bool == true, "\(json)")
            #expect((reply["reason"] as? String)?.hasPrefix("FORBIDDEN") == true, "\(json)")
            let text = try await tomasz.run("send", CLIWorker.group, "anyone?")
            #expect(text.status != 0 && !text.stdout.contains("Sent") && !text.stdout.contains("sent"), "\(text)")
            #expect(text.stderr.contains("the relay refused: FORBIDDEN") && text.stderr.contains("the message was not sent"), "\(text)")
            let history = try await tomasz.succeed("history", "--sync", CLIWorker.group)
            #expect(history.stdout.contains("the relay refused your message above; it was not sent: FORBIDDEN"), "\(history)")

            // The relay routes the group to him again and forwards what he writes in the old epoch.
            let route = try #require(try await relay.store.groupRoute(groupID))
            _ = try await relay.store.updateGroupRoute(GroupRouteUpdate(groupID: groupID, serial: route.serial + 1, adminKey: route.adminKey,
                                                                        add: [tomaszKey], remove: []))
            let forwarded = try await tomasz.succeed("send", CLIWorker.group, "the strike is off", "--json")
            #expect((forwarded.json as? [String: Any])?["sent"] as? Bool == true, "\(forwarded)")
            let lines = try #require(try await amira.json("read") as? [[String: Any]])
            let index = try #require(lines.firstIndex { $0["text"] as? String == "the strike is off" }, "\(lines)")
            #expect(index > 0 && lines[index - 1]["kind"] as? String == "warning", "\(lines)")
            #expect((lines[index - 1]["text"] as? String)?.hasPrefix("Rosa removed Tomasz from the group; the next message from Tomasz is from before that epoch") == true,
                    "\(lines)")
        }
    }
}
