import Foundation
import Testing

/// The card commands through the built `caucus` binary, as an organizer and two workers would type them.
@Suite("caucus campaign, card and cards commands", .timeLimit(.minutes(3)))
struct CardCLITests {
    static let language = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."

    @Test("Sign, revoke, tally, receipts, export and verify through the CLI; bad input refused without echoing it")
    func cardCommands() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira"], relay: relay, in: directory)
            let (rosa, tomasz, amira) = (workers[0], workers[1], workers[2])
            let languageFile = directory.file("card.txt")
            try (Self.language + "\n").write(toFile: languageFile, atomically: true, encoding: .utf8)

            let created = try #require(try await rosa.json(
                "campaign", "create", CLIWorker.group, "--union", "Warehouse Workers Union", "--employer", "Acme Logistics",
                "--unit", "All associates at DC 5", "--unit-size", "4", "--language-file", languageFile) as? [String: Any])
            let id = try #require(created["id"] as? String)

            // A worker sees the campaign (fetched by the command itself) and signs it.
            let listed = try #require(try await tomasz.json("campaign", "list") as? [[String: Any]])
            #expect(listed.map { $0["id"] as? String } == [id] && listed.first?["organizer"] as? Bool == false)
            let signing = try await tomasz.succeed("card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org",
                                                   "--phone", "555 0102", "--yes")
            #expect(signing.stdout.contains(Self.language) && signing.stdout.contains("Employer: Acme Logistics"), "\(signing)")

            // A forbidden field is refused, named, and not echoed; nothing is posted.
            let forbidden = try await amira.run("card", "sign", id, "--name", "Amira Haddad", "--contact", "SSN 123-45-6789",
                                                "--phone", "555 0103", "--yes")
            #expect(forbidden.status != 0 && forbidden.stderr.contains("social security"), "\(forbidden)")
            #expect(!forbidden.stderr.contains("123-45-6789") && !forbidden.stdout.contains("123-45-6789"), "\(forbidden)")
            #expect(try #require(try await amira.json("card", "status", id) as? [[String: Any]]).isEmpty)

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

            let tally = try #require(try await rosa.json("cards", "tally", id) as? [String: Any])
            #expect(tally["valid"] as? Int == 1 && tally["unit_size"] as? Int == 4)
            #expect(tally["petition_30_percent"] as? Bool == false && tally["majority"] as? Bool == false)
            // Every card Amira signed is withdrawn, the older ones too (Protocol.md §10.3).
            #expect(tally["rejections"] as? [String: Int] == ["revoked by its signer": 3])

            // Receipts: Tomasz's card is confirmed, Amira's withdrawal is acknowledged.
            let tomaszStatus = try #require(try await tomasz.json("card", "status", id) as? [[String: Any]])
            #expect(tomaszStatus.count == 1 && tomaszStatus[0]["receipt"] is [String: Any], "\(tomaszStatus)")
            let amiraStatus = try #require(try await amira.json("card", "status", id) as? [[String: Any]])
            #expect(amiraStatus.map { $0["kind"] as? String } == ["card", "card", "card", "revocation"])
            #expect(amiraStatus[3]["receipt"] is [String: Any], "\(amiraStatus)")
            let text = try await amira.succeed("card", "status", id)
            #expect(text.stdout.contains("the organizers acknowledged it"), "\(text)")

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
            let said = try await rosa.succeed("cards", "tally", id, "--unit-list", strangers)
            #expect(said.stdout.contains("0 valid cards match the unit list of 2: 0.0%")
                    && said.stdout.contains("1 valid card(s) match no one on the list and are not counted toward it"), "\(said)")

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
}
