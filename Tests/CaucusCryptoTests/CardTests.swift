@testable import CaucusCrypto
import CaucusLock
import Foundation
import PropertyBased
import Testing

@Suite("Cards: campaigns, signing, sealing and the tally")
struct CardTests {
    static let language = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."
    static let now: UInt64 = 1_800_000_000_000
    static let day: UInt64 = 86_400_000

    static func campaign(organizer: Ed25519.PrivateKey = Ed25519.PrivateKey(), cardKey: Ed25519.PrivateKey, unitSize: UInt64 = 100) throws -> Campaign {
        try Campaign.create(union: "Warehouse Workers Union", employer: "Acme Logistics", unitDescription: "All warehouse associates at DC 5",
                            unitSize: unitSize, language: language, cardKey: cardKey.publicKey, organizer: organizer, createdAt: now - 30 * day)
    }

    static func fields(_ name: String, contact: String? = nil, date: String = "2027-01-15") -> CardFields {
        CardFields(name: name, contact: contact ?? "\(name.lowercased().replacingOccurrences(of: " ", with: "."))@example.org",
                   phone: "+1 555 010 \(name.count)", employer: "Acme Logistics", language: language, date: date)
    }

    @Test func campaignRecordsVerifyAndDetectAlteration() throws {
        let organizer = Ed25519.PrivateKey(), cardKey = Ed25519.PrivateKey()
        let campaign = try Self.campaign(organizer: organizer, cardKey: cardKey)
        #expect(campaign.hasValidSignature)
        let decoded = try Campaign(encoded: campaign.encoded())
        #expect(decoded == campaign && decoded.hasValidSignature && decoded.hash == campaign.hash)

        // The card language changed after signing.
        let altered = Campaign(id: campaign.id, union: campaign.union, employer: campaign.employer,
                               unitDescription: campaign.unitDescription, unitSize: campaign.unitSize,
                               language: campaign.language + " Dues are waived.", cardKey: campaign.cardKey,
                               organizer: campaign.organizer, createdAt: campaign.createdAt, signature: campaign.signature)
        let decodedAltered = try Campaign(encoded: altered.encoded())
        #expect(decodedAltered.language != campaign.language && !decodedAltered.hasValidSignature)

        // Signed by someone who is not the organizer it names.
        let impostor = Ed25519.PrivateKey()
        let forged = Campaign(id: campaign.id, union: campaign.union, employer: campaign.employer, unitDescription: campaign.unitDescription,
                              unitSize: campaign.unitSize, language: campaign.language, cardKey: campaign.cardKey,
                              organizer: organizer.publicKey, createdAt: campaign.createdAt,
                              signature: impostor.signature(for: campaign.statement))
        #expect(!forged.hasValidSignature)
        #expect(throws: CardError.malformed("trailing bytes")) { try Campaign(encoded: campaign.encoded() + [0]) }
        #expect(throws: CardError.malformed("truncated")) { try Campaign(encoded: Array(campaign.encoded().dropLast())) }
    }

    @Test func cardsAreSealedSignedAndOpenOnlyWithTheCardKey() throws {
        let cardKey = Ed25519.PrivateKey(), worker = Ed25519.PrivateKey()
        let campaign = try Self.campaign(cardKey: cardKey)
        let card = try Card.sign(Self.fields("Rosa Martínez"), for: campaign, by: worker, at: Self.now)
        #expect(card.hasValidSignature && card.campaign == campaign.hash && card.signer == worker.publicKey)
        let sealed = try CardItem.card(card).sealed(for: campaign)
        #expect(try CardItem(opening: sealed, with: cardKey) == .card(card))
        #expect(throws: CardError.cannotOpen) { try CardItem(opening: sealed, with: Ed25519.PrivateKey()) }
        var flipped = sealed
        flipped[flipped.count / 2] ^= 1
        #expect(throws: CardError.cannotOpen) { try CardItem(opening: flipped, with: cardKey) }
        // The sealed bytes hold none of the fields in clear.
        for value in ["Rosa", "example.org", "555"] {
            #expect(!sealed.containsSubsequence(Array(value.utf8)))
        }

        let revocation = CardRevocation.sign(revoking: card, by: worker, at: Self.now + Self.day)
        #expect(revocation.hasValidSignature && revocation.card == card.hash)
        #expect(try CardItem(encoded: CardItem.revocation(revocation).encoded()) == .revocation(revocation))
    }

