@testable import CaucusClient
import CaucusTestSupport
import Foundation
import Testing

/// `Account.sync()` on an account that stays open (the chat screen, tests, the soak): the relay
/// says `QueueEmpty` once per connection, so a second sync on the same connection could return
/// before a message accepted since had been handled. Found when `worksOverWSS` failed under load.
@Suite("Client: a sync on a long-lived account", .timeLimit(.minutes(10)))
struct SyncAgainTests {
    @Test("A second sync reads the mailbox again on a new connection and shows what was accepted since")
    func secondSyncReadsAfresh() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let rosa = try await Account.create(home: ClientHome(explicit: directory.file("rosa")), passphrase: Worker.passphrase,
                                            displayName: "Rosa", parameters: .interactive)
        let tomasz = try await Account.create(home: ClientHome(explicit: directory.file("tomasz")), passphrase: Worker.passphrase,
                                              displayName: "Tomasz", parameters: .interactive)
        try await rosa.addRelay(relay.url)
        try await tomasz.addRelay(relay.url)
        try await tomasz.sync()
        for round in 0..<3 {
            #expect(try await rosa.send("message \(round)", to: .direct(tomasz.did.publicKey)) == .sent)
            let before = relay.authentications
            try await tomasz.sync()
            // A new connection, and its companion under a throwaway key (Protocol.md §9.16), which
            // opens beside it: waited for here.
            await tomasz.companion?.value
            #expect(relay.authentications == before + 2, "round \(round): the sync did not read the mailbox on a new connection")
            #expect(Worker.texts(try await tomasz.unread()) == ["message \(round)"], "round \(round)")
        }
        await rosa.close()
        await tomasz.close()
        await relay.stop()
    }
}
