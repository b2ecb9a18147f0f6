import CaucusCrypto
import CaucusTestSupport
import Foundation
import Testing

/// A second computer through the `caucus` command, each device its own process and data directory
/// (Protocol.md §9.13, §9.14): `device add` and `device link` run side by side, the laptop writes
/// in the group as its owner, and once `device revoke` has run it is refused and reads nothing more.
@Suite("Devices through the caucus command, as separate processes", .timeLimit(.minutes(10)))
struct DeviceCLITests {
    /// Runs `caucus device add --no-qr` for `worker` and, once it shows its code, `caucus device
    /// link CODE --json` in a new home named `name`; both must succeed.
    static func link(_ worker: CLIWorker, as name: String, in directory: TempDirectory) async throws -> (CLIWorker, [String: Any]) {
        let adding = try worker.start(["device", "add", "--no-qr"])
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        var code: String?
        while code == nil, adding.isRunning, clock.now < deadline {
            code = adding.stdoutSoFar.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("caucus-link:") }.map(String.init)
            if code == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard let code else {
            adding.kill()
            Issue.record("caucus device add showed no code: \(adding.stdoutSoFar)\n\(adding.stderrSoFar)")
            throw CancellationError()
        }
        let laptop = CLIWorker(name: name, home: directory.file(name))
        let linked = try await laptop.run(["device", "link", code, "--name", name, "--kdf", "interactive", "--json"])
        let added = try await adding.finish(within: .seconds(60))
        try #require(added.status == 0 && linked.status == 0, "\(added)\n\(linked)")
        #expect(added.stdout.contains("Linked \(name): it is now one of your devices"), "\(added)")
        return (laptop, try #require(linked.json as? [String: Any], "\(linked)"))
    }

    @Test("In a group of three, a laptop linked with device add and device link writes as its owner and reads the others; once revoked, it is refused and reads nothing more")
    func linkWriteRevoke() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira"], relay: relay, in: directory)
            let (rosa, tomasz, amira) = (workers[0], workers[1], workers[2])
            let (laptop, linked) = try await Self.link(rosa, as: "laptop", in: directory)
            #expect(linked["groups"] as? Int == 1 && linked["groups_announced"] as? Int == 1, "\(linked)")
            #expect(try await laptop.groupNames() == [CLIWorker.group])
            let rosaDID = try await rosa.did()
            #expect(try await laptop.did() == rosaDID)

            // The laptop writes; Tomasz reads Rosa, and Rosa's first computer has the line as her own.
            try await laptop.succeed("send", CLIWorker.group, "from the laptop")
            let atTomasz = try await tomasz.historyLines(withText: "from the laptop")
            #expect(atTomasz.count == 1 && atTomasz.first?["sender_did"] as? String == rosaDID.description, "\(atTomasz)")
            let atAmira = try await amira.historyLines(withText: "from the laptop")
            #expect(atAmira.count == 1 && atAmira.first?["sender_did"] as? String == rosaDID.description, "\(atAmira)")
            #expect(try await rosa.historyLines(withText: "from the laptop").count == 1)
            // Tomasz's reply reaches both of Rosa's computers.
            try await tomasz.succeed("send", CLIWorker.group, "to both")
            #expect(try await rosa.historyLines(withText: "to both").count == 1)
            #expect(try await laptop.historyLines(withText: "to both").count == 1)

            // Rosa revokes the laptop from her first computer.
            let revoked = try #require(try await rosa.json("device", "revoke", "laptop") as? [String: Any])
            #expect(revoked["device"] as? String == "laptop" && revoked["groups"] as? Int == 1, "\(revoked)")
            let devices = try #require(try await rosa.json("device", "list") as? [[String: Any]])
            #expect(devices.first { $0["name"] as? String == "laptop" }?["active"] as? Bool == false, "\(devices)")
            try await tomasz.succeed("sync")
            try await tomasz.succeed("send", CLIWorker.group, "after the revocation")
            #expect(try await rosa.historyLines(withText: "after the revocation").count == 1)
            // The relay refuses the laptop, which says so and shows nothing new.
            let refused = try await laptop.run("read")
            #expect(refused.stderr.contains("revoked"), "\(refused)")
            #expect(!refused.stdout.contains("after the revocation"), "\(refused)")

            // Bad input gets a clear error: an unknown device, and the device in use.
            let unknown = try await rosa.run("device", "revoke", "no-such-device")
            #expect(unknown.status != 0 && unknown.stderr.contains("no active device no-such-device"), "\(unknown)")
            let itself = try await rosa.run("device", "revoke", "first device")
            #expect(itself.status != 0 && itself.stderr.contains("the device you are using"), "\(itself)")
        }
    }

    @Test("A paper key made with paper-key new recovers the identity with recover, as separate processes: the same DID, and the group back once the admin syncs")
    func paperKeyAndRecover() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Amira"], relay: relay, in: directory)
            let (rosa, amira) = (workers[0], workers[1])
            let made = try #require(try await amira.json("paper-key", "new") as? [String: Any])
            let phrase = try #require(made["recovery_phrase"] as? String)
            let amiraDID = try await amira.did()
            try FileManager.default.removeItem(atPath: amira.home)

            let newAmira = CLIWorker(name: "Amira (recovered)", home: directory.file("amira-recovered"))
            let recovered = try await newAmira.run(["recover", "--relay", relay.url, "--name", "new laptop", "--kdf", "interactive", "--json"],
                                                   environment: ["CAUCUS_RECOVERY_PHRASE": phrase])
            try #require(recovered.status == 0, "\(recovered)")
            let report = try #require(recovered.json as? [String: Any], "\(recovered)")
            #expect(report["did"] as? String == amiraDID.description && report["groups_asked"] as? [String] == [CLIWorker.group], "\(report)")
            try await rosa.succeed("sync")
            #expect(try await newAmira.groupNames() == [CLIWorker.group])
            try await newAmira.succeed("send", CLIWorker.group, "recovered")
            let seen = try await rosa.historyLines(withText: "recovered")
            #expect(seen.count == 1 && seen.first?["sender_did"] as? String == amiraDID.description, "\(seen)")

            // `init --paper-key` shows a phrase at once, and the relay keeps its box.
            let lee = CLIWorker(name: "Lee", home: directory.file("lee"))
            let created = try #require(try await lee.json("init", "--name", "Lee", "--relay", relay.url, "--kdf", "interactive", "--paper-key")
                                       as? [String: Any])
            let leePhrase = try #require(created["recovery_phrase"] as? String)
            #expect(leePhrase.split(separator: " ").count == 12)
            let leeDevices = try #require(try await lee.json("device", "list") as? [[String: Any]])
            #expect(leeDevices.map { $0["kind"] as? String } == ["computer", "paper"], "\(leeDevices)")
            let noRelay = try await CLIWorker(name: "Kim", home: directory.file("kim")).run("init", "--name", "Kim", "--paper-key")
            #expect(noRelay.status != 0 && noRelay.stderr.contains("--relay"), "\(noRelay)")

            // The same words again, after a new paper key replaced them: refused, with why.
            _ = try await newAmira.json("paper-key", "new")
            let stale = try await CLIWorker(name: "late", home: directory.file("late"))
                .run(["recover", "--relay", relay.url, "--name", "x", "--kdf", "interactive"], environment: ["CAUCUS_RECOVERY_PHRASE": phrase])
            #expect(stale.status != 0 && stale.stderr.contains("revoked"), "\(stale)")
        }
    }
}
