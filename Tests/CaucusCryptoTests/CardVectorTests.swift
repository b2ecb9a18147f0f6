@testable import CaucusCrypto
import Foundation
import Testing

/// `vectors/cards.json` (Protocol.md §10): a campaign, two cards, a revocation, a receipt, a
/// revocation receipt, a tally statement, the Merkle tree with every audit path, a proof that a
/// card counts and one that a card does not, and a small evidence bundle, all from fixed seeds and
/// times (Ed25519 signatures are deterministic). This test rebuilds them with the reference code and
/// requires the file to match; `scripts/regen-vectors` rewrites it (CAUCUS_REGEN_VECTORS=1).
/// `scripts/check-card-vectors.py` checks the same file from Protocol.md alone, with PyNaCl.
@Suite("Cards: the test vectors in vectors/cards.json match the code, and the independent Python checker accepts them")
struct CardVectorTests {
    static let file = EvidenceBundleTests.repository.appendingPathComponent("vectors/cards.json")

    private static func key(_ byte: UInt8) -> Ed25519.PrivateKey {
        try! Ed25519.PrivateKey(seed: SecureBytes(copying: [UInt8](repeating: byte, count: 32)))
    }

    private static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// The vectors as a JSON object, built by the reference code.
    static func vectors() throws -> [String: Any] {
        let organizer = key(0x01), cardKey = key(0x02), amira = key(0x03), tomasz = key(0x04), outsider = key(0x05)
        let created: UInt64 = 1_780_000_000_000
        let unsigned = Campaign(
            id: Array(0x10..<0x20), union: "Warehouse Workers United", employer: "Acme Logistics",
            unitDescription: "All warehouse associates at site 5", unitSize: 4,
            language: "I authorize Warehouse Workers United to represent me.", cardKey: cardKey.publicKey,
            organizer: organizer.publicKey, createdAt: created, signature: Ed25519.Signature(unchecked: []))
        let campaign = Campaign(
            id: unsigned.id, union: unsigned.union, employer: unsigned.employer, unitDescription: unsigned.unitDescription,
            unitSize: unsigned.unitSize, language: unsigned.language, cardKey: unsigned.cardKey, organizer: unsigned.organizer,
            createdAt: created, signature: organizer.signature(for: unsigned.statement))
        let signed: UInt64 = created + 86_400_000
        func fields(_ name: String, _ contact: String) -> CardFields {
            CardFields(name: name, contact: contact, phone: "+1 555 0100", employer: campaign.employer, language: campaign.language,
                       date: CardFields.utcDate(signed))
        }
        let cards = [try Card.sign(fields("Amira Haddad", "amira@example.org"), for: campaign, by: amira, at: signed),
                     try Card.sign(fields("Tomasz Nowak", "tomasz@example.org"), for: campaign, by: tomasz, at: signed + 1)]
        let withdrawn = try Card.sign(fields("Lee Park", "lee@example.org"), for: campaign, by: outsider, at: signed + 2)
        let revocation = CardRevocation.sign(revoking: withdrawn, by: outsider, at: signed + 3_600_000)
        let tallied = signed + 7_200_000
        let receipt = CardReceipt.sign(for: cards[0], cardKey: cardKey, at: tallied)
        let revocationReceipt = RevocationReceipt.sign(for: revocation, cardKey: cardKey, at: tallied)
        let statement = TallyStatement.sign(campaign: campaign, counted: cards, unitSize: campaign.unitSize, unitList: nil,
                                            at: tallied, cardKey: cardKey)
        let leaves = TallyStatement.leaves(cards)
        let tree = CardMerkleTree(leaves)
        let counted = TallyProof.make(for: cards[0].hash, statement: statement, leaves: leaves, tree: tree)
        let notCounted = TallyProof.make(for: withdrawn.hash, statement: statement, leaves: leaves, tree: tree)
        let tally = CardTally(campaign: campaign, items: cards.map { .success(.card($0)) }, now: tallied)
        let bundle = try JSONSerialization.jsonObject(with: Data(EvidenceBundle(tally, talliedAt: tallied, cardKey: cardKey).json()))

        func record(_ message: CanonicalMessage, _ signature: Ed25519.Signature, encoded: [UInt8], hash: [UInt8]? = nil) -> [String: Any] {
            var out: [String: Any] = ["signed_bytes": hex(message.bytes), "signature": hex(signature.rawRepresentation), "encoded": hex(encoded)]
            if let hash { out["hash"] = hex(hash) }
            return out
        }
        func card(_ card: Card) -> [String: Any] {
            var out = record(Card.statement(campaign: card.campaign, fields: card.fields, signer: card.signer, signedAt: card.signedAt),
                             card.signature, encoded: card.encoded(), hash: card.hash)
            out["fields"] = Dictionary(uniqueKeysWithValues: card.fields.named.map { ($0.0, $0.1) })
            out["signer"] = hex(card.signer.rawRepresentation)
            out["signed_at_ms"] = card.signedAt
            return out
        }
        var campaignRecord = record(campaign.statement, campaign.signature, encoded: campaign.encoded(), hash: campaign.hash)
        campaignRecord["fields"] = ["id": hex(campaign.id), "union": campaign.union, "employer": campaign.employer,
                                    "unit_description": campaign.unitDescription, "unit_size": campaign.unitSize,
                                    "language": campaign.language, "card_key": hex(cardKey.publicKey.rawRepresentation),
                                    "organizer": hex(organizer.publicKey.rawRepresentation), "created_at_ms": created] as [String: Any]
        var revocationRecord = record(CardRevocation.statement(campaign: revocation.campaign, card: revocation.card, signer: revocation.signer,
                                                               revokedAt: revocation.revokedAt), revocation.signature, encoded: revocation.encoded())
        revocationRecord["card"] = hex(withdrawn.hash)
        revocationRecord["revoked_at_ms"] = revocation.revokedAt
        var receiptRecord = record(CardReceipt.statement(campaign: receipt.campaign, card: receipt.card, fields: receipt.fields,
                                                         signer: receipt.signer, receivedAt: receipt.receivedAt), receipt.signature,
                                   encoded: receipt.encoded())
        receiptRecord["received_at_ms"] = receipt.receivedAt
        var revocationReceiptRecord = record(RevocationReceipt.statement(
            campaign: revocationReceipt.campaign, card: revocationReceipt.card, signer: revocationReceipt.signer,
            revokedAt: revocationReceipt.revokedAt, receivedAt: revocationReceipt.receivedAt), revocationReceipt.signature,
            encoded: revocationReceipt.encoded())
        revocationReceiptRecord["received_at_ms"] = revocationReceipt.receivedAt
        var statementRecord = record(TallyStatement.statement(
            campaign: statement.campaign, talliedAt: statement.talliedAt, counted: statement.counted, unitSize: statement.unitSize,
            unitList: statement.unitList, root: statement.root), statement.signature, encoded: statement.encoded(), hash: statement.hash)
        statementRecord["tallied_at_ms"] = statement.talliedAt
        statementRecord["counted"] = statement.counted
        statementRecord["unit_size"] = statement.unitSize
        statementRecord["unit_list_hash"] = hex(statement.unitList)
        statementRecord["merkle_root"] = hex(statement.root)
        return [
            "description": "Protocol.md section 10: every card format from fixed Ed25519 seeds (32 bytes of 0x01 organizer, 0x02 card key, "
                + "0x03 Amira, 0x04 Tomasz, 0x05 Lee). Regenerate with scripts/regen-vectors; checked by swift test and scripts/check-card-vectors.py.",
            "seeds": ["organizer": hex([UInt8](repeating: 1, count: 32)), "card_key": hex([UInt8](repeating: 2, count: 32)),
                      "signers": [1, 2, 3].map { hex([UInt8](repeating: UInt8(2 + $0), count: 32)) }] as [String: Any],
            "campaign": campaignRecord,
            "cards": cards.map(card),
            "withdrawn_card": card(withdrawn),
            "revocation": revocationRecord,
            "receipt": receiptRecord,
            "revocation_receipt": revocationReceiptRecord,
            "tally_statement": statementRecord,
            "merkle_tree": ["leaves": leaves.map(hex), "root": hex(tree.root),
                            "audit_paths": leaves.indices.map { tree.inclusionProof(index: $0).map(hex) }] as [String: Any],
            "tally_proofs": [["card": hex(cards[0].hash), "encoded": hex(counted.encoded()), "finding": "counted"],
                             ["card": hex(withdrawn.hash), "encoded": hex(notCounted.encoded()), "finding": "not counted"]],
            "evidence_bundle": bundle,
        ]
    }