    @Test func fieldsTheBoardMustNotGetAreRefused() throws {
        let campaign = try Self.campaign(cardKey: Ed25519.PrivateKey())
        let worker = Ed25519.PrivateKey()
        let bad: [(CardFields, String)] = [
            (Self.fields("Rosa", contact: "rosa@example.org, SSN 123-45-6789"), "contact"),
            (Self.fields("Rosa", contact: "123 45 6789"), "contact"),
            (Self.fields("Rosa (DOB 1990-04-12)"), "name"),
            (Self.fields("Rosa born 12/04/1990"), "name"),
            (Self.fields("Rosa", contact: "date of birth: April 12"), "contact"),
        ]
        for (fields, field) in bad {
            do {
                _ = try Card.sign(fields, for: campaign, by: worker, at: Self.now)
                Issue.record("signed a card with forbidden content in \(field)")
            } catch let error {
                guard case .forbiddenContent(let named, _) = error else { Issue.record("\(error)"); continue }
                #expect(named == field)
                #expect(!error.description.contains("6789") && !error.description.contains("1990"))
            }
        }
        // Ordinary values pass: a phone number, an email with digits, an accented name.
        _ = try Card.sign(CardFields(name: "Zoë O'Neil-Ramírez", contact: "zoe1987@example.org", phone: "(555) 123-4567",
                                     employer: "Acme Logistics", language: Self.language, date: "2027-01-15"),
                          for: campaign, by: worker, at: Self.now)
        for date in ["15/01/2027", "2027-02-30", "2027-13-01"] {
            #expect(throws: CardError.invalidField("the date must be a calendar date written YYYY-MM-DD"), "\(date)") {
                try Card.sign(Self.fields("Rosa", date: date), for: campaign, by: worker, at: Self.now)
            }
        }
        // The signer's own date in any time zone: the UTC date of signing, or a day either side.
        for date in ["2027-01-14", "2027-01-16"] { _ = try Card.sign(Self.fields("Rosa", date: date), for: campaign, by: worker, at: Self.now) }
        #expect(throws: CardError.invalidField("the date is not the day of signing (2027-01-15 in UTC, give or take a day)")) {
            try Card.sign(Self.fields("Rosa", date: "2027-01-13"), for: campaign, by: worker, at: Self.now)
        }
        #expect(throws: CardError.invalidField("the language differs from the campaign's")) {
            var altered = Self.fields("Rosa")
            altered.language += " (except dues)"
            return try Card.sign(altered, for: campaign, by: worker, at: Self.now)
        }
    }

    /// The byte scan of ASCII text finds what the character scan finds, on text made of the words,
    /// digits and separators the checks look for (CR LF included).
    @Test func asciiScanAgreesWithTheCharacterScan() async {
        let pieces = ["dob", "DoB", "ssn", "SSNs", "born", "birth date", "date of Birth", "social security", "birthdate", "x", "Z", "é",
                      " ", "-", "/", ".", "\r\n", "\r", "\n", "\t", "1", "23", "456", "7890", "12345", "123-45-6789", "123 45 6789"]
        var found = 0
        await propertyCheck(count: 3000, input: Gen.int(in: 0...(pieces.count - 1)).array(of: 0...14)) { picks in
            let text = picks.map { pieces[$0] }.joined()
            for datesAllowed in [false, true] {
                let verdict = CardFields.forbiddenContent(in: text, datesAllowed: datesAllowed)
                #expect(verdict == CardFields.Unicode.forbiddenContent(in: text, datesAllowed: datesAllowed), "\(text.debugDescription)")
                if verdict != nil { found += 1 }
            }
        }
        #expect(found > 1000)
    }

    /// Names and contacts in ASCII are normalized byte by byte as they are character by character.
    /// Names and contacts are compared as Protocol.md §10.4 says, checked against Python written from
    /// that text (unicodedata and str.casefold): same keys, up to canonical equivalence.
    @Test func sameNameRuleAgreesWithPython() async throws {
        let pieces = ["Rosa", "ROSA", "Straße", "STRASSE", "ΣΊΣΥΦΟΣ", "σίσυφος", "İstanbul", "ǅ", "ﬁ", "e\u{301}", "é", "Å", "Å",
                      " ", "\u{A0}", "\u{2003}", "\u{3000}", "\t", "\r\n", "\u{85}", "\u{200B}", "ᏸ", "Ꮀ", "ﬀ", "ŉ", "x"]
        var generator = SystemRandomNumberGenerator()
        var corpus = pieces
        for _ in 0..<300 { corpus.append((0..<Int.random(in: 1...6, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()) }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("casefold-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: input) }
        try JSONSerialization.data(withJSONObject: corpus).write(to: input)
        let script = """
            import json, sys, unicodedata
            WS = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
            def key(text):
                folded = unicodedata.normalize("NFD", text).casefold()
                words, word = [], ""
                for c in folded:
                    if ord(c) in WS:
                        if word: words.append(word)
                        word = ""
                    else:
                        word += c
                if word: words.append(word)
                return unicodedata.normalize("NFC", " ".join(words))
            print(json.dumps([key(t) for t in json.load(open(sys.argv[1], encoding="utf-8"))]))
            """
        // Python is waited for off the cooperative pool, which every test of the process shares.
        let path = input.path
        let data = try await offCooperativePool { () throws -> Data in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String])
        #expect(keys.count == corpus.count)
        for (text, expected) in zip(corpus, keys) {
            #expect(CardTally.normalized(text) == expected, "\(text.debugDescription)")
        }
        #expect(CardTally.normalized("  Straße\u{3000}MÜLLER ") == CardTally.normalized("strasse müller"))
        #expect(CardTally.normalized("ΣΊΣΥΦΟΣ") == CardTally.normalized("σίσυφος"))
    }

    @Test func asciiNormalizingAgreesWithTheCharacterWay() async {
        let pieces = ["Rosa", "MARTÍNEZ", "x", "Z", "@", ".", " ", "  ", "\t", "\r\n", "\r", "\n", "\u{0B}", "\u{0C}", "\u{1F}", "\u{A0}", "9"]
        await propertyCheck(count: 2000, input: Gen.int(in: 0...(pieces.count - 1)).array(of: 0...10)) { picks in
            let text = picks.map { pieces[$0] }.joined()
            #expect(CardTally.normalized(text) == CardTally.normalizedUnicode(text), "\(text.debugDescription)")
        }
    }

    /// Dates are read as bytes exactly as Foundation's Gregorian calendar reads them as characters:
    /// a real calendar date from 1900 on, written YYYY-MM-DD.
    @Test func datesReadAsBytesAsAsCharacters() async {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func asCharacters(_ text: String) -> Bool {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
                  parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), year >= 1900
            else { return false }
            let components = DateComponents(year: year, month: month, day: day)
            guard let date = calendar.date(from: components) else { return false }
            let back = calendar.dateComponents([.year, .month, .day], from: date)
            return back.year == year && back.month == month && back.day == day
        }
        let pieces = ["2027-01-15", "2027-", "-01-", "2027", "1899", "-", "01", "02", "12", "13", "28", "29", "30", "31", "32", "00",
                      "2000", "2100", "2024", "+1", "1", "é", "\u{301}", "\r\n", " ", "x"]
        var valid = 0
        await propertyCheck(count: 3000, input: Gen.int(in: 0...(pieces.count - 1)).array(of: 0...6)) { picks in
            let text = picks.map { pieces[$0] }.joined()
            #expect(CardFields.isDate(text) == asCharacters(text), "\(text.debugDescription)")
            if asCharacters(text) { valid += 1 }
        }
        #expect(valid > 0)
        for (text, real) in [("2026-02-30", false), ("2026-02-28", true), ("2024-02-29", true), ("2100-02-29", false),
                             ("2000-02-29", true), ("2026-04-31", false), ("2026-12-31", true), ("1899-12-31", false)] {
            #expect(CardFields.isDate(text) == real, "\(text)")
        }
    }

    /// The UTC date of a time, and the day count of a date, agree with Foundation's calendar.
    @Test func utcDatesAgreeWithFoundation() async {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        await propertyCheck(count: 2000, input: Gen.int(in: 0...4_102_444_800_000)) { ms in
            let milliseconds = UInt64(ms)
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let expected = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
            #expect(CardFields.utcDate(milliseconds) == expected)
            #expect(CardFields.dayNumber(expected) == Int(milliseconds / 86_400_000))
        }
        #expect(CardFields.utcDate(0) == "1970-01-01" && CardFields.dayNumber("1970-01-01") == 0)
        #expect(CardFields.dayNumber("1900-01-01") == -25_567)
    }

    @Test func tallyCountsOneCardPerSignerAndNamesEveryRejection() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try Self.campaign(cardKey: cardKey, unitSize: 100)
        let other = try Self.campaign(cardKey: cardKey)
        let workers = (0..<50).map { _ in Ed25519.PrivateKey() }
        var items: [Result<CardItem, CardError>] = []
        var cards: [Card] = []
        for (index, worker) in workers.enumerated() {
            let card = try Card.sign(Self.fields("Worker \(index)"), for: campaign, by: worker, at: Self.now - UInt64(index) * 1000)
            cards.append(card)
            items.append(.success(.card(card)))
        }
        // Three revoke.
        for index in 0..<3 { items.append(.success(.revocation(CardRevocation.sign(revoking: cards[index], by: workers[index], at: Self.now)))) }
        // One signs twice: the later card counts, the earlier is superseded.
        items.append(.success(.card(try Card.sign(Self.fields("Worker 10"), for: campaign, by: workers[10], at: Self.now + 5000))))
        // One card tampered with on the relay (does not open), one with a changed field after signing.
        items.append(.failure(.cannotOpen))
        let signed = try Card.sign(Self.fields("Nadia"), for: campaign, by: Ed25519.PrivateKey(), at: Self.now)
        var changed = signed.fields
        changed.name = "Nadia Smith"
        items.append(.success(.card(Card(campaign: signed.campaign, fields: changed, signer: signed.signer,
                                         signedAt: signed.signedAt, signature: signed.signature))))
        // One for another campaign, one stale, one revocation by someone else, one same person under a second DID.
        items.append(.success(.card(try Card.sign(Self.fields("Omar"), for: other, by: Ed25519.PrivateKey(), at: Self.now))))
        items.append(.success(.card(try Card.sign(Self.fields("Pat", date: CardFields.utcDate(Self.now - 400 * Self.day)), for: campaign,
                                                  by: Ed25519.PrivateKey(), at: Self.now - 400 * Self.day))))
        items.append(.success(.revocation(CardRevocation.sign(revoking: cards[20], by: workers[21], at: Self.now))))
        items.append(.success(.card(try Card.sign(Self.fields("worker  5"), for: campaign, by: Ed25519.PrivateKey(), at: Self.now - 100_000))))

        let tally = CardTally(campaign: campaign, items: items, now: Self.now)
        #expect(tally.valid.count == 47)
        #expect(Set(tally.valid.map(\.signer)) == Set(workers[3...].map(\.publicKey)))
        #expect(tally.valid.first { $0.signer == workers[10].publicKey }?.signedAt == Self.now + 5000)
        #expect(abs(tally.share - 0.47) < 1e-9)
        #expect(tally.reachesPetition && !tally.reachesMajority)

        let reasons = tally.rejected.map(\.reason)
        #expect(reasons.filter { $0 == .revoked }.count == 3)
        #expect(reasons.filter { $0 == .superseded }.count == 1)
        #expect(reasons.contains(.unreadable(CardError.cannotOpen.description)))
        #expect(reasons.contains(.badSignature))
        #expect(reasons.contains(.otherCampaign))
        #expect(reasons.contains(.stale))
        #expect(reasons.contains(.revocationBySomeoneElse))
        #expect(reasons.contains(.suspectedSamePerson(DID(publicKey: workers[5].publicKey))))
        #expect(tally.rejected.count == 10)
    }

    /// A revocation withdraws every earlier card of its signer, not only the one it names; a card
    /// signed after it counts. Dates must be calendar dates that agree with `signed_at`, and
    /// nothing may be signed more than a day after the tally's time (Protocol.md §10.3, §10.4).
    @Test func revocationsWithdrawEveryEarlierCardAndDatesMustBeReal() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try Self.campaign(cardKey: cardKey, unitSize: 10)
        let (amira, nadia) = (Ed25519.PrivateKey(), Ed25519.PrivateKey())
        let first = try Card.sign(Self.fields("Amira", date: "2027-01-12"), for: campaign, by: amira, at: Self.now - 3 * Self.day + 1)
        let second = try Card.sign(Self.fields("Amira", date: "2027-01-13"), for: campaign, by: amira, at: Self.now - 2 * Self.day)
        // She revokes her newest card: the older one must not count again.
        let withdrawn = CardTally(campaign: campaign, items: [
            .success(.card(first)), .success(.card(second)),
            .success(.revocation(CardRevocation.sign(revoking: second, by: amira, at: Self.now - Self.day))),
        ], now: Self.now)
        #expect(withdrawn.valid.isEmpty)
        #expect(withdrawn.rejected.map(\.reason) == [.revoked, .revoked])
        // A card signed after the revocation counts.
        let again = try Card.sign(Self.fields("Amira"), for: campaign, by: amira, at: Self.now - 1000)
        let resigned = CardTally(campaign: campaign, items: [
            .success(.card(first)), .success(.card(second)),
            .success(.revocation(CardRevocation.sign(revoking: second, by: amira, at: Self.now - Self.day))), .success(.card(again)),
        ], now: Self.now)
        #expect(resigned.valid.map(\.signedAt) == [again.signedAt])

        // Dates: 2027-02-30 is refused, as is a date three days from the signing; post-dated items
        // (more than a day ahead of the tally) count neither as cards nor as revocations.
        func unchecked(_ fields: CardFields, at time: UInt64) -> Card {
            let statement = Card.statement(campaign: campaign.hash, fields: fields, signer: nadia.publicKey, signedAt: time)
            return Card(campaign: campaign.hash, fields: fields, signer: nadia.publicKey, signedAt: time, signature: nadia.signature(for: statement))
        }
        let future = try Card.sign(Self.fields("Nadia", date: CardFields.utcDate(Self.now + 2 * Self.day)), for: campaign, by: nadia,
                                   at: Self.now + 2 * Self.day)
        let tally = CardTally(campaign: campaign, items: [
            .success(.card(unchecked(Self.fields("Nadia", date: "2027-02-30"), at: Self.now))),
            .success(.card(unchecked(Self.fields("Nadia", date: "2027-01-12"), at: Self.now))),
            .success(.card(future)),
            .success(.card(first)),
            .success(.revocation(CardRevocation.sign(revoking: first, by: amira, at: Self.now + 2 * Self.day))),
        ], now: Self.now)
        #expect(tally.valid.map(\.signer) == [amira.publicKey])
        #expect(tally.rejected.map(\.reason) == [
            .invalidFields(CardError.invalidField("the date must be a calendar date written YYYY-MM-DD").description), .dateDisagrees,
            .signedInFuture, .signedInFuture,
        ])
        // Within a day ahead (another clock), a card counts.
        let ahead = try Card.sign(Self.fields("Nadia", date: "2027-01-16"), for: campaign, by: nadia, at: Self.now + Self.day - 1)
        #expect(CardTally(campaign: campaign, items: [.success(.card(ahead))], now: Self.now).valid.count == 1)
    }

    /// The filing CSV (Protocol.md §10.8): quoted fields, doubled quotes, CR LF, and nothing a
    /// spreadsheet would run as a formula.
    @Test func theFilingCSVCarriesNoFormulas() throws {
        let campaign = try Self.campaign(cardKey: Ed25519.PrivateKey())
        func card(_ name: String, contact: String, phone: String) throws -> Card {
            try Card.sign(CardFields(name: name, contact: contact, phone: phone, employer: "Acme Logistics", language: Self.language,
                                     date: "2027-01-15"), for: campaign, by: Ed25519.PrivateKey(), at: Self.now)
        }
        let text = FilingCSV.text([
            try card("=HYPERLINK(\"http://evil.example\",\"Rosa\")", contact: "@SUM(A1:A9)", phone: "+1 555 0100"),
            try card("-2+3", contact: "\tcmd", phone: "\r555"),
            try card("Rosa \"Red\" Martínez", contact: "rosa@example.org", phone: "555 0101"),
        ])
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.count == 5 && lines[4].isEmpty)
        #expect(lines[0] == "name,contact,phone,employer,language,date_signed")
        #expect(lines[1].hasPrefix("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Rosa\"\")\",\"'@SUM(A1:A9)\",\"'+1 555 0100\",\"Acme Logistics\","))
        #expect(lines[2].hasPrefix("\"'-2+3\",\"'\tcmd\",\"'\r555\","))
        #expect(lines[3].hasPrefix("\"Rosa \"\"Red\"\" Martínez\",\"rosa@example.org\",\"555 0101\","))
        #expect(lines[3].hasSuffix(",\"2027-01-15\""))
        // No field opens with a formula character once the quote is taken off.
        for line in lines.dropFirst().dropLast() {
            for field in line.split(separator: "\",\"") {
                let value = field.drop { $0 == "\"" }
                #expect(!["=", "+", "-", "@", "\t", "\r"].contains(value.unicodeScalars.first.map(Character.init)), "\(line)")
            }
        }
    }

    @Test func thresholdsAreExact() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try Self.campaign(cardKey: cardKey, unitSize: 10)
        func tally(_ count: Int) throws -> CardTally {
            let items = try (0..<count).map { index in
                Result<CardItem, CardError>.success(.card(try Card.sign(Self.fields("W \(index)"), for: campaign, by: Ed25519.PrivateKey(), at: Self.now)))
            }
            return CardTally(campaign: campaign, items: items, now: Self.now)
        }
        #expect(try !tally(2).reachesPetition)
        #expect(try tally(3).reachesPetition)
        #expect(try !tally(5).reachesMajority)
        #expect(try tally(6).reachesMajority)
    }
}

