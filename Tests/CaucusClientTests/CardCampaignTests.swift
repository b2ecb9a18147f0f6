@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import CaucusProtocol
import Foundation
import GRDB
import Logging
import Testing

/// A card campaign through a real relay: announced to a group, signed by workers, tallied by a
/// co-organizer from the relay's inbox, exported and verified.
@Suite("Card campaigns end to end", .timeLimit(.minutes(10)))
struct CardCampaignTests {
    static let language = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."
    /// Today's date in UTC, which a card signed now may carry (Protocol.md §10.2).
    static var today: String { CardFields.utcDate(UInt64(Date().timeIntervalSince1970 * 1000)) }

    /// Rosa's group with `count` workers admitted in one round of invites.
    static func group(_ count: Int, in directory: TempDirectory, relay: TestRelay) async throws -> (Worker, [Worker]) {
        let rosa = try await Worker.make("Rosa", in: directory, relay: relay)
        _ = try await rosa.run { try await $0.createGroup(name: "Warehouse 5") }
        var workers: [Worker] = []
        var codes: [InviteCode] = []
        for index in 0..<count {
            workers.append(try await Worker.make("Worker \(index)", in: directory, relay: nil))
            codes.append(try await rosa.run { try await $0.createInvite(group: "Warehouse 5") })
        }
        for (worker, code) in zip(workers, codes) { _ = try await worker.run { try await $0.join(code, wait: .zero) } }
        try await rosa.run { try await $0.sync() }
        for (worker, code) in zip(workers, codes) {
            #expect(try await worker.run { try await $0.join(code, wait: .seconds(60)) } == .joined("Warehouse 5"))
        }
        return (rosa, workers)
    }

    /// Posts a sealed item to an inbox straight through the wire protocol (as any device may).
    static func post(_ sealed: [UInt8], to campaign: Campaign, on relay: TestRelay) async throws {
        let client = try await relay.connect(Ed25519.PrivateKey())
        _ = try await client.request(.postCard(WirePostCard.with {
            $0.inboxKey = Data(campaign.cardKey.rawRepresentation)
            $0.itemID = Data(Random.bytes(16))
            $0.sealed = Data(sealed)
        }))
        await client.close()
    }