    static func text() throws -> String {
        let data = try JSONSerialization.data(withJSONObject: try vectors(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    @Test("The file holds exactly what the code makes (scripts/regen-vectors rewrites it)")
    func fileMatchesCode() throws {
        let made = try Self.text()
        if ProcessInfo.processInfo.environment["CAUCUS_REGEN_VECTORS"] == "1" {
            try made.write(to: Self.file, atomically: true, encoding: .utf8)
        }
        let stored = try String(contentsOf: Self.file, encoding: .utf8)
        #expect(stored == made, "vectors/cards.json differs from what the code makes: run scripts/regen-vectors and review the diff")
    }

    @Test("Every encoding in the file parses and verifies with the code")
    func fileParses() throws {
        let vectors = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.file)) as? [String: Any])
        func bytes(_ object: Any?, _ key: String) throws -> [UInt8] {
            let text = try #require((object as? [String: Any])?[key] as? String)
            return try #require(Hex.decode(text))
        }
        let campaign = try Campaign(encoded: try bytes(vectors["campaign"], "encoded"))
        #expect(campaign.hasValidSignature && Hex.encode(campaign.hash) == (vectors["campaign"] as? [String: Any])?["hash"] as? String)
        for record in try #require(vectors["cards"] as? [Any]) {
            guard case .card(let card) = try CardItem(encoded: try bytes(record, "encoded")) else { Issue.record("not a card"); continue }
            #expect(card.hasValidSignature)
        }
        let statement = try TallyStatement(encoded: try bytes(vectors["tally_statement"], "encoded"))
        #expect(statement.isSigned(for: campaign))
        for proof in try #require(vectors["tally_proofs"] as? [[String: Any]]) {
            let parsed = try TallyProof(encoded: try bytes(proof, "encoded"))
            let finding: TallyProof.Finding? = proof["finding"] as? String == "counted" ? .counted : .notCounted
            #expect(parsed.finding(for: campaign) == finding)
        }
        let bundle = try JSONSerialization.data(withJSONObject: try #require(vectors["evidence_bundle"]))
        #expect(try EvidenceBundle(json: Array(bundle)).verify().holds)
    }

    @Test("scripts/check-card-vectors.py, written from Protocol.md with PyNaCl, accepts the file")
    func pythonAccepts() async throws {
        let outcome = try await VectorScript.run("check-card-vectors.py", on: Self.file)
        #expect(outcome.status == 0 && outcome.stdout.contains("all card vectors check"), "\(outcome)")
    }
}