extension Array where Element == UInt8 {
    fileprivate func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}

@Suite("Cards: receipts")
struct CardReceiptTests {
    @Test func aReceiptConfirmsExactlyOneCard() throws {
        let cardKey = Ed25519.PrivateKey(), worker = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey)
        let card = try Card.sign(CardTests.fields("Rosa"), for: campaign, by: worker, at: CardTests.now)
        let receipt = CardReceipt.sign(for: card, cardKey: cardKey, at: CardTests.now + 10)
        let decoded = try CardReceipt(encoded: receipt.encoded())
        #expect(decoded == receipt && decoded.confirms(card, of: campaign))
        // Not another card, not from another key.
        let other = try Card.sign(CardTests.fields("Rosa"), for: campaign, by: worker, at: CardTests.now + 1)
        #expect(!receipt.confirms(other, of: campaign))
        #expect(!CardReceipt.sign(for: card, cardKey: Ed25519.PrivateKey(), at: CardTests.now).confirms(card, of: campaign))
        var bytes = receipt.encoded()
        bytes[70] ^= 1
        #expect(try !CardReceipt(encoded: bytes).confirms(card, of: campaign))
    }
}

/// Found by the card-records fuzz target: a campaign stating a unit size near 2^64 made the tally's
/// 30 % check (`unitSize * 3`) overflow and trap. Such records are refused when decoded.
@Suite("Cards: unit sizes")
struct UnitSizeTests {
    @Test func aCampaignStatingAnAbsurdUnitSizeIsRefused() throws {
        let campaign = try CardTests.campaign(cardKey: Ed25519.PrivateKey())
        var bytes = campaign.encoded()
        let offset = 1 + 16 + 12 + [campaign.union, campaign.employer, campaign.unitDescription].map(\.utf8.count).reduce(0, +)
        #expect(Array(bytes[offset..<(offset + 8)]) == [0, 0, 0, 0, 0, 0, 0, 100])
        for size in [UInt64.max / 3 + 1, Campaign.maximumUnitSize + 1, 0] {
            bytes.replaceSubrange(offset..<(offset + 8), with: withUnsafeBytes(of: size.bigEndian, Array.init))
            #expect(throws: CardError.malformed("unit size \(size) is out of range")) { try Campaign(encoded: bytes) }
        }
        #expect(throws: CardError.invalidField("the unit size must be between 1 and 1000000000")) {
            try CardTests.campaign(cardKey: Ed25519.PrivateKey(), unitSize: Campaign.maximumUnitSize + 1)
        }
    }

    @Test func theThresholdsHoldForAnyUnitSizeATallyIsGiven() throws {
        let campaign = try CardTests.campaign(cardKey: Ed25519.PrivateKey())
        let card = try Card.sign(CardTests.fields("Rosa"), for: campaign, by: Ed25519.PrivateKey(), at: CardTests.now)
        let huge = CardTally(campaign: campaign, items: [.success(.card(card))], now: CardTests.now, unitSize: .max)
        #expect(!huge.reachesPetition && !huge.reachesMajority)
        let one = CardTally(campaign: campaign, items: [.success(.card(card))], now: CardTests.now, unitSize: 1)
        #expect(one.reachesPetition && one.reachesMajority)
    }
}

