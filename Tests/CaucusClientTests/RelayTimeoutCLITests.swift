import CaucusTestSupport
import Foundation
import Testing

/// No command waits on the relay without an end (Protocol.md §7.13): a relay that goes silent or
/// sends garbage before Welcome, after Welcome, or after login on a request is given up on within
/// the configured timeouts, with an error that names it. The relay is a real one behind a
/// `StallingProxy`; the client is the built `caucus`.
@Suite("CLI: a silent or garbling relay is given up on in time", .timeLimit(.minutes(10)))
struct RelayTimeoutCLITests {
    /// Short timeouts so that the test runs fast: the one a case waits out is short, the others long
    /// enough for a busy machine. No command may take longer than `bound`.
    static let bound = Duration.seconds(60)

    /// Rosa, with a group, on a real relay that she reaches through the proxy.
    static func withProxiedRelay(_ body: (CLIWorker, StallingProxy) async throws -> Void) async throws {
        let proxy = try StallingProxy()
        defer { proxy.stop() }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let relay = try await TestRelay.start { $0.publicAddresses = [proxy.url] }
        proxy.forward(to: relay.running.port)
        do {
            let rosa = try await CLIWorker.make("Rosa", in: directory, relayURL: proxy.url)
            try await rosa.succeed("group", "create", CLIWorker.group)
            try await body(rosa, proxy)
        } catch {
            await relay.stop()
            throw error
        }
        await relay.stop()
    }

    /// Runs `caucus ARGUMENTS` with the given timeouts in seconds; it must end within `bound`.
    static func run(_ worker: CLIWorker, handshake: Int = 30, request: Int = 2, _ arguments: String...) async throws
        -> (ChildProcess.Outcome, Duration) {
        let clock = ContinuousClock()
        let started = clock.now
        let environment = ["CAUCUS_HANDSHAKE_TIMEOUT": "\(handshake)", "CAUCUS_REQUEST_TIMEOUT": "\(request)"]
        let outcome = try await worker.start(arguments, environment: environment).finish(within: bound)
        return (outcome, clock.now - started)
    }

    /// The request `text` says the relay did not answer within 2 s, if it says so.
    static func unanswered(in text: String, _ proxy: StallingProxy) -> String? {
        guard let start = text.firstRange(of: "the relay \(proxy.url) did not answer "),
              let end = text[start.upperBound...].firstRange(of: " within 2 s") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    @Test("read: silence or garbage before Welcome, and silence after it, end in an error naming the relay")
    func readGivesUp() async throws {
        try await Self.withProxiedRelay { rosa, proxy in
            proxy.behave(.silence(afterFrames: 0))
            // Long enough for the socket and the upgrade on a busy machine; Welcome never comes.
            let (silent, _) = try await Self.run(rosa, handshake: 10, "read")
            #expect(silent.status != 0, "\(silent)")
            #expect(silent.stderr.contains("the relay \(proxy.url) did not answer hello within 10 s"), "\(silent)")

            proxy.behave(.garble(afterFrames: 0))
            let (garbled, _) = try await Self.run(rosa, "read")
            #expect(garbled.status != 0, "\(garbled)")
            #expect(garbled.stderr.contains("the relay \(proxy.url) sent an undecodable frame"), "\(garbled)")

            // Long enough for Welcome to come on a busy machine; Authenticated never does.
            proxy.behave(.silence(afterFrames: 1))
            let (afterWelcome, _) = try await Self.run(rosa, handshake: 15, "read")
            #expect(afterWelcome.status != 0, "\(afterWelcome)")
            #expect(afterWelcome.stderr.contains("the relay \(proxy.url) did not answer authenticate within"), "\(afterWelcome)")

            proxy.behave(.passThrough)
            let fine = try await rosa.run("read")
            #expect(fine.status == 0, "\(fine)")
        }
    }

    @Test("group create: garbage after Welcome, and silence or garbage on its request after login, end in an error naming the relay")
    func groupCreateGivesUp() async throws {
        try await Self.withProxiedRelay { rosa, proxy in
            proxy.behave(.garble(afterFrames: 1))
            let (garbled, _) = try await Self.run(rosa, "group", "create", "Night shift")
            #expect(garbled.status != 0, "\(garbled)")
            #expect(garbled.stderr.contains("cannot reach the relay \(proxy.url): the relay \(proxy.url) sent an undecodable frame"), "\(garbled)")

            // After login: whichever request comes first (topping up prekeys, or the group's route).
            proxy.behave(.silence(afterFrames: 2))
            let (silent, took) = try await Self.run(rosa, "group", "create", "Night shift")
            #expect(silent.status != 0, "\(silent)")
            #expect(["publishPrekeys", "updateGroupRouting"].contains(Self.unanswered(in: silent.stderr, proxy)), "\(silent)")
            #expect(took >= .seconds(2), "gave up before its timeout: \(took)")

            proxy.behave(.garble(afterFrames: 2))
            let (garbledReply, _) = try await Self.run(rosa, request: 10, "group", "create", "Night shift")
            #expect(garbledReply.status != 0, "\(garbledReply)")
            #expect(garbledReply.stderr.contains("the relay \(proxy.url) sent an undecodable frame"), "\(garbledReply)")
            #expect(try await rosa.groupNames() == [CLIWorker.group])
        }
    }

    @Test("read: a relay that never says QueueEmpty is waited for the request bound, then what arrived is shown with a warning")
    func readWithoutQueueEmpty() async throws {
        try await Self.withProxiedRelay { rosa, proxy in
            try await rosa.succeed(["send", CLIWorker.group, "a note to the group"])
            proxy.behave(.dropQueueEmpty)
            // Long enough for the requests after login to be answered on a busy machine.
            let (read, took) = try await Self.run(rosa, request: 10, "read")
            #expect(read.status == 0, "\(read)")
            #expect(read.stderr.contains("the relay \(proxy.url) did not say within 10 s that it had sent what it held; more messages may arrive later"),
                    "\(read)")
            #expect(took >= .seconds(10), "gave up before its timeout: \(took)")

            // With the marker, no wait and no warning.
            proxy.behave(.passThrough)
            let fine = try await rosa.run("read")
            #expect(fine.status == 0 && !fine.stderr.contains("did not say"), "\(fine)")
        }
    }

    @Test("send: with no reply the message is queued, the relay named, and it goes out once the relay answers")
    func sendGivesUp() async throws {
        try await Self.withProxiedRelay { rosa, proxy in
            proxy.behave(.silence(afterFrames: 2))
            let (silent, _) = try await Self.run(rosa, "send", CLIWorker.group, "first words")
            #expect(silent.status == 0, "\(silent)")
            #expect(silent.stdout.hasPrefix("Queued, encrypted: cannot reach the relay \(proxy.url): "), "\(silent)")
            #expect(["publishPrekeys", "send"].contains(Self.unanswered(in: silent.stdout, proxy)), "\(silent)")

            proxy.behave(.silence(afterFrames: 0))
            let (beforeWelcome, _) = try await Self.run(rosa, handshake: 10, "send", CLIWorker.group, "second words")
            #expect(beforeWelcome.status == 0, "\(beforeWelcome)")
            #expect(beforeWelcome.stdout.contains("did not answer hello within 10 s"), "\(beforeWelcome)")

            proxy.behave(.passThrough)
            let sync = try #require(try await rosa.json("sync") as? [String: Any])
            #expect(sync["queued"] as? Int == 0)
        }
    }
}
