@testable import CaucusClient
import CaucusCrypto
import Foundation
import Testing

/// `caucus cards report` and the names in `caucus cards tally`, through the built binary and a real
/// relay, with hostile names; the HTML page opened in a real (headless) Chromium.
@Suite("caucus cards report", .timeLimit(.minutes(10)))
struct CampaignReportCLITests {
    static let hostile = ["<img src=x onerror=alert(1)>", "\"><script>alert(2)</script>", "Ben\u{202E}Okafor", "Dev <b>Rao</b> & 'Co'"]
    static let day: UInt64 = 86_400_000

    /// Where test artifacts (screenshots, PDFs) are kept: `$CAUCUS_ARTIFACTS`, else `.build/test-artifacts`.
    static var artifacts: String {
        let directory = ProcessInfo.processInfo.environment["CAUCUS_ARTIFACTS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/test-artifacts").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("The HTML page escapes every text from a card or a unit list, and loads and runs nothing")
    func htmlEscapesHostileText() throws {
        let cardKey = Ed25519.PrivateKey(), now: UInt64 = 1_800_000_000_000
        let campaign = try Campaign.create(union: "Union <u>", employer: "Acme & Sons", unitDescription: "DC 5 <script>x</script>",
                                           unitSize: 4, language: "I authorize.", cardKey: cardKey.publicKey,
                                           organizer: Ed25519.PrivateKey(), createdAt: now - 30 * Self.day)
        let cards = try Self.hostile.enumerated().map { index, name in
            try Card.sign(CardFields(name: name, contact: "c\(index)@example.org", phone: "555 010\(index)", employer: "Acme & Sons",
                                     language: "I authorize.", date: CardFields.utcDate(now - UInt64(index) * Self.day)),
                          for: campaign, by: Ed25519.PrivateKey(), at: now - UInt64(index) * Self.day)
        }
        let stale = try Card.sign(CardFields(name: "<iframe src=//evil>", contact: "old@example.org", phone: "555 0199", employer: "Acme & Sons",
                                             language: "I authorize.", date: CardFields.utcDate(now - 400 * Self.day)),
                                  for: campaign, by: Ed25519.PrivateKey(), at: now - 400 * Self.day)
        let tally = CardTally(campaign: campaign, items: (cards + [stale]).map { .success(.card($0)) }, now: now)
        let list = try UnitList(csv: "name,department,shift,note\n\"\"\"><script>alert(2)</script>\",<b>Receiving</b>,\"Night <i>\",\n"
                                    + "Eve <svg onload=alert(3)>,Shipping,Day,<a href=http://evil>x</a>\n")
        let page = CampaignReport(tally, campaignID: "c0ffee00", unitList: list, dids: true).html()

        for raw in ["<img", "<script", "<iframe", "<svg onload", "<b>", "<i>", "<a ", "<u>", "onerror=alert(1)>", "\u{202E}", "& "] {
            #expect(!page.contains(raw), "\(raw) reached the page unescaped")
        }
        for escaped in ["&lt;img src=x onerror=alert(1)&gt;", "&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;", "Ben&lt;U+202E&gt;Okafor",
                        "Dev &lt;b&gt;Rao&lt;/b&gt; &amp; &#39;Co&#39;", "&lt;iframe src=//evil&gt;", "&lt;b&gt;Receiving&lt;/b&gt;",
                        "note: &lt;a href=http://evil&gt;x&lt;/a&gt;", "Eve &lt;svg onload=alert(3)&gt;", "Night &lt;i&gt;", "Union &lt;u&gt;", "DC 5 &lt;script&gt;x&lt;/script&gt;"] {
            #expect(page.contains(escaped), "\(escaped) is not in the page")
        }
        // Nothing is loaded from anywhere, and the page's policy forbids it besides.
        #expect(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\""))
        for loader in [" src=\"", " href=\"", "url(", "@import", "<link", "<script"] { #expect(!page.contains(loader), "\(loader)") }
    }

    @Test("cards tally names signers and rejections; cards report writes --json, --csv and a private --html page a browser shows as the JSON says")
    func reportThroughTheCLIAndABrowser() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz"], relay: relay, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let id = try await CardCLITests.campaign(by: rosa, unitSize: 6, in: directory)
            try await tomasz.succeed("card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org", "--phone", "555 0102", "--yes")

            // Cards from earlier days, posted to the inbox as a worker's client posts them: Ana signs,
            // withdraws the next day and signs again; hostile names; one card from 400 days ago (stale).
            let campaign = try await rosa.inProcess { try await $0.findCampaign(id).campaign }
            // "Today" is the day Tomasz signed: when midnight (UTC) has passed since, the cards below
            // are dated from that day's last millisecond, so that the days counted back stay his.
            let tomaszSigned = try #require(try await tomasz.json("card", "status", id) as? [[String: Any]]).first?["date"] as? String
            var now = UInt64(Date().timeIntervalSince1970 * 1000)
            if CardFields.utcDate(now) != tomaszSigned { now -= now % Self.day + 1 }
            #expect(CardFields.utcDate(now) == tomaszSigned)
            func card(_ name: String, _ key: Ed25519.PrivateKey, daysAgo: UInt64) throws -> Card {
                let at = now - daysAgo * Self.day
                return try Card.sign(CardFields(name: name, contact: "\(abs(name.hashValue))@example.org", phone: "555 0100",
                                                employer: campaign.employer, language: campaign.language, date: CardFields.utcDate(at)),
                                     for: campaign, by: key, at: at)
            }
            let ana = Ed25519.PrivateKey()
            let anaFirst = try card("Ana Silva", ana, daysAgo: 3)
            var items: [CardItem] = [.card(anaFirst), .revocation(CardRevocation.sign(revoking: anaFirst, by: ana, at: now - 2 * Self.day)),
                                     .card(try card("Ana Silva", ana, daysAgo: 1)),
                                     .card(try card("<iframe src=//evil>", Ed25519.PrivateKey(), daysAgo: 400))]
            for (index, name) in Self.hostile.enumerated() { items.append(.card(try card(name, Ed25519.PrivateKey(), daysAgo: UInt64(index)))) }
            for item in items { try await CardCampaignTests.post(try item.sealed(for: campaign), to: campaign, on: relay) }

            // The tally names every card by the name on it; hostile text is shown escaped.
            let tally = try #require(try await rosa.json("cards", "tally", id) as? [String: Any])
            let signers = try #require(tally["signers"] as? [[String: Any]], "\(tally)")
            #expect(Set(signers.compactMap { $0["name"] as? String }) == Set(["Ana Silva", "Tomasz Nowak"] + Self.hostile), "\(signers)")
            #expect(signers.allSatisfy { $0["did"] == nil })
            let rejectedItems = try #require(tally["rejected_items"] as? [[String: Any]])
            #expect(rejectedItems.map { $0["name"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") } == ["<iframe src=//evil>", "Ana Silva"], "\(rejectedItems)")
            let withDIDs = try #require(try await rosa.json("cards", "tally", id, "--did") as? [String: Any])
            #expect((withDIDs["signers"] as? [[String: Any]])?.allSatisfy { ($0["did"] as? String)?.hasPrefix("did:key:z6Mk") == true } == true)
            let text = try await rosa.succeed("cards", "tally", id)
            #expect(text.stdout.contains("  Ben<U+202E>Okafor, signed ") && text.stdout.contains("  Tomasz Nowak, signed "), "\(text)")
            #expect(text.stdout.contains("card of Ana Silva: revoked by its signer") && !text.stdout.contains("\u{202E}"), "\(text)")
            #expect(text.stdout.contains("  30% for an election petition: reached (2 cards)"), "\(text)")

            // The report against a unit list with departments and shifts.
            let unit = directory.file("unit.csv"), html = directory.file("report.html"), csv = directory.file("not-signed.csv")
            try """
                Name,Email,Department,Shift
                Tomasz Nowak,,Receiving,Night
                Ana Silva,,Receiving,Day
                Lena Berg,,Shipping,Day
                "Dev <b>Rao</b> & 'Co'",,Shipping,Night
                Omar Diallo,,Shipping,Night

                """.write(toFile: unit, atomically: true, encoding: .utf8)
            let run = try await rosa.run(["cards", "report", id, "--unit-list", unit, "--html", html, "--csv", csv, "--json"])
            let report = try #require(run.json as? [String: Any], "\(run)")
            #expect(run.status == 0 && run.stderr.contains("It holds personal data") && run.stderr.contains("readable by you only"), "\(run)")
            #expect(report["counted"] as? Int == 3 && report["unit_size"] as? Int == 5 && report["valid"] as? Int == 6, "\(report)")
            let petition = try #require(report["petition"] as? [String: Any]), majority = try #require(report["majority"] as? [String: Any])
            #expect(petition["cards"] as? Int == 2 && petition["reached"] as? Bool == true, "\(petition)")
            #expect(majority["cards"] as? Int == 3 && majority["reached"] as? Bool == true && majority["more"] as? Int == 0, "\(majority)")
            let notSigned = try #require(report["not_signed"] as? [[String: Any]])
            #expect(notSigned.map { $0["name"] as? String } == ["Lena Berg", "Omar Diallo"], "\(notSigned)")
            // By day, matched to the list: 400 days ago the stale card (on no list) counts nothing; three days ago
            // Ana's first card and Dev's; two days ago Ana's is withdrawn; a day ago she signs again; today Tomasz.
            let progress = try #require(report["progress"] as? [[String: Any]])
            let byDate = Dictionary(progress.map { ($0["date"] as? String ?? "", $0["valid"] as? Int ?? -1) }, uniquingKeysWith: { $1 })
            func daysAgo(_ days: UInt64) -> String { CardFields.utcDate(now - days * Self.day) }
            #expect(progress.first?["date"] as? String == daysAgo(400) && byDate[daysAgo(400)] == 0 && byDate[daysAgo(4)] == 0, "\(progress.prefix(2))")
            #expect([3, 2, 1, 0].map { byDate[daysAgo($0)] } == [2, 1, 2, 3] && progress.last?["valid"] as? Int == 3, "\(progress.suffix(5))")
            for path in [html, csv] {
                let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
                #expect(mode == 0o600, "\(path) has mode \(String(mode, radix: 8))")
            }
            let csvText = try String(contentsOfFile: csv, encoding: .utf8)
            #expect(csvText == "\"name\",\"contact\",\"department\",\"shift\"\r\n\"Lena Berg\",\"\",\"Shipping\",\"Day\"\r\n"
                    + "\"Omar Diallo\",\"\",\"Shipping\",\"Night\"\r\n", "\(csvText)")
            let summary = try await rosa.succeed("cards", "report", id, "--unit-list", unit)
            #expect(summary.stdout.contains("  Shipping:\n    Lena Berg (Day)\n    Omar Diallo (Night)"), "\(summary)")
            let noList = try await rosa.run("cards", "report", id, "--csv", csv)
            #expect(noList.status != 0 && noList.stderr.contains("give --unit-list FILE too"), "\(noList)")

            try await Self.checkInBrowser(html, against: report, name: "report-hostile")
        }
    }

    /// Opens `html` in headless Chromium (scripts/report-browser.py) and checks that what the page
    /// shows is what `report` (its `--json`) says; keeps a screenshot and the PDF print under `artifacts`.
    static func checkInBrowser(_ html: String, against report: [String: Any], name: String) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "chromium is not installed (scripts/test installs it)")
            print("skipped: chromium is not installed, so the report was not opened in a browser (scripts/test installs it)")
            return
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/report-browser.py").path
        let pdf = "\(artifacts)/\(name).pdf", png = "\(artifacts)/\(name).png"
        let browser = try await ChildProcess.run("/usr/bin/env", ["python3", script, html, "--pdf", pdf, "--screenshot", png],
                                                 environment: ProcessInfo.processInfo.environment, within: .seconds(120))
        let seen = try #require(browser.json as? [String: Any], "\(browser)")

        // The figures read from the page are the JSON's.
        let figures = Dictionary((seen["figures"] as? [[String: Any]] ?? []).compactMap { figure -> (String, String)? in
            guard figure["section"] as? String == "headline", let name = figure["name"] as? String, let text = figure["text"] as? String
            else { return nil }
            return (name, text)
        }, uniquingKeysWith: { first, _ in first })
        let petition = try #require(report["petition"] as? [String: Any]), majority = try #require(report["majority"] as? [String: Any])
        #expect(figures["counted"] == "\(report["counted"] as? Int ?? -1)" && figures["unit_size"] == "\(report["unit_size"] as? Int ?? -1)",
                "\(figures)")
        #expect(figures["share_percent"] == String(format: "%.1f", (report["share"] as? Double ?? -1) * 100), "\(figures)")
        #expect(figures["petition_cards"] == "\(petition["cards"] as? Int ?? -1)" && figures["majority_cards"] == "\(majority["cards"] as? Int ?? -1)")
        for (key, threshold) in [("petition", petition), ("majority", majority)] where threshold["reached"] as? Bool == false {
            #expect(figures["\(key)_more"] == "\(threshold["more"] as? Int ?? -1)", "\(figures)")
        }
        if let notSigned = report["not_signed"] as? [[String: Any]] {
            #expect(seen["not_signed_names"] as? [String] == notSigned.compactMap { $0["name"] as? String })
        }
        let signers = (report["signers"] as? [[String: Any]] ?? []) + (report["unmatched"] as? [[String: Any]] ?? [])
        #expect(Set(seen["signer_names"] as? [String] ?? []) == Set(signers.compactMap { ($0["name"] as? String).map(Self.shown) }), "\(seen)")

        // The chart: one point per day with the JSON's date and count, joined by the line; each
        // point sits above a threshold's line exactly when its count passes it.
        let progress = report["progress"] as? [[String: Any]] ?? []
        let points = seen["points"] as? [[String: Any]] ?? []
        #expect(points.map { $0["date"] as? String } == progress.map { $0["date"] as? String })
        #expect(points.map { $0["valid"] as? Int } == progress.map { $0["valid"] as? Int })
        #expect((seen["polyline"] as? [[Double]])?.count == progress.count)
        let lines = seen["thresholds"] as? [[String: Any]] ?? []
        #expect(lines.map { $0["key"] as? String } == ["petition", "majority"])
        #expect(lines.map { $0["cards"] as? Int } == [petition["cards"] as? Int, majority["cards"] as? Int])
        for line in lines {
            let level = line["y1"] as? Double ?? .nan, cards = line["cards"] as? Int ?? -1
            for point in points {
                let height = point["cy"] as? Double ?? .nan, valid = point["valid"] as? Int ?? -1
                #expect((height < level) == (valid > cards) && (abs(height - level) < 0.11) == (valid == cards), "\(point) against \(line)")
            }
        }

        // Nothing left the page, nothing ran, and the hostile names are text.
        #expect(seen["requests"] as? [String] == [seen["url"] as? String ?? "?"], "\(seen["requests"] ?? "")")
        #expect((seen["dialogs"] as? [Any])?.isEmpty == true && (seen["attributes_on"] as? [Any])?.isEmpty == true, "\(seen)")
        let elements = seen["elements"] as? [String: Int] ?? [:]
        #expect(["img", "script", "iframe", "object", "embed", "link", "form", "a", "base"].allSatisfy { elements[$0] == 0 }, "\(elements)")
        #expect(((seen["console"] as? [String]) ?? []).isEmpty, "\(seen["console"] ?? "")")
        // It prints: a PDF, and a screenshot kept as an artifact.
        let printed = try Data(contentsOf: URL(fileURLWithPath: pdf))
        #expect(printed.starts(with: Data("%PDF".utf8)) && printed.count > 5_000, "\(printed.count) bytes")
        let shot = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(shot.starts(with: [0x89, 0x50, 0x4E, 0x47]) && shot.count > 10_000, "\(shot.count) bytes")
        print("report screenshot: \(png); printed: \(pdf)")
    }

    /// A name as the page shows it: hidden characters as `<U+XXXX>`.
    static func shown(_ name: String) -> String {
        name.unicodeScalars.map { $0 == "\u{202E}" ? "<U+202E>" : String($0) }.joined()
    }
}