@Suite("Cards: unit lists")
struct UnitListTests {
    @Test func csvWithQuotesAndHeadersParses() throws {
        let list = try UnitList(csv: "Name,Email\r\n\"O'Neil, Zoë\",zoe@example.org\r\nRosa Martínez,\n\"Said \"\"Sam\"\" Ali\",sam@example.org\n\n")
        #expect(list.employees == [
            .init(name: "O'Neil, Zoë", contact: "zoe@example.org"), .init(name: "Rosa Martínez", contact: nil),
            .init(name: "Said \"Sam\" Ali", contact: "sam@example.org"),
        ])
        #expect(throws: CardError.malformed("unit list: a quote is never closed")) { try UnitList(csv: "\"Rosa,") }
        #expect(throws: CardError.malformed("the unit list has no employees")) { try UnitList(csv: "name,email\n") }
    }

    /// Found by the unit-list fuzz target: read as Characters, a quote or comma followed by a
    /// combining mark merged with it, so the field was not quoted or not split.
    @Test func aQuoteOrCommaBeforeACombiningMarkStillCounts() throws {
        let list = try UnitList(csv: "\"\u{302}Amira\",\"a@example.org\"\nRosa,\u{301}r@example.org\n")
        #expect(list.employees == [
            .init(name: "\u{302}Amira", contact: "a@example.org"), .init(name: "Rosa", contact: "\u{301}r@example.org"),
        ])
    }

    @Test func cardsAreMatchedToTheList() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey, unitSize: 100)
        let names = ["Rosa Martínez", "Tomasz Nowak", "Amira Haddad", "Not Listed"]
        let items = try names.map { name in
            Result<CardItem, CardError>.success(.card(try Card.sign(CardTests.fields(name), for: campaign, by: Ed25519.PrivateKey(), at: CardTests.now)))
        }
        let list = try UnitList(csv: "name,contact\nrosa  martínez,\nT. Nowak,tomasz.nowak@example.org\nAmira Haddad,\nLee Chen,\n")
        let tally = CardTally(campaign: campaign, items: items, now: CardTests.now, unitSize: UInt64(list.employees.count))
        let coverage = list.coverage(of: tally)
        #expect(coverage.matched.map(\.fields.name).sorted() == ["Amira Haddad", "Rosa Martínez", "Tomasz Nowak"])
        #expect(coverage.unmatched.map(\.fields.name) == ["Not Listed"])
        #expect(coverage.missing.map(\.name) == ["Lee Chen"])
        #expect(coverage.unitSize == 4 && coverage.share == 0.75)
    }
}

