@testable import CaucusCrypto
import CaucusLock
import Foundation
import Testing

@Suite("Cards: the evidence bundle, checked by Caucus and by an independent PyNaCl script")
struct EvidenceBundleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func bundle(cards count: Int, unitSize: UInt64 = 20) throws -> EvidenceBundle {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey, unitSize: unitSize)
        let items = try (0..<count).map { index in
            Result<CardItem, CardError>.success(.card(try Card.sign(CardTests.fields("Worker \(index)"), for: campaign,
                                                                   by: Ed25519.PrivateKey(), at: CardTests.now - UInt64(index))))
        }
        return EvidenceBundle(CardTally(campaign: campaign, items: items, now: CardTests.now), talliedAt: CardTests.now, cardKey: cardKey)
    }

    /// Runs scripts/verify-evidence.py on `bundle`: its exit status and output. Waited for off the
    /// cooperative pool, which every test of the process shares.
    static func python(_ bundle: EvidenceBundle) async throws -> (Int32, String) {
        try await python(bundle.json())
    }

    /// Runs scripts/verify-evidence.py on a bundle's bytes as they are.
    static func python(_ json: [UInt8]) async throws -> (Int32, String) {
        try await offCooperativePool { try pythonBlocking(json) }
    }

    private static func pythonBlocking(_ json: [UInt8]) throws -> (Int32, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-evidence-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bundle.json")
        try Data(json).write(to: file)
        let output = directory.appendingPathComponent("out.txt")
        try Data().write(to: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repository.appendingPathComponent("scripts/verify-evidence.py").path, file.path]
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, try String(contentsOf: output, encoding: .utf8))
    }

    /// Found by the card-records fuzz target: `counted_unit_size` is not signed, and near 2^64 it
    /// made the tally's 30 % check overflow and trap; now the bundle is refused as malformed.
    @Test func aBundleCountingAgainstAnAbsurdUnitSizeIsMalformed() async throws {
        var bundle = try Self.bundle(cards: 2)
        for size in [UInt64.max, UInt64.max / 3 + 1, 0] {
            bundle.statement.unitSize = size
            #expect(throws: CardError.malformed("a unit size is out of range (1 to 1000000000)")) {
                try EvidenceBundle(json: bundle.json()).verify()
            }
        }
    }

    @Test func aBundleVerifiesInCaucusAndInPython() async throws {
        let bundle = try Self.bundle(cards: 7)
        let parsed = try EvidenceBundle(json: bundle.json())
        #expect(parsed == bundle)
        let verification = try parsed.verify()
        #expect(verification.validCards == 7 && verification.failures.isEmpty)
        #expect(verification.reachesPetition && !verification.reachesMajority)

        let (status, output) = try await Self.python(bundle)
        #expect(!output.contains("No module named"), "PyNaCl is missing: scripts/test installs it")
        #expect(status == 0, "\(output)")
        #expect(output.contains("7 of 7 cards verify: 35.0% of the unit of 20 (30% for a petition: yes; majority: no)"))
    }

    @Test func oneFlippedBitIsFoundByBoth() async throws {
        var bundle = try Self.bundle(cards: 5)
        var signature = try #require(Hex.decode(bundle.cards[2].signature))
        signature[10] ^= 0x04
        bundle.cards[2].signature = Hex.encode(signature)
        let verification = try bundle.verify()
        #expect(verification.validCards == 4)
        #expect(verification.failures.map(\.index) == [2])
        let (status, output) = try await Self.python(bundle)
        #expect(status == 1)
        #expect(output.contains("card 2 (") && output.contains("4 of 5 cards verify"))

        // A changed field is caught the same way.
        var renamed = try Self.bundle(cards: 3)
        renamed.cards[0].name = "Someone Else"
        #expect(try renamed.verify().failures.map(\.index) == [0])
        #expect(try await Self.python(renamed).0 == 1)
    }

    @Test func aUnitListSizeIsCountedWithoutBreakingTheCampaignSignature() async throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey, unitSize: 100)
        let items = try (0..<4).map { index in
            Result<CardItem, CardError>.success(.card(try Card.sign(CardTests.fields("W \(index)"), for: campaign,
                                                                   by: Ed25519.PrivateKey(), at: CardTests.now)))
        }
        let bundle = EvidenceBundle(CardTally(campaign: campaign, items: items, now: CardTests.now, unitSize: 8), talliedAt: CardTests.now,
                                    cardKey: cardKey)
        #expect(bundle.campaign.unitSize == 100 && bundle.countedUnitSize == 8)
        let verification = try bundle.verify()
        #expect(verification.validCards == 4 && verification.reachesPetition && !verification.reachesMajority)
        let (status, output) = try await Self.python(bundle)
        #expect(status == 0 && output.contains("4 of 4 cards verify: 50.0% of the unit of 8"), "\(output)")
    }

    /// A card dated 2027-02-30, or three days from when it was signed, is refused by both verifiers
    /// even though its signer signed exactly that (Protocol.md §10.2).
    @Test func aCardWithAnImpossibleOrDisagreeingDateFailsInBoth() async throws {
        for date in ["2027-02-30", "2027-01-12"] {
            var bundle = try Self.bundle(cards: 3)
            let signer = Ed25519.PrivateKey()
            let campaignHash = try #require(Hex.decode(bundle.campaign.hash))
            let fields = CardFields(name: "Nadia", contact: "nadia@example.org", phone: "+1 555 0199", employer: bundle.campaign.employer,
                                    language: bundle.campaign.language, date: date)
            let statement = Card.statement(campaign: campaignHash, fields: fields, signer: signer.publicKey, signedAt: CardTests.now)
            let card = Card(campaign: campaignHash, fields: fields, signer: signer.publicKey, signedAt: CardTests.now,
                            signature: signer.signature(for: statement))
            bundle.cards.append(EvidenceBundle.CardRecord(
                name: fields.name, contact: fields.contact, phone: fields.phone, employer: fields.employer, language: fields.language,
                date: date, signer: DID(publicKey: signer.publicKey).description, signedAtMs: CardTests.now,
                signature: Hex.encode(card.signature.rawRepresentation), hash: Hex.encode(card.hash)))
            let verification = try bundle.verify()
            #expect(verification.validCards == 3 && verification.failures.map(\.index) == [3], "\(date): \(verification)")
            // A card the organizers' statement does not cover is noticed on its own account too.
            #expect(verification.statementProblems.contains { $0.hasPrefix("statement.counted:") })
            let (status, output) = try await Self.python(bundle)
            #expect(status == 1 && output.contains("card 3 (") && output.contains("3 of 4 cards verify"), "\(date): \(output)")
        }
    }

    /// A signer field that is not a DID but a terminal escape sequence: both verifiers fail the
    /// card, and the script neither crashes nor writes the escape to the terminal.
    @Test func aSignerThatIsNoDIDFailsItsCardAndIsShownEscaped() async throws {
        var bundle = try Self.bundle(cards: 2)
        bundle.cards[0].signer = "did:key:z\u{1B}[2J\u{202E}"
        #expect(try bundle.verify().failures.map(\.index) == [0])
        let (status, output) = try await Self.python(bundle)
        #expect(status == 1 && output.contains("card 0 (did:key:z\\u001b[2J\\u202e): BAD (the signer is not an Ed25519 did:key)"), "\(output)")
        #expect(!output.contains("\u{1B}") && !output.contains("\u{202E}") && !output.contains("Traceback"), "\(output)")
    }

    @Test func anAlteredCampaignRecordIsRefused() async throws {
        var bundle = try Self.bundle(cards: 2)
        bundle.campaign.language += " Dues are waived."
        #expect(throws: CardError.badSignature) { try bundle.verify() }
        let (status, output) = try await Self.python(bundle)
        #expect(status == 1 && output.contains("campaign record: BAD SIGNATURE"))
        #expect(throws: CardError.self) { try EvidenceBundle(json: Array("{\"format\":\"other\"}".utf8)) }
    }
}
