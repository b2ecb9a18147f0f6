import CaucusTestSupport
import Foundation
import Testing

/// Issue 17: the views a worker runs many times a day (`group list`, `group members`, `history`,
/// `campaign list`, `card status`) answer from this computer's store and do not contact the relay
/// unless `--sync` is given; with `--sync` they receive first, and say so when the relay is away.
@Suite("caucus views answer from the store unless --sync", .timeLimit(.minutes(10)))
struct LocalViewsCLITests {
    @Test("Five views make no connection to the relay; with --sync they do, and show what it held")
    func viewsStayLocal() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let campaign = try await CardCLITests.campaign(by: rosa, unitSize: 3, in: directory)
            try await tomasz.succeed("sync")
            try await rosa.succeed("send", CLIWorker.group, "meeting at six")

            let views: [[String]] = [["group", "list"], ["group", "members", CLIWorker.group], ["history", CLIWorker.group],
                                     ["campaign", "list"], ["card", "status", campaign]]
            let before = relay.authentications
            for view in views {
                let outcome = try await tomasz.succeed(view)
                #expect(outcome.stderr.isEmpty, "\(view): \(outcome)")
            }
            #expect(relay.authentications == before, "a view without --sync connected to the relay")
            // Rosa's message is still on the relay: the plain history did not fetch it; --sync does.
            let local = try await tomasz.succeed("history", CLIWorker.group)
            #expect(!local.stdout.contains("meeting at six"), "\(local)")
            let synced = try await tomasz.succeed("history", "--sync", CLIWorker.group)
            #expect(synced.stdout.contains("meeting at six") && relay.authentications > before, "\(synced)")

            // With the relay gone, the views still answer, and --sync says it could not reach it.
            await relay.stop()
            for view in views { #expect(try await tomasz.succeed(view).stderr.isEmpty, "\(view)") }
            let away = try await tomasz.succeed("group", "members", "--sync", CLIWorker.group)
            #expect(away.stderr.contains("could not sync") && away.stdout.contains("Rosa"), "\(away)")
        }
    }
}
