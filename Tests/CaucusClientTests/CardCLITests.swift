@testable import CaucusClient
import CaucusClientStore
import CaucusCrypto
import CaucusRelayClient
import Foundation
import Testing

/// The card commands through the built `caucus` binary, as an organizer and two workers would type them.
@Suite("caucus campaign, card and cards commands", .timeLimit(.minutes(10)))
struct CardCLITests {
    static let language = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."

    /// `caucus campaign create` in the group by its admin; returns the campaign's short hash.
    static func campaign(by admin: CLIWorker, unitSize: Int, in directory: TempDirectory) async throws -> String {
        let languageFile = directory.file("card.txt")
        try (language + "\n").write(toFile: languageFile, atomically: true, encoding: .utf8)
        let created = try #require(try await admin.json(
            "campaign", "create", CLIWorker.group, "--union", "Warehouse Workers Union", "--employer", "Acme Logistics",
            "--unit", "All associates at DC 5", "--unit-size", "\(unitSize)", "--language-file", languageFile) as? [String: Any])
        return try #require(created["id"] as? String)
    }

    @Test("Sign, revoke, tally, receipts, export and verify through the CLI; bad input refused without echoing it")
    func cardCommands() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira"], relay: relay, in: directory)
            let (rosa, tomasz, amira) = (workers[0], workers[1], workers[2])
            let id = try await Self.campaign(by: rosa, unitSize: 4, in: directory)

            // A worker sees the campaign (fetched by the command itself) and signs it.
            let listed = try #require(try await tomasz.json("campaign", "list", "--sync") as? [[String: Any]])
            #expect(listed.map { $0["id"] as? String } == [id] && listed.first?["organizer"] as? Bool == false)
            let signing = try await tomasz.succeed("card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org",
                                                   "--phone", "555 0102", "--yes")
            #expect(signing.stdout.contains(Self.language) && signing.stdout.contains("Employer: Acme Logistics"), "\(signing)")

            // A forbidden field is refused, named, and not echoed; nothing is posted.
            let forbidden = try await amira.run("card", "sign", id, "--name", "Amira Haddad", "--contact", "SSN 123-45-6789",
                                                "--phone", "555 0103", "--yes")
            #expect(forbidden.status != 0 && forbidden.stderr.contains("social security"), "\(forbidden)")
            #expect(!forbidden.stderr.contains("123-45-6789") && !forbidden.stdout.contains("123-45-6789"), "\(forbidden)")
            #expect(try #require(try await amira.json("card", "status", "--sync", id) as? [[String: Any]]).isEmpty)

            // Amira signs twice (told that the second replaces the first; --json prints one JSON document
            // and nothing else), then withdraws: both cards, after saying which and asking.
            try await amira.succeed("card", "sign", id, "--name", "Amira Haddad", "--contact", "amira@example.org", "--phone", "555 0103", "--yes")
            let second = try #require(try await amira.json("card", "sign", id, "--name", "Amira Haddad", "--contact", "amira@example.org",
                                                           "--phone", "555 0104", "--yes") as? [String: Any])
            #expect((second["replaces"] as? [String])?.count == 1, "\(second)")
            let again = try await amira.succeed("card", "sign", id, "--name", "Amira Haddad", "--contact", "amira@example.org",
                                                "--phone", "555 0104", "--yes")
            #expect(again.stdout.contains("You signed a card for this campaign on ") && again.stdout.contains("this one replaces it"), "\(again)")
            let unconfirmed = try await amira.succeed("card", "revoke", id)
            #expect(unconfirmed.stdout.contains("This withdraws all 3 of your cards") && unconfirmed.stdout.contains("Nothing withdrawn."),
                    "\(unconfirmed)")
            let revoked = try #require(try await amira.json("card", "revoke", id, "--yes") as? [String: Any])
            #expect((revoked["withdrawn"] as? [String])?.count == 3, "\(revoked)")
            let nothingLeft = try await amira.run("card", "revoke", id, "--yes")
            #expect(nothingLeft.status != 0 && nothingLeft.stderr.contains("you have no card to withdraw for this campaign"), "\(nothingLeft)")
            // An unknown campaign gets a clear error.
            let unknown = try await amira.run("card", "revoke", "00000000")
            #expect(unknown.status != 0 && unknown.stderr.contains("no card campaign called \"00000000\""), "\(unknown)")

            // The tally and the export only read: the relay accepts no message, no signer's
            // one-time prekey is taken for a session, and no signer is sent anything.
            let signers = [try await tomasz.did(), try await amira.did()].map { Data($0.publicKey.rawRepresentation) }
            let before = try await RelayTraffic(relay, signers: signers)
            let tally = try #require(try await rosa.json("cards", "tally", id) as? [String: Any])
            #expect(tally["valid"] as? Int == 1 && tally["unit_size"] as? Int == 4)
            #expect(tally["petition_30_percent"] as? Bool == false && tally["majority"] as? Bool == false)
            // Every card Amira signed is withdrawn, the older ones too (Protocol.md §10.3).
            #expect(tally["rejections"] as? [String: Int] == ["revoked by its signer": 3])
            let said = try await rosa.succeed("cards", "tally", id)
            try await rosa.succeed("cards", "export", id, "--csv", directory.file("first.csv"), "--bundle", directory.file("first.json"))
            #expect(!said.stdout.contains("receipt") && !said.stderr.contains("receipt"), "\(said)")
            let after = try await RelayTraffic(relay, signers: signers)
            #expect(after == before, "a tally or an export sent something")
            #expect(after.pending == [0, 0], "\(after)")

            // `cards receipts` sends the receipts: one to each signer (Tomasz's card, Amira's
            // withdrawal), and a tally proof per card (Tomasz's counted, Amira's three not), in one
            // summary line; a second run sends none of either.
            let sending = try await rosa.succeed("cards", "receipts", id)
            #expect(sending.stdout == "Sent 2 receipts; sent 4 tally proofs (each signer's check that their card counts).\n"
                    && sending.stderr.isEmpty, "\(sending)")
            let sent = try await RelayTraffic(relay, signers: signers)
            #expect(sent.pending == [2, 4] && sent.accepted == before.accepted + 6, "\(sent)")
            let secondRun = try #require(try await rosa.json("cards", "receipts", id) as? [String: Any])
            #expect(secondRun["sent"] as? Int == 0 && secondRun["already_sent"] as? Int == 2 && secondRun["waiting"] as? Int == 0
                    && secondRun["tally_proofs_sent"] as? Int == 0, "\(secondRun)")
            #expect(try await RelayTraffic(relay, signers: signers) == sent)

            // Receipts: Tomasz's card is confirmed, Amira's withdrawal is acknowledged.
            // Tally proofs: Tomasz's card is proven counted in a tally of 1; Amira's are proven not counted.
            let tomaszStatus = try #require(try await tomasz.json("card", "status", "--sync", id) as? [[String: Any]])
            #expect(tomaszStatus.count == 1 && tomaszStatus[0]["receipt"] is [String: Any], "\(tomaszStatus)")
            let tomaszTally = try #require(tomaszStatus[0]["tally"] as? [String: Any], "\(tomaszStatus)")
            #expect(tomaszTally["counted"] as? Bool == true && tomaszTally["cards"] as? Int == 1, "\(tomaszTally)")
            let tomaszText = try await tomasz.succeed("card", "status", "--sync", id)
            #expect(tomaszText.stdout.contains("  counted in the organizers' tally of "), "\(tomaszText)")
            let amiraStatus = try #require(try await amira.json("card", "status", "--sync", id) as? [[String: Any]])
            #expect(amiraStatus.map { $0["kind"] as? String } == ["card", "card", "card", "revocation"])
            #expect(amiraStatus[3]["receipt"] is [String: Any], "\(amiraStatus)")
            #expect(amiraStatus.prefix(3).allSatisfy { ($0["tally"] as? [String: Any])?["counted"] as? Bool == false }, "\(amiraStatus)")
            let text = try await amira.succeed("card", "status", "--sync", id)
            #expect(text.stdout.contains("the organizers acknowledged it") && text.stdout.contains("  NOT counted in the organizers' tally of ")
                    && !text.stderr.contains("WARNING"), "\(text)")

            // A worker cannot tally; the organizer exports and anyone verifies the bundle offline.
            let notOrganizer = try await tomasz.run("cards", "tally", id)
            #expect(notOrganizer.status != 0 && notOrganizer.stderr.contains("only the campaign's organizers"), "\(notOrganizer)")
            let csv = directory.file("cards.csv"), bundle = directory.file("bundle.json")
            try await rosa.succeed("cards", "export", id, "--csv", csv, "--bundle", bundle)
            let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\r\n")
            #expect(rows.count == 2 && rows[1].hasPrefix("\"Tomasz Nowak\",\"tomasz@example.org\",\"555 0102\",\"Acme Logistics\""))
            let verified = try #require(try await CLIWorker.caucus("cards", "verify", bundle, "--json").json as? [String: Any])
            #expect(verified["valid"] as? Int == 1)

            // One changed character in a card's name: the bundle no longer verifies, and says which card.
            let tampered = directory.file("tampered.json")
            let original = try String(contentsOfFile: bundle, encoding: .utf8)
            try #require(original.contains("Tomasz Nowak"))
            try original.replacingOccurrences(of: "Tomasz Nowak", with: "Tomasz Nowek").write(toFile: tampered, atomically: true, encoding: .utf8)
            let failed = try await CLIWorker.caucus("cards", "verify", tampered)
            #expect(failed.status == 1 && failed.stdout.contains("0 of 1 cards verify") && failed.stdout.contains("card 0:"), "\(failed)")

            // A unit list that Tomasz is not on: his card matches no one and counts toward nothing
            // (it once made the share 50 % of this list of 2), and the list's size is warned about.
            let strangers = directory.file("strangers.csv"), unit = directory.file("unit.csv")
            try "name,email\nNobody Here,nobody@example.org\nSomeone Else,\n".write(toFile: strangers, atomically: true, encoding: .utf8)
            let unmatched = try await rosa.run(["cards", "tally", id, "--unit-list", strangers, "--json"])
            let onList = try #require(unmatched.json as? [String: Any], "\(unmatched)")
            #expect(onList["valid"] as? Int == 1 && onList["counted"] as? Int == 0 && onList["share"] as? Double == 0, "\(onList)")
            #expect(onList["petition_30_percent"] as? Bool == false && onList["majority"] as? Bool == false, "\(onList)")
            #expect((onList["unit_list"] as? [String: Any])?["unmatched"] as? Int == 1, "\(onList)")
            #expect(unmatched.stderr.contains("the unit list has 2 people; the campaign states a unit of 4"), "\(unmatched)")
            let saidOfList = try await rosa.succeed("cards", "tally", id, "--unit-list", strangers)
            #expect(saidOfList.stdout.contains("0 valid cards match the unit list of 2: 0.0%")
                    && saidOfList.stdout.contains("1 valid card(s) match no one on the list and are not counted toward it"), "\(saidOfList)")

            // On a list of 3 with Tomasz (matched by email), 1 of 3 counts; the export writes what the tally counted.
            try "Tomasz N.,TOMASZ@example.org\nSomeone Else\nThird Person\n".write(toFile: unit, atomically: true, encoding: .utf8)
            let matched = try #require(try await rosa.json("cards", "tally", id, "--unit-list", unit) as? [String: Any])
            #expect(matched["counted"] as? Int == 1 && matched["unit_size"] as? Int == 3 && matched["petition_30_percent"] as? Bool == true,
                    "\(matched)")
            let listBundle = directory.file("list-bundle.json")
            try await rosa.succeed("cards", "export", id, "--csv", directory.file("list.csv"), "--bundle", listBundle, "--unit-list", strangers)
            let empty = try #require(try await CLIWorker.caucus("cards", "verify", listBundle, "--json").json as? [String: Any])
            #expect(empty["valid"] as? Int == 0, "the bundle holds only cards matched to the list: \(empty)")
            try await rosa.succeed("cards", "export", id, "--csv", directory.file("list.csv"), "--bundle", listBundle, "--unit-list", unit)
            let one = try #require(try await CLIWorker.caucus("cards", "verify", listBundle, "--json").json as? [String: Any])
            #expect(one["valid"] as? Int == 1 && one["petition_30_percent"] as? Bool == true, "\(one)")
            // The statement names the list it was counted against: the right file checks, another does not.
            let withList = try #require(try await CLIWorker.caucus("cards", "verify", listBundle, "--unit-list", unit, "--json").json
                as? [String: Any])
            #expect(withList["verified"] as? Bool == true, "\(withList)")
            let otherList = try await CLIWorker.caucus("cards", "verify", listBundle, "--unit-list", strangers)
            #expect(otherList.status == 1 && otherList.stdout.contains("statement.unit_list_hash: not the hash of"), "\(otherList)")
        }
    }

    @Test("cards receipts: a signer who never connected waits, counted in the summary, and gets the receipt once they have")
    func receiptsWaitForSignersWithoutPrekeys() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let id = try await Self.campaign(by: rosa, unitSize: 3, in: directory)
            try await tomasz.succeed("card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org", "--phone", "555 0102", "--yes")

            // Lena's identity names the relay but has never connected under it, so her prekeys are not
            // there. Her client knows the campaign (as from a co-worker's) and keeps her card, which
            // reached the inbox from a connection under a throwaway key alone (the reference client
            // posts with a connection of its own beside it, §9.16; another client need not).
            let lena = try await CLIWorker.make("Lena", in: directory, relayURL: relay.url)
            let campaign = try await rosa.inProcess { try await $0.findCampaign(id).campaign }
            let lenaKey = try await lena.inProcess { account in
                try await account.write { db in try account.saveCampaign(db, campaign, cardKey: nil, conversation: .group(GroupID(Random.bytes(16)))) }
                let now = UInt64(Date().timeIntervalSince1970 * 1000)
                let fields = CardFields(name: "Lena Berg", contact: "lena@example.org", phone: "555 0105", employer: campaign.employer,
                                        language: campaign.language, date: CardFields.utcDate(now))
                let card = CardItem.card(try Card.sign(fields, for: campaign, by: await account.identity, at: now))
                let post = CardPost(inboxKey: campaign.cardKey.rawRepresentation, itemID: Random.bytes(16), sealed: try card.sealed(for: campaign))
                let poster = try await RelayClient.connect(url: relay.url, deviceKey: Ed25519.PrivateKey())
                try await poster.postCard(inboxKey: Data(post.inboxKey), itemID: Data(post.itemID), sealed: Data(post.sealed))
                await poster.close()
                try await account.write { tx in
                    try tx.addMyCard(card, post: post, campaign: campaign, at: ClientStore.now())
                    try tx.cardPosted(itemID: post.itemID)
                }
                return account.did.publicKey
            }
            #expect(try await relay.store.prekeyCounts(owner: Data(lenaKey.rawRepresentation)).oneTime == 0)

            let first = try await rosa.succeed("cards", "receipts", id)
            #expect(first.stdout == """
                Sent 1 receipt; 1 wait for their signers (1 no prekeys on the relay yet): run `caucus cards receipts \(id)` again later; \
                sent 1 tally proof (each signer's check that their card counts), 1 waiting.

                """ && first.stderr.isEmpty, "\(first)")

            // Once Lena has connected (which publishes her prekeys), the next run sends hers, and only hers.
            try await lena.succeed("sync")
            let second = try #require(try await rosa.json("cards", "receipts", id) as? [String: Any])
            #expect(second["sent"] as? Int == 1 && second["already_sent"] as? Int == 1 && second["waiting"] as? Int == 0
                    && second["tally_proofs_sent"] as? Int == 1, "\(second)")
            let status = try #require(try await lena.json("card", "status", "--sync", id) as? [[String: Any]])
            #expect(status.count == 1 && status[0]["receipt"] is [String: Any]
                    && (status[0]["tally"] as? [String: Any])?["counted"] as? Bool == true, "\(status)")
            let third = try #require(try await rosa.json("cards", "receipts", id) as? [String: Any])
            #expect(third["sent"] as? Int == 0 && third["already_sent"] as? Int == 2, "\(third)")
            let tomaszStatus = try #require(try await tomasz.json("card", "status", "--sync", id) as? [[String: Any]])
            #expect(tomaszStatus.count == 1 && tomaszStatus[0]["receipt"] is [String: Any], "\(tomaszStatus)")
            #expect(try await relay.store.pendingCount(recipient: Data(lenaKey.rawRepresentation)) == 0)
        }
    }
}

/// What the relay has accepted and holds for signers, to show that a command sent nothing.
private struct RelayTraffic: Equatable, CustomStringConvertible {
    /// Messages the relay accepted (`caucus_relay_messages_accepted_total`).
    let accepted: Int
    /// Each signer's one-time prekeys on the relay: setting up a session takes one.
    let prekeys: [Int]
    /// Deliveries waiting for each signer.
    let pending: [Int]

    init(_ relay: TestRelay, signers: [Data]) async throws {
        let line = relay.relay.metricsText().split(separator: "\n").first { $0.hasPrefix("caucus_relay_messages_accepted_total ") }
        accepted = line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
        var prekeys: [Int] = [], pending: [Int] = []
        for key in signers {
            prekeys.append(try await relay.store.prekeyCounts(owner: key).oneTime)
            pending.append(try await relay.store.pendingCount(recipient: key))
        }
        self.prekeys = prekeys
        self.pending = pending
    }

    var description: String { "accepted \(accepted), one-time prekeys \(prekeys), pending \(pending)" }
}

extension CLIWorker {
    /// Opens this worker's account in the test's process (no `caucus` command runs meanwhile).
    func inProcess<T>(_ body: (Account) async throws -> T) async throws -> T {
        try await withOpenAccount(home: ClientHome(explicit: home), passphrase: Passphrase(Self.passphrase), body)
    }
}
