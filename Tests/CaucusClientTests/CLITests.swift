import Foundation
import Testing

/// Bad input through the real `caucus` binary: each is refused with a non-zero exit status and a
/// clear message on stderr, and leaves the worker's identity, store and group as they were.
@Suite("caucus command: bad input", .timeLimit(.minutes(10)))
struct CLITests {
    @Test("A wrong passphrase is refused and changes no byte of the keystore or the store")
    func wrongPassphrase() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let before = try rosa.files()
            #expect(before.keys.sorted() == ["identity.key", "store.sqlite"])

            let refused = try await rosa.run(["whoami"], environment: ["CAUCUS_PASSPHRASE": "correct horse battery stapler"])
            expectRefused(refused, saying: "wrong passphrase")
            #expect(try rosa.files() == before)

            let whoami = try await rosa.succeed("whoami")
            #expect(whoami.stdout.hasPrefix("Rosa\ndid:key:z6Mk"))
            #expect(try await rosa.groupNames() == [CLIWorker.group])
        }
    }

    @Test("Sending to a name nobody has is refused, and nothing is queued or sent")
    func unknownTarget() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])

            let refused = try await rosa.run("send", "nobody", "hi")
            expectRefused(refused, saying: "no group, member or DID called \"nobody\"")

            let sync = try #require(try await rosa.json("sync") as? [String: Any])
            #expect(sync["queued"] as? Int == 0)
            try await rosa.succeed("send", CLIWorker.group, "after the typo")
            let texts = try #require(try await tomasz.json("read") as? [[String: Any]]).compactMap { $0["text"] as? String }
            #expect(!texts.contains("hi"))
            #expect(texts.filter { $0 == "after the typo" }.count == 1)
        }
    }

    @Test("A cut, mistyped or non-invite code is refused before anything is touched; the real code still works")
    func malformedInvites() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let code = try await rosa.invite()
            let before = try tomasz.files()

            var mistyped = Array(code)
            let position = "caucus-invite:".count + 20
            mistyped[position] = mistyped[position] == "x" ? "y" : "x"
            let cases = [
                ("caucus-invite:abc", "too short"),
                (String(mistyped), "checksum does not match"),
                ("see you at the library", "an invite starts with caucus-invite:"),
            ]
            for (text, reason) in cases {
                let refused = try await tomasz.run("join", text, "--wait", "1")
                expectRefused(refused, saying: "Error: this invite cannot be used: ")
                expectRefused(refused, saying: reason)
                #expect(try tomasz.files() == before, "\(text) changed Tomasz's files")
            }

            let joined = try await tomasz.join(code, admittedBy: rosa)
            #expect(joined.status == 0, "\(joined)")
            #expect((joined.json as? [String: Any])?["group"] as? String == CLIWorker.group, "\(joined)")
        }
    }

    @Test("An invite works once: the second worker to use it is refused as already used and is not let in")
    func reusedInvite() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let amira = try await CLIWorker.make("Amira", in: directory, relay: nil)
            let code = try await rosa.invite()

            let first = try await tomasz.join(code, admittedBy: rosa)
            #expect(first.status == 0, "\(first)")
            #expect((first.json as? [String: Any])?["joined"] as? Bool == true, "\(first)")

            let second = try await amira.join(code, admittedBy: rosa)
            expectRefused(second, saying: "the inviter (\(try await rosa.did().short)) refused: this invite to Warehouse 5 was already used")

            #expect(try await rosa.memberNames() == ["Rosa", "Tomasz"])
            #expect(try await amira.groupNames().isEmpty)
        }
    }

    @Test("A withdrawn invite is refused as withdrawn; the list shows open and used invites")
    func withdrawnInvite() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let amira = try await CLIWorker.make("Amira", in: directory, relay: nil)
            let kept = try await rosa.invite(), withdrawn = try await rosa.invite()
            let listed = try #require(try await rosa.json("invite", "list") as? [[String: Any]])
            #expect(listed.count == 2 && listed.allSatisfy { $0["used"] as? Bool == false && $0["group"] as? String == CLIWorker.group })
            let withdrawnID = try #require(listed[1]["id"] as? String)

            let unknown = try await rosa.run("invite", "withdraw", "00000000")
            expectRefused(unknown, saying: "no unused invite 00000000")
            try await rosa.succeed("invite", "withdraw", withdrawnID)
            let refused = try await amira.join(withdrawn, admittedBy: rosa)
            expectRefused(refused, saying: "the inviter (\(try await rosa.did().short)) refused: this invite does not exist (or was withdrawn)")

            let joined = try await tomasz.join(kept, admittedBy: rosa)
            #expect(joined.status == 0, "\(joined)")
            let after = try #require(try await rosa.json("invite", "list") as? [[String: Any]])
            #expect(after.count == 1 && after[0]["used"] as? Bool == true && after[0]["id"] as? String != withdrawnID)
            #expect(try await rosa.memberNames() == ["Rosa", "Tomasz"])
            // A used invite cannot be withdrawn.
            expectRefused(try await rosa.run("invite", "withdraw", try #require(after[0]["id"] as? String)), saying: "no unused invite")
        }
    }

    @Test("An expired invite is refused as expired and nobody is let in")
    func expiredInvite() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
            let code = try await rosa.invite(expires: "1s")
            try await Task.sleep(for: .seconds(2))

            // The code carries its expiry: refused at once, with Rosa offline.
            let refused = try await tomasz.run("join", code, "--wait", "20")
            expectRefused(refused, saying: "this invite cannot be used: it expired ")

            #expect(try await rosa.memberNames() == ["Rosa"])
            #expect(try await tomasz.groupNames().isEmpty)
        }
    }

    @Test("With the relay down a message is queued; after the relay comes back, sync sends it and it arrives once")
    func relayDown() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let port = relay.running.port
            await relay.halt()

            let queued = try await rosa.run("send", CLIWorker.group, "queued words")
            #expect(queued.status == 0, "\(queued)")
            #expect(queued.stdout.hasPrefix("Queued, encrypted: cannot reach the relay"), "\(queued)")

            let revived = try await TestRelay.start(directory: relay.directory) { $0.port = port }
            do {
                let sync = try #require(try await rosa.json("sync") as? [String: Any])
                #expect(sync["queued"] as? Int == 0)
                let read = try #require(try await tomasz.json("read") as? [[String: Any]])
                #expect(read.filter { $0["text"] as? String == "queued words" }.count == 1)
                let again = try #require(try await tomasz.json("read") as? [[String: Any]])
                #expect(again.isEmpty)
                #expect(try await tomasz.historyLines(withText: "queued words").count == 1)
            } catch {
                await revived.halt()
                throw error
            }
            await revived.halt()
        }
    }

    @Test("A damaged store is refused, and the attempt leaves it as it was for a rescue")
    func damagedStore() async throws {
        try await withRelay { relay, directory in
            let rosa = try await makeGroup(["Rosa"], relay: relay, in: directory)[0]
            try await rosa.succeed("send", CLIWorker.group, "before the damage")
            let store = URL(fileURLWithPath: (rosa.home as NSString).appendingPathComponent("store.sqlite"))
            var bytes = try Data(contentsOf: store)
            bytes.replaceSubrange(0..<4096, with: (0..<4096).map { _ in UInt8.random(in: .min ... .max) })
            try bytes.write(to: store)
            let damaged = try rosa.files()

            let refused = try await rosa.run("read")
            expectRefused(refused, saying: "the local store \(store.path) cannot be used")
            #expect(try rosa.files() == damaged)
        }
    }

    @Test("--help works for the tool and a subcommand")
    func help() async throws {
        let tool = try await CLIWorker.caucus("--help")
        #expect(tool.status == 0, "\(tool)")
        #expect(tool.stdout.contains("USAGE: caucus <subcommand>"), "\(tool)")
        #expect(tool.stdout.contains("  join "), "\(tool)")
        let send = try await CLIWorker.caucus("send", "--help")
        #expect(send.status == 0, "\(send)")
        #expect(send.stdout.contains("USAGE: caucus send "), "\(send)")
    }

    @Test("read --json prints JSON with the text, sender and conversation of another member's message")
    func readJSON() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            try await tomasz.succeed("send", CLIWorker.group, "json check")

            let lines = try #require(try await rosa.json("read") as? [[String: Any]])
            let line = try #require(lines.first { $0["text"] as? String == "json check" }, "\(lines)")
            #expect(line["sender"] as? String == "Tomasz")
            #expect(line["conversation"] as? String == CLIWorker.group)
            #expect(line["outgoing"] as? Bool == false)
        }
    }

    /// Expects a refusal: a non-zero exit status and `message` on stderr.
    private func expectRefused(_ outcome: ChildProcess.Outcome, saying message: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status != 0, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(message), "\(outcome)", sourceLocation: sourceLocation)
    }
}
