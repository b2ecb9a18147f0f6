@testable import CaucusClient
import CaucusCrypto
import CaucusRelay
import CaucusPayloads
import Foundation
import Testing

/// A relay that attacks its users (`HostileStore` between the relay engine and its store): for each
/// attack, what the client tells its user, and that nothing forged is ever shown as genuine.
@Suite("Client: a hostile relay's attacks", .timeLimit(.minutes(10)))
struct HostileRelayAttackTests {
    /// Rosa's group with Tomasz and Amira on a hostile relay, everyone caught up.
    struct Scene {
        let relay: TestRelay
        let liar: HostileStore
        let directory: TempDirectory
        let rosa: Worker, tomasz: Worker, amira: Worker

        static func make() async throws -> Scene {
            let relay = try await TestRelay.start(hostile: true)
            let directory = try TempDirectory()
            let (rosa, tomasz, amira) = try await GroupFlowTests.warehouse(directory, relay)
            for worker in [rosa, tomasz, amira] { _ = try await worker.read() }
            return Scene(relay: relay, liar: try #require(relay.hostile), directory: directory, rosa: rosa, tomasz: tomasz, amira: amira)
        }

        func end() async {
            await relay.stop()
            directory.remove()
        }

        func key(_ worker: Worker) async throws -> Ed25519.PublicKey { try await worker.run { $0.did.publicKey } }

        /// What waits for `worker` on the relay, oldest first.
        func waiting(for worker: Worker) async throws -> [StoredDelivery] {
            try await relay.store.pendingDeliveries(recipient: Data(try await key(worker).rawRepresentation), afterSequence: 0, limit: 1_000)
        }

        /// Rosa writes to the group while Amira is offline.
        func rosaSays(_ texts: String...) async throws {
            try await rosa.run { account in
                let group = try await account.resolve("Warehouse 5")
                for text in texts { _ = try await account.send(text, to: group) }
            }
        }
    }

    static func warnings(_ lines: [MessageView]) -> [String] { lines.filter { $0.message.kind == .warning }.map(\.message.text) }

    @Test func reorderedAndDelayedMessagesAreShownOnceAndFlagged() async throws {
        let scene = try await Scene.make()
        try await scene.rosaSays("one", "two", "three")
        scene.liar.attack { $0.reorder = true }
        let reordered = try await scene.amira.read()
        #expect(Worker.texts(reordered).sorted() == ["one", "three", "two"])
        #expect(reordered.filter { $0.message.kind == .text }.allSatisfy { $0.senderName == "Rosa" })
        #expect(reordered.contains { $0.message.text == "a delayed message from Rosa arrived out of order" })

        // The relay holds one message back, then lets it through.
        scene.liar.behave()
        try await scene.rosaSays("four", "five", "six")
        let held = try #require(try await scene.waiting(for: scene.amira).dropFirst().first).messageID
        scene.liar.attack { $0.withhold = [held] }
        let gap = try await scene.amira.read()
        #expect(Worker.texts(gap) == ["four", "six"])
        #expect(Self.warnings(gap).contains("1 earlier message(s) from Rosa have not arrived (yet)"))
        scene.liar.behave()
        let late = try await scene.amira.read()
        #expect(Worker.texts(late) == ["five"])
        #expect(late.contains { $0.message.text == "a delayed message from Rosa arrived out of order" })
        await scene.end()
    }

    @Test func duplicatesAndReplaysUnderFreshIDsShowNothingTwice() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira)
        try await scene.rosaSays("once in the group")
        try await scene.rosa.run { account in _ = try await account.send("once, directly", to: .direct(amiraKey)) }
        scene.liar.attack { $0.duplicate = true }
        #expect(Worker.texts(try await scene.amira.read()).sorted() == ["once in the group", "once, directly"])

