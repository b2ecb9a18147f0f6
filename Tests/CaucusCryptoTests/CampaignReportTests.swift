@testable import CaucusCrypto
import Foundation
import Testing

/// The organizer's report: the count by day, the unit list's departments and shifts, who has not
/// signed and how many more cards each threshold takes, checked against cases worked out by hand.
@Suite("Cards: the organizer's report")
struct CampaignReportTests {
    static let now = CardTests.now, day = CardTests.day
    /// The tally's own day, as a day number.
    static let today = Int(now / day)

    let cardKey = Ed25519.PrivateKey()
    let campaign: Campaign

    init() throws {
        campaign = try CardTests.campaign(cardKey: cardKey, unitSize: 10)
    }

    func card(_ name: String, by signer: Ed25519.PrivateKey, at time: UInt64, contact: String? = nil) throws -> Card {
        try Card.sign(CardTests.fields(name, contact: contact, date: CardFields.utcDate(time)), for: campaign, by: signer, at: time)
    }

    func tally(_ items: [CardItem], unitSize: UInt64? = nil) -> CardTally {
        CardTally(campaign: campaign, items: items.map { .success($0) }, now: Self.now, unitSize: unitSize)
    }

    static func date(daysAgo: Int) -> String { CardFields.utcDate(UInt64(today - daysAgo) * day) }

    @Test("A card revoked and signed again: out from the day of the revocation, back from the day of the new card")
    func revokedAndSignedAgain() throws {
        let ana = Ed25519.PrivateKey(), ben = Ed25519.PrivateKey(), cleo = Ed25519.PrivateKey()
        let first = try card("Ana Silva", by: ana, at: Self.now - 5 * Self.day)
        let items: [CardItem] = [
            .card(first),
            .card(try card("Ben Okafor", by: ben, at: Self.now - 4 * Self.day)),
            .revocation(CardRevocation.sign(revoking: first, by: ana, at: Self.now - 3 * Self.day)),
            .card(try card("Ana Silva", by: ana, at: Self.now - Self.day)),
            .card(try card("Cleo Park", by: cleo, at: Self.now)),
        ]
        let tally = tally(items)
        let series = tally.progress()
        #expect(series == [(5, 1), (4, 2), (3, 1), (2, 1), (1, 2), (0, 3)].map { CardTally.DayCount(date: Self.date(daysAgo: $0), valid: $1) })
        #expect(series.last?.valid == tally.valid.count)
    }

    @Test("A card going stale inside the window counts until it is 12 months old, and not after")
    func staleInsideTheWindow() throws {
        // Signed 370 days before the tally (at 08:00 UTC, as the tally): at the end of the day 6
        // days before the tally it is 365 days and 16 hours old (it counts), at the end of the
        // next day more than 365 days (it does not).
        let timer = Ed25519.PrivateKey()
        let old = try card("Old Timer", by: timer, at: Self.now - 370 * Self.day)
        let recent = try card("Ana Silva", by: Ed25519.PrivateKey(), at: Self.now - 2 * Self.day)
        let tally = tally([.card(old), .card(recent)])
        #expect(tally.valid == [recent] && tally.rejected.map(\.reason) == [.stale])
        let series = tally.progress()
        #expect(series.count == 371 && series.first?.date == Self.date(daysAgo: 370) && series.last?.date == Self.date(daysAgo: 0))
        let byDaysAgo = Dictionary(uniqueKeysWithValues: series.enumerated().map { (370 - $0.offset, $0.element.valid) })
        #expect(byDaysAgo[370] == 1 && byDaysAgo[100] == 1 && byDaysAgo[6] == 1)
        #expect(byDaysAgo[5] == 0 && byDaysAgo[3] == 0)
        #expect(byDaysAgo[2] == 1 && byDaysAgo[0] == 1)
        // Withdrawn 100 days before the tally: it counted until then. (The tally itself finds no
        // card for that revocation to withdraw: the card is stale now.)
        let withdrawal = CardRevocation.sign(revoking: old, by: timer, at: Self.now - 100 * Self.day)
        let revoked = self.tally([.card(old), .revocation(withdrawal), .card(recent)])
        #expect(revoked.valid == [recent])
        let withdrawn = Dictionary(uniqueKeysWithValues: revoked.progress().enumerated().map { (370 - $0.offset, $0.element.valid) })
        #expect(withdrawn[101] == 1 && withdrawn[100] == 0 && withdrawn[6] == 0 && withdrawn[2] == 1 && withdrawn[0] == 1)
    }

    static let unitCSV = """
        Name,Email,Department,Shift,Badge
        Ana Silva,ana@example.org,Receiving,Night,101
        Ben Okafor,,Receiving,Day,102
        Cleo Park,cleo@example.org,Shipping,Day,103
        Dev Rao,,Shipping,Night,

        """

