import CaucusTestSupport
import Foundation
import Testing

/// Issue 17 part 4: relays a worker adds are checked for real, can be chosen and removed, and a
/// CA certificate given with one is kept for it. The time limit is a hang bound, not a speed goal:
/// alone a test takes about 1 s; in a full run on 2 cores each of its seven `caucus` processes
/// (each running Argon2id) waits for CPU among hundreds of tests, and one took 184 s.
@Suite("caucus relay: add checks the relay it adds, use and remove, a CA file kept", .timeLimit(.minutes(10)))
struct RelayCommandsCLITests {
    @Test("A relay nothing listens on is added but not called reachable; use and remove change which one is used")
    func addUseRemove() async throws {
        try await withRelay { relay, directory in
            let rosa = try await CLIWorker.make("Rosa", in: directory, relay: relay)
            let dead = "ws://127.0.0.1:\(try freeLoopbackPort())"
            let added = try await rosa.succeed("relay", "add", dead)
            #expect(added.stdout.contains("Relay added: \(dead)") && !added.stdout.contains("reachable"), "\(added)")
            #expect(added.stderr.contains("refused"), "\(added)")
            #expect(try await rosa.json("relay", "list") as? [String] == [relay.url, dead])

            try await rosa.succeed("relay", "use", dead)
            #expect(try await rosa.json("relay", "list") as? [String] == [dead, relay.url])
            let unknown = try await rosa.run("relay", "use", "ws://127.0.0.1:9")
            #expect(unknown.status != 0 && unknown.stderr.contains("not one of your relays"), "\(unknown)")

            let removed = try await rosa.succeed("relay", "remove", dead)
            #expect(removed.stdout.contains("caucus uses \(relay.url) now"), "\(removed)")
            #expect(try await rosa.json("relay", "list") as? [String] == [relay.url])
            // The relay in use again: it answers.
            try await rosa.succeed("sync")
            let again = try await rosa.succeed("relay", "add", relay.url)
            #expect(again.stdout.contains("reachable"), "\(again)")
        }
    }

    @Test("A wss:// relay added with --ca-file is trusted from then on; without it, the error names the fix")
    func caFileKept() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (relay, _) = try await TestRelay.startTLS(in: directory)
        let certificate = directory.file("cert.pem")
        let rosa = try await CLIWorker.make("Rosa", in: directory, relay: nil)
        let trusted = try await rosa.succeed("relay", "add", relay.url, "--ca-file", certificate)
        #expect(trusted.stdout.contains("reachable"), "\(trusted)")
        // Later commands, with no --ca-file and no CAUCUS_CA_FILE, reach it.
        let synced = try await rosa.succeed("sync")
        #expect(synced.stderr.isEmpty, "\(synced)")

        let tomasz = try await CLIWorker.make("Tomasz", in: directory, relay: nil)
        let untrusted = try await tomasz.succeed("relay", "add", relay.url)
        #expect(!untrusted.stdout.contains("reachable") && untrusted.stderr.contains("--ca-file"), "\(untrusted)")
        #expect(!untrusted.stderr.contains("NIOSSL"), "\(untrusted)")
        let port = try #require(URLComponents(string: relay.url)?.port)
        let ip = try await tomasz.run("relay", "add", "wss://127.0.0.1:\(port)")
        #expect(ip.stderr.contains("not an IP address") || ip.stdout.contains("not an IP address"), "\(ip)")
        await relay.stop()
    }
}