        // Everything served before, again, under ids the client has never seen.
        scene.liar.attack { $0.replay = true }
        let (lines, problems) = try await scene.amira.run { account in
            try await account.sync()
            return (try await account.unread(), await account.problems)
        }
        #expect(Worker.texts(lines).isEmpty)
        #expect(Self.warnings(lines).contains { $0.contains("a group message the relay delivered again (a replay) was recognised and dropped") })
        // The 1:1 replay is told in the conversation with its sender, not only on the terminal.
        let rosaKey = try await scene.key(scene.rosa)
        #expect(lines.contains {
            $0.conversation == .direct(rosaKey) && $0.message.kind == .warning
                && $0.message.text == "a message from Rosa the relay delivered again (a replay) was recognised and dropped"
        }, "\(lines.map(\.message.text))")
        #expect(!problems.contains { $0.contains("(a replay) was recognised and dropped") })
        await scene.end()
    }

    @Test func tamperedMessagesAreDroppedAndTheLossReported() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira)
        let rosaKey = try await scene.key(scene.rosa)
        try await scene.rosaSays("the meeting moved to Friday")
        try await scene.rosa.run { account in _ = try await account.send("bring the cards", to: .direct(amiraKey)) }
        scene.liar.attack { $0.tamper = true }
        // Each damaged copy is left unacknowledged for the next one, up to three deliveries of its
        // id; then it is acknowledged, so the mailbox empties, and the loss is reported.
        for attempt in 1...Account.openAttempts {
            let (lines, problems) = try await scene.amira.run { account in
                try await account.sync()
                return (try await account.unread(), await account.problems)
            }
            #expect(Worker.texts(lines).isEmpty)
            let final = attempt == Account.openAttempts
            #expect(Self.warnings(lines).contains { $0.hasPrefix("a group message that could not be opened in 3 deliveries and was dropped") } == final)
            #expect(lines.contains {
                $0.conversation == .direct(rosaKey) && $0.message.kind == .warning
                    && $0.message.text.hasPrefix("a message claiming to be from Rosa could not be opened in 3 deliveries and was dropped")
            } == final, "\(lines.map(\.message.text)) \(problems)")
            #expect(try await scene.waiting(for: scene.amira).count == (final ? 0 : 2))
        }

        // Honest again: the next messages arrive, and the ones lost to tampering are reported missing.
        scene.liar.behave()
        try await scene.rosaSays("after")
        try await scene.rosa.run { account in _ = try await account.send("after, directly", to: .direct(amiraKey)) }
        let after = try await scene.amira.read()
        #expect(Worker.texts(after).sorted() == ["after", "after, directly"])
        #expect(Self.warnings(after).filter { $0 == "1 earlier message(s) from Rosa have not arrived (yet)" }.count == 2)
        await scene.end()
    }

    @Test func aDamagedCopyNeverCostsTheGenuineOne() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira)
        try await scene.rosaSays("strike vote on Friday")
        try await scene.rosa.run { account in _ = try await account.send("bring the cards", to: .direct(amiraKey)) }
        // The first copies are damaged on the way and Amira's acknowledgements are lost.
        scene.liar.attack {
            $0.tamperFirstCopy = true
            $0.loseAcknowledgements = true
        }
        let (damaged, problems) = try await scene.amira.run { account in
            try await account.sync()
            return (try await account.unread(), await account.problems)
        }
        #expect(Worker.texts(damaged).isEmpty)
        #expect(Self.warnings(damaged).isEmpty, "\(damaged.map(\.message.text))")
        #expect(!problems.contains { $0.contains("could not be opened") }, "\(problems)")
        // The same ids again, intact: both are shown, once.
        let intact = try await scene.amira.read()
        #expect(Worker.texts(intact).sorted() == ["bring the cards", "strike vote on Friday"], "\(intact.map(\.message.text))")
        #expect(Self.warnings(intact).isEmpty, "\(intact.map(\.message.text))")
        // Those acknowledgements were lost too: served yet again, they are recognised, shown
        // nothing twice, and acknowledged for good.
        scene.liar.behave()
        #expect(try await scene.amira.read().isEmpty)
        #expect(try await scene.waiting(for: scene.amira).isEmpty)
        await scene.end()
    }

    @Test func injectedMessagesThatClaimAMemberAreRefused() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira), rosaKey = try await scene.key(scene.rosa)
        let groupID = try await scene.amira.run { account in try await account.read { db in try #require(try account.findGroup(db, named: "Warehouse 5")) } }
        // The relay starts a session with Amira's published prekeys under its own key and seals
        // Rosa's identity into the envelope as the sender.
        let published = try #require(try await scene.relay.store.takePrekeyBundle(owner: Data(amiraKey.rawRepresentation)))
        let bundle = try PrekeyBundle(identity: amiraKey.rawRepresentation, publishedSignedPrekey: Array(published.signedPrekey),
                                      oneTimePrekey: published.oneTime.map { ($0.id, Array($0.publicKey)) },
                                      publishedKEMPrekey: published.kemPrekey.map(Array.init))
        var session = try Session.initiate(identity: Ed25519.PrivateKey(), bundle: bundle)
        let stamp = MessageStamp(id: Random.bytes(16), sentAt: UInt64(Date().timeIntervalSince1970 * 1000), expirySeconds: 0)
        let forged = try PairwiseEnvelope(sessionMessage: session.encrypt(Payload.text(stamp, "Rosa here: the meeting is cancelled").encoded()),
                                          from: rosaKey, to: amiraKey).encoded()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func delivery(_ payload: [UInt8], group: [UInt8]?) -> StoredDelivery {
            StoredDelivery(sequence: 0, messageID: Data(Random.bytes(16)), payload: Data(payload), groupID: group.map { Data($0) },
                           acceptedAt: now, expiresAt: now + 86_400_000)
        }
        let injected = [delivery(forged, group: nil), delivery(Random.bytes(200), group: groupID)]
        // The relay serves the same fabrications again on each connection until they are acknowledged.
        // The relay announces none of them at login, so a sync may end before one is handled (and the
        // next then keeps the connection): sync until both are reported, at most 10 times.
        var lines: [MessageView] = [], problems: [String] = []
        let groupDropped = "a group message that could not be opened in 3 deliveries and was dropped"
        for _ in 0..<10 where !(Self.warnings(lines).contains { $0.hasPrefix(groupDropped) }
                                && lines.contains { $0.message.text.hasPrefix("the first message(s) from Rosa could not be opened") }) {
            scene.liar.attack { $0.inject[Data(amiraKey.rawRepresentation)] = injected }
            let (more, noted) = try await scene.amira.run { account in
                try await account.sync()
                return (try await account.unread(), await account.problems)
            }
            lines += more
            problems = noted
        }
        #expect(Worker.texts(lines).isEmpty)
        #expect(!lines.contains { $0.message.text.contains("cancelled") })
        // The forged session start claims Rosa: Amira is told in her conversation with Rosa, and Rosa is
        // asked to send again (over their real session) in case she had written.
        #expect(lines.contains {
            $0.conversation == .direct(rosaKey) && $0.message.kind == .warning && $0.message.text.hasPrefix("the first message(s) from Rosa could not be opened")
        }, "\(lines.map(\.message.text)) \(problems)")
        #expect(Self.warnings(lines).contains { $0.hasPrefix(groupDropped) })
        #expect(Self.warnings(try await scene.rosa.read()).contains { $0.hasPrefix("Amira could not open 1 message(s) that claimed to be from you") })
        // Rosa's real session with Amira still works.
        try await scene.rosa.run { account in _ = try await account.send("the meeting is on", to: .direct(amiraKey)) }
        #expect(Worker.texts(try await scene.amira.read()) == ["the meeting is on"])
        await scene.end()
    }

    @Test func swappedPrekeysNeverLetTheRelayRead() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira)
        let nadia = try await Worker.make("Nadia", in: scene.directory, relay: scene.relay)
        // A signed prekey the relay made itself: refused, nothing queued.
        let impostor = SignedPrekey(id: 1, identity: Ed25519.PrivateKey())
        scene.liar.attack { $0.swapSignedPrekey[Data(amiraKey.rawRepresentation)] = Data(impostor.publishedBytes) }
        let refused = await clientError { try await nadia.run { account in _ = try await account.send("hello Amira", to: .direct(amiraKey)) } }
        #expect(refused == .badPrekeys(peer: DID(publicKey: amiraKey).description))
        #expect(refused?.description.contains("the relay may be hostile") == true)
        #expect(try await nadia.run { try await $0.queuedCount() } == 0)

        // A one-time prekey of the relay's own (it is not signed): the relay still cannot read, and
        // Amira is told a message could not be opened instead of being shown anything.
        scene.liar.attack {
            $0.swapSignedPrekey = [:]
            $0.swapOneTimePrekey[Data(amiraKey.rawRepresentation)] = Data(X25519.PrivateKey().publicKey.rawRepresentation)
        }
        // Both of Nadia's first messages are session starts with the relay's key: neither opens.
        try await nadia.run { account in
            _ = try await account.send("hello Amira", to: .direct(amiraKey))
            _ = try await account.send("are you coming on Friday?", to: .direct(amiraKey))
        }
        var lines: [MessageView] = []
        for _ in 1...Account.openAttempts { lines += try await scene.amira.read() }
        #expect(Worker.texts(lines).isEmpty)
        // The conversation recovers by itself: Amira starts a new session and asks Nadia to send
        // again; both are told, in their conversation.
        let nadiaKey = try await scene.key(nadia)
        #expect(lines.contains {
            $0.conversation == .direct(nadiaKey) && $0.message.kind == .warning && $0.message.text.contains("could not be opened")
                && $0.message.text.contains("is asked to send them again")
        }, "\(lines.map(\.message.text))")
        let told = try await nadia.read()
        #expect(told.contains {
            $0.conversation == .direct(amiraKey) && $0.message.kind == .warning
                && $0.message.text.contains("could not open 2 message(s) that claimed to be from you")
        }, "\(told.map(\.message.text))")
        // Nadia's client sent both again in Amira's session, and what she writes next goes there too.
        try await nadia.run { account in _ = try await account.send("hello again", to: .direct(amiraKey)) }
        #expect(Worker.texts(try await scene.amira.read()) == ["hello Amira", "are you coming on Friday?", "hello again"])
        await scene.end()
    }

    @Test func aStrippedPostQuantumKeyIsRefused() async throws {
        let scene = try await Scene.make()
        let amiraKey = try await scene.key(scene.amira)
        let nadia = try await Worker.make("Nadia", in: scene.directory, relay: scene.relay)
        // The relay leaves out Amira's KEM prekey, hoping for a start an X25519 break would open.
        scene.liar.attack { $0.stripKEMPrekey.insert(Data(amiraKey.rawRepresentation)) }
        let refused = await clientError { try await nadia.run { account in _ = try await account.send("hello Amira", to: .direct(amiraKey)) } }
        #expect(refused == .strippedPrekeys(peer: DID(publicKey: amiraKey).description))
        #expect(refused?.description.contains("left out the post-quantum key") == true)
        #expect(try await nadia.run { try await $0.queuedCount() } == 0)
        #expect(try await nadia.run { account in try await account.read { tx in try tx.hasSession(peer: amiraKey) } } == false)
        // An honest bundle next time: the session is hybrid and the message arrives.
        scene.liar.behave()
        try await nadia.run { account in _ = try await account.send("hello again", to: .direct(amiraKey)) }
        #expect(try await HybridSessionFlowTests.sessions(nadia, with: amiraKey).map(\.isPostQuantum) == [true])
        #expect(Worker.texts(try await scene.amira.read()) == ["hello again"])
        await scene.end()
    }

    @Test func aDeviceTheRelayAddsToGroupRoutingGetsOnlyCiphertext() async throws {
        let scene = try await Scene.make()
        let groupID = Data(try await scene.rosa.run { account in try await account.read { db in try #require(try account.findGroup(db, named: "Warehouse 5")) } })
        // The operator edits the route directly, without the group's routing key.
        let spy = Ed25519.PrivateKey().publicKey
        let route = try #require(try await scene.relay.store.groupRoute(groupID))
        _ = try await scene.relay.store.updateGroupRoute(GroupRouteUpdate(groupID: groupID, serial: route.serial + 1, adminKey: route.adminKey,
                                                                          add: [Data(spy.rawRepresentation)], remove: []))
        try await scene.rosaSays("strike vote on Monday")
        let intercepted = try await scene.relay.store.pendingDeliveries(recipient: Data(spy.rawRepresentation), afterSequence: 0, limit: 10)
        #expect(intercepted.count == 1)
        #expect(intercepted.allSatisfy { $0.payload.range(of: Data("strike vote".utf8)) == nil })
        // Members still see the signed membership list, which the relay cannot change.
        let members = try await scene.amira.run { try await $0.members(of: "Warehouse 5") }
        #expect(members.compactMap(\.name).sorted() == ["Amira", "Rosa", "Tomasz"])
        #expect(Worker.texts(try await scene.amira.read()) == ["strike vote on Monday"])

        // The admin's next route change no longer matches the relay's: the admin is told, and the
        // removal is not reported as done.
        let (refused, problems) = try await scene.rosa.run { account in
            let refused = await clientError { try await account.remove(member: "Tomasz", from: "Warehouse 5") }
            return (refused, await account.problems)
        }
        #expect(refused?.description.contains("the relay's route does not follow it") == true, "\(String(describing: refused))")
        #expect(problems.contains { $0.contains("ahead of its membership list") && $0.contains("the relay is hostile") }, "\(problems)")
        await scene.end()
    }

    @Test func aWithheldRemovalPausesSendingSoTheRemovedCannotRead() async throws {
        let scene = try await Scene.make()
        let tomaszKey = Data(try await scene.key(scene.tomasz).rawRepresentation)
        let groupID = Data(try await scene.rosa.run { account in try await account.read { db in try #require(try account.findGroup(db, named: "Warehouse 5")) } })
        try await scene.rosa.run { try await $0.remove(member: "Tomasz", from: "Warehouse 5") }
        // The relay withholds the removal from Amira (her new group key still arrives, over her
        // session with Rosa) and keeps routing the group to Tomasz.
        let removal = try #require(try await scene.waiting(for: scene.amira).first { $0.groupID != nil }).messageID
        scene.liar.attack { $0.withhold = [removal] }
        let route = try #require(try await scene.relay.store.groupRoute(groupID))
        _ = try await scene.relay.store.updateGroupRoute(GroupRouteUpdate(groupID: groupID, serial: route.serial + 1, adminKey: route.adminKey,
                                                                          add: [tomaszKey], remove: []))

        let warned = try await scene.amira.read()
        #expect(Self.warnings(warned).contains { $0.contains("Rosa changed the membership of Warehouse 5, but the change itself has not reached you") })
        let refused = await clientError {
            try await scene.amira.run { account in _ = try await account.send("only for the group", to: try await account.resolve("Warehouse 5")) }
        }
        #expect(refused?.description.contains("a membership change of Warehouse 5 has not reached you yet") == true, "\(String(describing: refused))")
        #expect(try await scene.amira.run { try await $0.queuedCount() } == 0)

        // When the removal gets through, the held key applies and sending works, in an epoch Tomasz lacks.
        scene.liar.behave()
        let caughtUp = try await scene.amira.read()
        #expect(caughtUp.contains { $0.message.text == "Rosa removed Tomasz" })
        try await scene.amira.run { account in _ = try await account.send("after the removal", to: try await account.resolve("Warehouse 5")) }
        #expect(try await scene.waiting(for: scene.tomasz).count >= 1, "the hostile route still feeds Tomasz")
        #expect(!Worker.texts(try await scene.tomasz.read()).contains("after the removal"))
        #expect(Worker.texts(try await scene.rosa.read()).contains("after the removal"))
        await scene.end()
    }

    @Test func aRemovedMemberKeptUnawareIsRefusedByTheRelayAndFlaggedToTheMembers() async throws {
        let scene = try await Scene.make()
        let tomaszKey = Data(try await scene.key(scene.tomasz).rawRepresentation)
        let groupID = Data(try await scene.rosa.run { account in try await account.read { db in try #require(try account.findGroup(db, named: "Warehouse 5")) } })
        try await scene.rosa.run { try await $0.remove(member: "Tomasz", from: "Warehouse 5") }
        #expect(try await scene.amira.read().contains { $0.message.text == "Rosa removed Tomasz" })
        // The relay keeps Tomasz unaware of his removal; its route (honest so far) no longer has him.
        let removal = try #require(try await scene.waiting(for: scene.tomasz).first { $0.groupID != nil }).messageID
        scene.liar.attack { $0.withhold = [removal] }
        let refused = try await scene.tomasz.run { account in try await account.send("still here?", to: try await account.resolve("Warehouse 5")) }
        guard case .refused(let why) = refused else { Issue.record("reported as \(refused)"); return }
        #expect(why.hasPrefix("FORBIDDEN"), "\(why)")
        #expect(try await scene.tomasz.run { try await $0.queuedCount() } == 0)
        #expect(Self.warnings(try await scene.tomasz.run { try await $0.history(try await $0.resolve("Warehouse 5")) })
            .contains { $0.hasPrefix("the relay refused your message above; it was not sent: FORBIDDEN") })

        // The relay routes the group to Tomasz again and forwards what he writes in the old epoch.
        let route = try #require(try await scene.relay.store.groupRoute(groupID))
        _ = try await scene.relay.store.updateGroupRoute(GroupRouteUpdate(groupID: groupID, serial: route.serial + 1, adminKey: route.adminKey,
                                                                          add: [tomaszKey], remove: []))
        let forwarded = try await scene.tomasz.run { account in try await account.send("the strike is off", to: try await account.resolve("Warehouse 5")) }
        #expect(forwarded == .sent)
        let lines = try await scene.amira.read()
        let text = try #require(lines.firstIndex { $0.message.kind == .text && $0.message.text == "the strike is off" })
        #expect(text > 0 && lines[text - 1].message.kind == .warning)
        #expect(lines[text - 1].message.text.hasPrefix("Rosa removed Tomasz from the group; the next message from Tomasz is from before that epoch"),
                "\(lines.map(\.message.text))")
        await scene.end()
    }
}