    @Test("A unit list with departments and shifts: matched as before, by name or contact; the rest kept as text")
    func unitListColumns() throws {
        let list = try UnitList(csv: Self.unitCSV)
        #expect(list.hasDepartments && list.hasShifts && list.employees.count == 4)
        #expect(list.employees[0] == UnitList.Employee(name: "Ana Silva", contact: "ana@example.org", department: "Receiving", shift: "Night",
                                                       other: [UnitList.Cell(column: "Badge", value: "101")]))
        #expect(list.employees[3] == UnitList.Employee(name: "Dev Rao", department: "Shipping", shift: "Night"))
        // Without a header the second column is the contact and the others are kept by position.
        let plain = try UnitList(csv: "Ana Silva,ana@example.org,Receiving\n")
        #expect(plain.employees == [UnitList.Employee(name: "Ana Silva", contact: "ana@example.org",
                                                      other: [UnitList.Cell(column: "column 3", value: "Receiving")])])
        #expect(!plain.hasDepartments && !plain.hasShifts)
        // A header naming the department second: that column is no contact.
        let second = try UnitList(csv: "name,DEPARTMENT\nAna Silva,Receiving\n")
        #expect(second.employees == [UnitList.Employee(name: "Ana Silva", department: "Receiving")])
    }

    @Test("Who has not signed, by department; how many more cards each threshold takes; the count by day matched to the list")
    func reportAgainstAUnitList() throws {
        let list = try UnitList(csv: Self.unitCSV)
        let items: [CardItem] = [
            .card(try card("Ana Silva", by: Ed25519.PrivateKey(), at: Self.now - 2 * Self.day)),
            // Matched by contact (compared as the tally compares): Cleo Park.
            .card(try card("Cleopatra Park", by: Ed25519.PrivateKey(), at: Self.now - Self.day, contact: "CLEO@example.org")),
            .card(try card("Zed Stranger", by: Ed25519.PrivateKey(), at: Self.now - Self.day)),
        ]
        let tally = tally(items, unitSize: 4)
        #expect(tally.progress(unitList: list).map(\.valid) == [1, 2, 2])
        #expect(tally.progress().map(\.valid) == [1, 3, 3])

        let report = CampaignReport(tally, campaignID: "c0ffee00", unitList: list)
        #expect(report.counted == 2 && report.valid == 3 && report.unitSize == 4 && report.share == 0.5)
        #expect(report.petition == CampaignReport.Threshold(cards: 2, reached: true, more: 0))
        #expect(report.majority == CampaignReport.Threshold(cards: 3, reached: false, more: 1))
        #expect(report.signers.map(\.name) == ["Ana Silva", "Cleopatra Park"])
        #expect(report.signers.map(\.department) == ["Receiving", "Shipping"] && report.signers.allSatisfy { $0.did == nil })
        #expect(report.unmatched?.map(\.name) == ["Zed Stranger"])
        #expect(report.notSigned?.map(\.name) == ["Ben Okafor", "Dev Rao"])
        #expect(report.groups == [
            CampaignReport.Group(department: "Receiving", shift: "Day", listed: 1, signed: 0),
            CampaignReport.Group(department: "Receiving", shift: "Night", listed: 1, signed: 1),
            CampaignReport.Group(department: "Shipping", shift: "Day", listed: 1, signed: 1),
            CampaignReport.Group(department: "Shipping", shift: "Night", listed: 1, signed: 0),
        ])
        #expect(report.progress.map(\.valid) == [1, 2, 2])
        #expect(report.notSignedCSV() == """
            "name","contact","department","shift","Badge"\r
            "Ben Okafor","","Receiving","Day","102"\r
            "Dev Rao","","Shipping","Night",""\r

            """)

        // The JSON carries the same, under snake_case keys.
        let json = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        #expect(json["counted"] as? Int == 2 && (json["majority"] as? [String: Any])?["more"] as? Int == 1)
        #expect((json["not_signed"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Ben Okafor", "Dev Rao"])
        #expect((json["groups"] as? [[String: Any]])?.first?["not_signed"] as? Int == 1)
        #expect((json["progress"] as? [[String: Any]])?.last?["valid"] as? Int == 2)
    }

    @Test("Thresholds without a list, rejections by name (a revocation by its signer's card), DIDs only on request")
    func namesAndThresholds() throws {
        let rosa = Ed25519.PrivateKey()
        let card = try card("Rosa Martínez", by: rosa, at: Self.now - Self.day)
        let tally = tally([.card(card), .revocation(CardRevocation.sign(revoking: card, by: rosa, at: Self.now))])
        let report = CampaignReport(tally, campaignID: "c0ffee00", dids: true)
        #expect(report.counted == 0 && report.petition == CampaignReport.Threshold(cards: 3, reached: false, more: 3))
        #expect(report.majority == CampaignReport.Threshold(cards: 6, reached: false, more: 6))
        #expect(report.rejected.map(\.name) == ["Rosa Martínez"] && report.rejected.map(\.kind) == ["card"])
        #expect(report.rejected.first?.did == DID(publicKey: rosa.publicKey).description)
        #expect(report.notSigned == nil && report.groups == nil && report.unmatched == nil)
        // A revocation by someone else is named by the card of whoever signed it, when there is one.
        let other = Ed25519.PrivateKey()
        let theirs = try self.card("Ben Okafor", by: other, at: Self.now - Self.day)
        let forged = self.tally([.card(card), .card(theirs), .revocation(CardRevocation.sign(revoking: card, by: other, at: Self.now))])
        let named = CampaignReport(forged, campaignID: "c0ffee00")
        #expect(named.rejected.map(\.kind) == ["revocation"] && named.rejected.map(\.name) == ["Ben Okafor"] && named.rejected[0].did == nil)
        #expect(named.signers.map(\.name) == ["Ben Okafor", "Rosa Martínez"])
    }
}