@Suite("Cards: opening sealed items in parallel")
struct ParallelTallyTests {
    @Test func parallelOpeningAgreesWithOneByOne() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey, unitSize: 60)
        var sealed: [[UInt8]] = []
        var workers: [Ed25519.PrivateKey] = []
        for index in 0..<40 {
            let worker = Ed25519.PrivateKey()
            workers.append(worker)
            let card = try Card.sign(CardTests.fields("Worker \(index)"), for: campaign, by: worker, at: CardTests.now)
            sealed.append(try CardItem.card(card).sealed(for: campaign))
            if index % 10 == 0 { sealed.append(try CardItem.revocation(CardRevocation.sign(revoking: card, by: worker, at: CardTests.now)).sealed(for: campaign)) }
        }
        sealed[7][40] ^= 1
        let one = CardTally(campaign: campaign, items: sealed.map { bytes in Result { () throws(CardError) in try CardItem(opening: bytes, with: cardKey) } },
                            now: CardTests.now)
        for threads in [1, 2, 7] {
            let parallel = CardTally.opening(sealed, with: cardKey, campaign: campaign, now: CardTests.now, threads: threads)
            #expect(parallel.valid == one.valid)
            #expect(parallel.rejected.map(\.reason) == one.rejected.map(\.reason))
        }
        #expect(one.valid.count == 35)
    }
}
