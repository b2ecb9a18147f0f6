import CaucusCrypto
import Foundation
import Testing

/// 1:1 conversations against a hostile relay, through the built `caucus` binary (issue 16, part 6): what
/// goes wrong is kept in the conversation, where `read --json` and `history` show it, and a conversation
/// whose first messages the relay made unreadable recovers by itself.
@Suite("1:1 warnings and recovery in the caucus command", .timeLimit(.minutes(10)))
struct OneToOneWarningsCLITests {
    @Test("A swapped one-time prekey: both sides are told in their conversation, the lost messages are sent again, and the next one arrives")
    func swappedOneTimePrekeyRecovers() async throws {
        try await withRelay(hostile: true) { relay, directory in
            let liar = try #require(relay.hostile)
            let amira = try await CLIWorker.make("Amira", in: directory, relay: relay)
            let nadia = try await CLIWorker.make("Nadia", in: directory, relay: relay)
            try await amira.succeed("read")
            let amiraDID = try #require(try await amira.json("whoami") as? [String: Any])["did"] as! String
            let nadiaDID = try #require(try await nadia.json("whoami") as? [String: Any])["did"] as! String
            let amiraKey = Data(try #require(DID(amiraDID)).publicKey.rawRepresentation)
            // The relay hands Nadia a one-time prekey of its own for Amira: both of Nadia's first messages
            // are session starts Amira cannot open.
            liar.attack { $0.swapOneTimePrekey[amiraKey] = Data(X25519.PrivateKey().publicKey.rawRepresentation) }
            try await nadia.succeed("send", amiraDID, "hello Amira")
            try await nadia.succeed("send", amiraDID, "are you coming on Friday?")

            // Each `read` is a new connection, so each is one more delivery of the same two ids.
            var seen: [[String: Any]] = []
            for _ in 0..<3 { seen += try #require(try await amira.json("read") as? [[String: Any]]) }
            #expect(!seen.contains { $0["kind"] as? String == "text" }, "\(seen)")
            let warning = try #require(seen.first { ($0["text"] as? String)?.hasPrefix("the first message(s) from") == true }, "\(seen)")
            #expect(warning["kind"] as? String == "warning")
            #expect((warning["text"] as? String)?.contains("is asked to send them again") == true, "\(warning)")
            let amiraHistory = try await amira.succeed("history", "--sync", nadiaDID)
            #expect(amiraHistory.stdout.contains("could not be opened"), "\(amiraHistory)")

            let told = try #require(try await nadia.json("read") as? [[String: Any]])
            #expect(told.contains {
                $0["kind"] as? String == "warning" && ($0["text"] as? String)?.contains(
                    "could not open 2 message(s) that claimed to be from you (the relay may have replaced their one-time prekey) "
                    + "and started a new conversation: your 2 message(s) were sent again in it") == true
            }, "\(told)")
            let nadiaHistory = try await nadia.succeed("history", "--sync", amiraDID)
            #expect(nadiaHistory.stdout.contains("were sent again"), "\(nadiaHistory)")

            // Nadia's client sent both again by itself, over the session Amira started: they arrive, in
            // order, once, with the relay still swapping keys.
            let resent = try #require(try await amira.json("read") as? [[String: Any]])
            #expect(resent.compactMap { $0["kind"] as? String == "text" ? $0["text"] as? String : nil }
                == ["hello Amira", "are you coming on Friday?"], "\(resent)")
            let again = try #require(try await amira.json("read") as? [[String: Any]])
            #expect(!again.contains { $0["kind"] as? String == "text" }, "\(again)")

            // What Nadia writes next goes in that session too.
            try await nadia.succeed("send", amiraDID, "hello again")
            let after = try #require(try await amira.json("read") as? [[String: Any]])
            #expect(after.compactMap { $0["kind"] as? String == "text" ? $0["text"] as? String : nil } == ["hello again"], "\(after)")

            // A message withheld and old ones replayed under fresh ids: told in the conversation, not only on stderr.
            try await nadia.succeed("send", amiraDID, "one")
            let before = Set(try await relay.store.pendingDeliveries(recipient: amiraKey, afterSequence: 0, limit: 100).map(\.messageID))
            try await nadia.succeed("send", amiraDID, "two")
            let held = try #require(try await relay.store.pendingDeliveries(recipient: amiraKey, afterSequence: 0, limit: 100)
                .first { !before.contains($0.messageID) }).messageID
            try await nadia.succeed("send", amiraDID, "three")
            liar.attack {
                $0.withhold = [held]
                $0.replay = true
            }
            let attacked = try #require(try await amira.json("read") as? [[String: Any]])
            #expect(attacked.compactMap { $0["kind"] as? String == "text" ? $0["text"] as? String : nil } == ["one", "three"], "\(attacked)")
            let warnings = attacked.filter { $0["kind"] as? String == "warning" }.compactMap { $0["text"] as? String }
            #expect(warnings.contains { $0.hasPrefix("1 earlier message(s) from") && $0.hasSuffix("have not arrived (yet)") }, "\(attacked)")
            #expect(warnings.contains { $0.hasSuffix("the relay delivered again (a replay) was recognised and dropped") }, "\(attacked)")
            let shown = try await amira.succeed("history", "--sync", nadiaDID)
            #expect(shown.stdout.contains("(a replay) was recognised and dropped") && shown.stdout.contains("have not arrived (yet)"), "\(shown)")
        }
    }
}