    @Test func tallyThroughTheRelayIsExact() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, workers) = try await Self.group(50, in: directory, relay: relay)
        let tomasz = workers[0]
        _ = try await tomasz.read()
        try await rosa.run { try await $0.promote(member: "Worker 0", in: "Warehouse 5") }
        _ = try await tomasz.read()

        // Only admins start campaigns.
        let refused = await clientError {
            _ = try await workers[1].run { try await $0.createCampaign(in: "Warehouse 5", union: "U", employer: "E", unitDescription: "D",
                                                                       unitSize: 5, language: "L") }
        }
        #expect(refused == .notAdmin(group: "Warehouse 5"))

        let summary = try await rosa.run { account in
            try await account.createCampaign(in: "Warehouse 5", union: "Warehouse Workers Union", employer: "Acme Logistics",
                                             unitDescription: "All associates at DC 5", unitSize: 150, language: Self.language)
        }
        let id = summary.shortID
        // Everyone sees it; the co-organizer also got the card key.
        for worker in workers {
            let campaigns = try await worker.run { account in try await account.sync(); return try await account.campaigns() }
            #expect(campaigns.map(\.shortID) == [id])
            #expect(campaigns.first?.isOrganizer == (worker.name == "Worker 0"))
        }

        for (index, worker) in workers.enumerated() {
            _ = try await worker.run { try await $0.signCard(id, name: "Worker \(index)", contact: "w\(index)@example.org",
                                                              phone: "555 01\(index)", date: Self.today) }
        }
        // Three revoke, one signs again (the later card counts).
        for worker in workers[1...3] { _ = try await worker.run { try await $0.revokeCard(id) } }
        _ = try await workers[4].run { try await $0.signCard(id, name: "Worker 4", contact: "w4@example.org", phone: "555 0144", date: Self.today) }
        // A forbidden field never leaves the worker's computer.
        let forbidden = await clientError {
            _ = try await workers[5].run { try await $0.signCard(id, name: "Worker 5", contact: "SSN 123-45-6789", phone: "555", date: Self.today) }
        }
        #expect(forbidden?.description.contains("social security") == true)

        // Items that must not count: a card for another campaign, a stale one, a damaged one.
        let campaign = summary.campaign
        let other = try Campaign.create(union: "Other", employer: "Acme Logistics", unitDescription: "x", unitSize: 5, language: Self.language,
                                        cardKey: campaign.cardKey, organizer: Ed25519.PrivateKey(), createdAt: 1)
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        var stranger = CardFields(name: "Nadia", contact: "nadia@example.org", phone: "555 0199", employer: "Acme Logistics",
                                  language: Self.language, date: CardFields.utcDate(now))
        try await Self.post(try CardItem.card(try Card.sign(stranger, for: other, by: Ed25519.PrivateKey(), at: now)).sealed(for: campaign), to: campaign, on: relay)
        stranger.date = CardFields.utcDate(now - 400 * 86_400_000)
        try await Self.post(try CardItem.card(try Card.sign(stranger, for: campaign, by: Ed25519.PrivateKey(), at: now - 400 * 86_400_000))
            .sealed(for: campaign), to: campaign, on: relay)
        let queue = try DatabaseQueue(path: relay.databasePath)
        try await queue.write { db in
            let seq = try #require(try Int64.fetchOne(db, sql: "SELECT seq FROM card_items ORDER BY seq LIMIT 1 OFFSET 20"))
            var sealed = Array(try #require(try Data.fetchOne(db, sql: "SELECT sealed FROM card_items WHERE seq = ?", arguments: [seq])))
            sealed[sealed.count / 2] ^= 0x10
            try db.execute(sql: "UPDATE card_items SET sealed = ? WHERE seq = ?", arguments: [Data(sealed), seq])
        }
        try queue.close()

        // The co-organizer tallies.
        let tally = try await tomasz.run { try await $0.tally(id) }
        let reasons = tally.rejected.map(\.reason)
        #expect(reasons.filter { $0 == .revoked }.count == 3)
        #expect(reasons.filter { $0 == .superseded }.count == 1)
        #expect(reasons.filter { $0 == .otherCampaign }.count == 1)
        #expect(reasons.filter { $0 == .stale }.count == 1)
        #expect(reasons.filter { if case .unreadable = $0 { true } else { false } }.count == 1)
        #expect(tally.rejected.count == 7)
        // 50 signed, 3 revoked, 1 damaged on the relay: 46 of 150.
        #expect(tally.valid.count == 46)
        #expect(tally.reachesPetition && !tally.reachesMajority)
        #expect(tally.valid.first { $0.fields.name == "Worker 4" }?.fields.phone == "555 0144")
        // A worker cannot tally.
        #expect(await clientError { _ = try await workers[5].run { try await $0.tally(id) } }
            == .invalidArgument("only the campaign's organizers hold its card key"))

        // Each counted signer gets a receipt with their six fields, signed by the card key, when
        // the organizer sends receipts (the tally sent none); a revoked card's signer gets none.
        let worker4 = try await workers[4].run { $0.did.publicKey }
        #expect(try await relay.store.pendingDeliveries(recipient: Data(worker4.rawRepresentation), afterSequence: 0, limit: 10).isEmpty)
        let report = try await tomasz.run { try await $0.sendReceipts(id) }
        #expect(report.sent == 49 && report.alreadySent == 0 && report.waiting == 0, "46 cards, 3 withdrawals: \(report)")
        let receipts = try await workers[4].run { account in try await account.sync(); return try await account.myReceipts(campaign) }
        #expect(receipts.count == 1 && receipts[0].fields.phone == "555 0144")
        #expect(try await workers[4].run { try await $0.myCards(campaign) }.contains { if case .card(let card) = $0 { receipts[0].confirms(card, of: campaign) } else { false } })
        #expect(try await workers[1].run { account in try await account.sync(); return try await account.myReceipts(campaign) }.isEmpty)
        // A second run sends no second receipt.
        let again = try await tomasz.run { try await $0.sendReceipts(id) }
        #expect(again.sent == 0 && again.alreadySent == 49, "\(again)")
        #expect(try await relay.store.pendingDeliveries(recipient: Data(worker4.rawRepresentation), afterSequence: 0, limit: 10).isEmpty)

        // The relay never held a name, contact or phone in clear.
        let files = try FileManager.default.contentsOfDirectory(atPath: relay.directory.path).filter { $0.hasPrefix("relay.sqlite") }
        let stored = try files.map { try Data(contentsOf: URL(fileURLWithPath: relay.directory.file($0))) }.reduce(Data(), +)
        for value in ["Worker 4", "w4@example.org", "555 014", "Nadia", "Acme Logistics"] {
            #expect(stored.range(of: Data(value.utf8)) == nil, "the relay holds \(value)")
        }

        // The evidence bundle verifies.
        let bundle = try await tomasz.run { try await $0.evidence(for: tally) }
        let verification = try EvidenceBundle(json: bundle.json()).verify()
        #expect(verification.validCards == 46 && verification.holds, "\(verification.statementProblems)")
        await relay.stop()
    }

    @Test func lateOrganizersNewcomersAndWithdrawals() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, workers) = try await Self.group(3, in: directory, relay: relay)
        let summary = try await rosa.run { account in
            try await account.createCampaign(in: "Warehouse 5", union: "Warehouse Workers Union", employer: "Acme Logistics",
                                             unitDescription: "All associates at DC 5", unitSize: 10, language: Self.language)
        }
        let id = summary.shortID, campaign = summary.campaign

        // An admin promoted after the campaign started receives its card key and can tally.
        _ = try await workers[0].read()
        #expect(try await workers[0].run { try await $0.campaigns() }.first?.isOrganizer == false)
        try await rosa.run { try await $0.promote(member: "Worker 0", in: "Warehouse 5") }
        let promoted = try await workers[0].read()
        #expect(promoted.contains { $0.message.text.contains("made you a co-organizer of campaign \(id)") })
        #expect(try await workers[0].run { try await $0.campaigns() }.first?.isOrganizer == true)

        // A worker who joins after the announcement sees the campaign and can sign.
        let newcomer = try await Worker.make("Newcomer", in: directory, relay: nil)
        let code = try await rosa.run { try await $0.createInvite(group: "Warehouse 5") }
        _ = try await newcomer.run { try await $0.join(code, wait: .zero) }
        try await rosa.run { try await $0.sync() }
        #expect(try await newcomer.run { try await $0.join(code, wait: .seconds(60)) } == .joined("Warehouse 5"))
        let seen = try await newcomer.read()
        #expect(seen.contains { $0.message.text.contains("Rosa started a card campaign") })
        #expect(try await newcomer.run { try await $0.campaigns() }.map(\.shortID) == [id])
        _ = try await newcomer.run { try await $0.signCard(id, name: "New Worker", contact: "new@example.org", phone: "555 0150", date: Self.today) }

        // A withdrawal is acknowledged by a receipt signed by the card key, once.
        _ = try await workers[1].read()
        _ = try await workers[1].run { try await $0.signCard(id, name: "Worker 1", contact: "w1@example.org", phone: "555 011", date: Self.today) }
        let revocation = try await workers[1].run { try await $0.revokeCard(id).0 }
        let tally = try await workers[0].run { try await $0.tally(id) }
        #expect(tally.valid.map(\.fields.name) == ["New Worker"])
        #expect(tally.withdrawals == [revocation])
        #expect(try await workers[0].run { try await $0.sendReceipts(id) }.sent == 2)
        let acknowledged = try await workers[1].run { account in try await account.sync(); return try await account.myRevocationReceipts(campaign) }
        #expect(acknowledged.count == 1 && acknowledged[0].confirms(revocation, of: campaign))
        #expect(try await workers[1].run { try await $0.myReceipts(campaign) }.isEmpty)
        #expect(try await newcomer.run { account in try await account.sync(); return try await account.myReceipts(campaign) }.count == 1)
        #expect(try await workers[0].run { try await $0.sendReceipts(id) }.sent == 0)
        let worker1 = try await workers[1].run { $0.did.publicKey }
        #expect(try await relay.store.pendingDeliveries(recipient: Data(worker1.rawRepresentation), afterSequence: 0, limit: 10).isEmpty)

        // An acknowledgement not signed by the card key is refused and not kept.
        let forged = RevocationReceipt.sign(for: revocation, cardKey: Ed25519.PrivateKey(), at: 1)
        try await workers[2].run { account in
            try await account.ensureSession(with: worker1)
            try await account.write { db in try account.enqueuePairwise(db, .revocationReceipt(forged), to: worker1) }
            try await account.sync()
        }
        #expect(try await workers[1].run { account in try await account.sync(); return try await account.myRevocationReceipts(campaign) }.count == 1)

        // A member who is not an admin cannot pass a campaign on, even one its organizer signed.
        let fake = try Campaign.create(union: "Company Union", employer: "Acme Logistics", unitDescription: "x", unitSize: 5,
                                       language: "I authorize management.", cardKey: Ed25519.PrivateKey().publicKey,
                                       organizer: try await workers[2].run { await $0.identity }, createdAt: 1)
        let groupID = try await workers[2].run { account in try await account.read { db in try #require(try account.findGroup(db, named: "Warehouse 5")) } }
        let newcomerKey = try await newcomer.run { $0.did.publicKey }
        try await workers[2].run { account in
            try await account.ensureSession(with: newcomerKey)
            try await account.write { db in try account.enqueuePairwise(db, .sharedCampaign(groupID: groupID, campaign: fake), to: newcomerKey) }
            try await account.sync()
        }
        let warned = try await newcomer.read()
        #expect(warned.contains { $0.message.kind == .warning && $0.message.text.contains("passed on by Worker 2 was refused") })
        #expect(try await newcomer.run { try await $0.campaigns() }.map(\.shortID) == [id])
        await relay.stop()
    }

    /// Protocol.md §10.10: each signer gets the organizers' signed statement with a Merkle proof
    /// for each of their cards; the client checks it, says where the card stands, warns loudly
    /// when a statement leaves out a card that should count, and refuses a proof that does not hold.
    @Test func tallyProofsShowEachSignerWhetherTheirCardCounts() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, workers) = try await Self.group(2, in: directory, relay: relay)
        let summary = try await rosa.run { account in
            try await account.createCampaign(in: "Warehouse 5", union: "Warehouse Workers Union", employer: "Acme Logistics",
                                             unitDescription: "All associates at DC 5", unitSize: 10, language: Self.language)
        }
        let id = summary.shortID, campaign = summary.campaign
        for worker in workers { _ = try await worker.read() }
        let card = try await workers[0].run { try await $0.signCard(id, name: "Worker 0", contact: "w0@example.org", phone: "555 010", date: Self.today) }
        _ = try await workers[1].run { try await $0.signCard(id, name: "Worker 1", contact: "w1@example.org", phone: "555 011", date: Self.today) }
        _ = try await workers[1].run { try await $0.revokeCard(id) }

        // Worker 0's card is proven counted; Worker 1's withdrawn card is shown not counted, as asked, without a warning.
        let report = try await rosa.run { try await $0.sendReceipts(id) }
        #expect(report.sent == 2 && report.proofsSent == 2 && report.proofsWaiting == 0, "\(report)")
        let told = try await workers[0].read()
        #expect(told.contains { $0.message.text.contains("signed \(Self.today) is counted in the organizers' tally") }, "\(told.map(\.message.text))")
        let standing = try #require(try await workers[0].run { try await $0.cardStandings(campaign) }[card.hash])
        #expect(standing.finding == .counted && standing.statement.counted == 1)
        let withdrawn = try await workers[1].run { account in
            try await account.sync()
            return (try await account.cardStandings(campaign), await account.problems)
        }
        #expect(withdrawn.0.values.map(\.finding) == [.notCounted] && !withdrawn.1.contains { $0.contains("WARNING") }, "\(withdrawn.1)")
        // Nothing changed, so a second run sends no proof again.
        #expect(try await rosa.run { try await $0.sendReceipts(id) }.proofsSent == 0)

        // An organizer whose later statement leaves Worker 0's card out: Worker 0 is warned loudly.
        let worker0 = try await workers[0].run { $0.did.publicKey }
        let cardKey = try #require(try await rosa.run { try await $0.campaign(id).1 })
        let later = UInt64(Date().timeIntervalSince1970 * 1000) + 1_000
        let dropped = TallyStatement.sign(campaign: campaign, counted: [], unitSize: 10, unitList: nil, at: later, cardKey: cardKey)
        let absent = TallyProof.make(for: card.hash, statement: dropped, leaves: [], tree: CardMerkleTree([]))
        // And a proof under a statement signed by some other key, which shows nothing.
        let forgedStatement = TallyStatement.sign(campaign: campaign, counted: [], unitSize: 10, unitList: nil, at: later + 1,
                                                  cardKey: Ed25519.PrivateKey())
        let forged = TallyProof.make(for: card.hash, statement: forgedStatement, leaves: [], tree: CardMerkleTree([]))
        try await rosa.run { account in
            try await account.ensureSession(with: worker0)
            try await account.write { db in
                try account.enqueuePairwise(db, .tallyProof(absent), to: worker0)
                try account.enqueuePairwise(db, .tallyProof(forged), to: worker0)
            }
            try await account.sync()
        }
        let (lines, problems, standings) = try await workers[0].run { account in
            try await account.sync()
            return (try await account.unread(), await account.problems, try await account.cardStandings(campaign))
        }
        #expect(lines.contains { $0.message.text.contains("does NOT count your card") }, "\(lines.map(\.message.text))")
        #expect(problems.contains { $0.hasPrefix("WARNING:") && $0.contains("does NOT count your card") }, "\(problems)")
        #expect(problems.contains { $0.contains("a tally proof that does not hold") }, "\(problems)")
        #expect(standings[card.hash]?.finding == .notCounted && standings[card.hash]?.statement == dropped)
        await relay.stop()
    }

    @Test func cardsArePostedUnderAThrowawayKey() async throws {
        let log = CapturedLog()
        var logger = Logger(label: "test.relay") { _ in log }
        logger.logLevel = .debug
        let relay = try await TestRelay.start(logger: logger)
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (rosa, workers) = try await Self.group(1, in: directory, relay: relay)
        let summary = try await rosa.run { account in
            try await account.createCampaign(in: "Warehouse 5", union: "U", employer: "Acme Logistics", unitDescription: "D", unitSize: 5,
                                             language: Self.language)
        }
        _ = try await workers[0].read()
        let workerTag = logTag(Data(try await workers[0].run { $0.did.publicKey }.rawRepresentation))
        let before = log.devices()
        #expect(before.contains(workerTag), "the worker's own connections are logged by device")
        _ = try await workers[0].run { account in
            try await account.signCard(summary.shortID, name: "Worker 0", contact: "w0@example.org", phone: "555 0100", date: Self.today)
        }
        _ = try await workers[0].run { try await $0.revokeCard(summary.shortID) }
        // Signing and revoking each connected as the worker, with a companion beside it under a key
        // never seen before (the post went on the companion: TrafficShapeCLITests shows it on the wire).
        let during = Array(log.devices().dropFirst(before.count))
        let fresh = during.filter { $0 != workerTag }
        #expect(fresh.count >= 2 && Set(fresh).count == fresh.count, "\(during)")
        #expect(Set(fresh).isDisjoint(with: before), "\(during)")
        #expect(try await relay.store.cardCount(inboxKey: Data(summary.campaign.cardKey.rawRepresentation)) == 2)
        await relay.stop()
    }

    @Test func aCampaignFromANonOrganizerIsRefused() async throws {
        let relay = try await TestRelay.start()
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (_, workers) = try await Self.group(2, in: directory, relay: relay)
        // A member (not an admin) announces a campaign by hand.
        let fake = try Campaign.create(union: "Company Union", employer: "Acme Logistics", unitDescription: "x", unitSize: 5,
                                       language: "I authorize management.", cardKey: Ed25519.PrivateKey().publicKey,
                                       organizer: try await workers[0].run { await $0.identity }, createdAt: 1)
        try await workers[0].run { account in
            try await account.write { tx in
                try account.enqueue(tx, .campaign(fake), in: try account.resolveSync(tx, "Warehouse 5"), id: Random.bytes(16), ttl: 0)
            }
            try await account.sync()
        }
        let lines = try await workers[1].read()
        #expect(lines.contains { $0.message.kind == .warning && $0.message.text.contains("not signed by an organizer") })
        #expect(try await workers[1].run { try await $0.campaigns() }.isEmpty)
        await relay.stop()
    }
}

extension Account {
    /// `resolve` for a group inside a transaction (tests only).
    nonisolated func resolveSync(_ tx: StoreTransaction, _ name: String) throws -> Conversation {
        guard let id = try findGroup(tx, named: name) else { throw ClientError.unknownTarget(name) }
        return .group(GroupID(id))
    }
}

/// Keeps the device tags of the relay's "authenticated" log lines, in order.
final class CapturedLog: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var tags: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.message.description == "authenticated", let device = event.metadata?["device"] else { return }
        lock.withLock { tags.append(device.description) }
    }

    func devices() -> [String] { lock.withLock { tags } }
}
