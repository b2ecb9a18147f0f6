@testable import CaucusCrypto
import Foundation
import Testing

/// The tally statement (Protocol.md §10.9) and the strict reading of evidence bundles (§10.5),
/// each case checked by Caucus and by scripts/verify-evidence.py, which must agree.
@Suite("Cards: the tally statement commits to the counted cards; bundles are read strictly by both verifiers")
struct TallyStatementTests {
    // MARK: The Merkle tree

    /// RFC 9162 §2.1.1 written out as the RFC states it (recursive split), to check the
    /// level-by-level construction against.
    private static func rfcRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return CardMerkleTree.hash()
        case 1: return CardMerkleTree.leafHash(leaves[leaves.startIndex])
        default:
            var k = 1
            while k * 2 < leaves.count { k *= 2 }
            let middle = leaves.startIndex + k
            return CardMerkleTree.nodeHash(rfcRoot(leaves[..<middle]), rfcRoot(leaves[middle...]))
        }
    }

    @Test("Roots follow RFC 9162's definition and every leaf's audit path proves it, in trees of 0 to 33 leaves")
    func treeAndProofs() {
        for size in 0...33 {
            let leaves = (0..<size).map { _ in Random.bytes(32) }
            let tree = CardMerkleTree(leaves)
            #expect(tree.root == Self.rfcRoot(leaves[...]), "root of \(size) leaves")
            for index in 0..<size {
                let proof = tree.inclusionProof(index: index)
                #expect(CardMerkleTree.verify(inclusion: proof, of: leaves[index], at: UInt64(index), size: UInt64(size), root: tree.root))
                // The same proof for another leaf, at another position, or altered: refused. (The size
                // is the statement's signed `counted`; a proof may hold for several sizes.)
                #expect(!CardMerkleTree.verify(inclusion: proof, of: Random.bytes(32), at: UInt64(index), size: UInt64(size), root: tree.root))
                if size > 1 {
                    let other = UInt64((index + 1) % size)
                    #expect(!CardMerkleTree.verify(inclusion: proof, of: leaves[index], at: other, size: UInt64(size), root: tree.root))
                    var altered = proof
                    altered[0][0] ^= 1
                    #expect(!CardMerkleTree.verify(inclusion: altered, of: leaves[index], at: UInt64(index), size: UInt64(size), root: tree.root))
                }
            }
        }
    }

    @Test("A statement round-trips its encoding, and verifies only for its campaign and unchanged")
    func statementSignature() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey)
        let cards = try (0..<3).map { try Card.sign(CardTests.fields("W \($0)"), for: campaign, by: Ed25519.PrivateKey(), at: CardTests.now) }
        let statement = TallyStatement.sign(campaign: campaign, counted: cards, unitSize: 100, unitList: nil, at: CardTests.now, cardKey: cardKey)
        #expect(statement.isSigned(for: campaign) && statement.counted == 3 && statement.unitList == TallyStatement.noUnitList)
        #expect(try TallyStatement(encoded: statement.encoded()) == statement)
        let other = try CardTests.campaign(cardKey: cardKey)
        #expect(!statement.isSigned(for: other))
        let halved = TallyStatement(campaign: statement.campaign, talliedAt: statement.talliedAt, counted: statement.counted,
                                    unitSize: 50, unitList: statement.unitList, root: statement.root, signature: statement.signature)
        #expect(!halved.isSigned(for: campaign))
        var truncated = statement.encoded()
        truncated.removeLast()
        #expect(throws: CardError.self) { try TallyStatement(encoded: truncated) }
    }

    // MARK: Proofs for signers

    @Test("A signer's proof shows their card counted, or not counted, and nothing else; forged proofs show nothing")
    func proofs() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey)
        for size in 0...9 {
            let cards = try (0..<size).map { try Card.sign(CardTests.fields("W \($0)"), for: campaign, by: Ed25519.PrivateKey(), at: CardTests.now) }
            let statement = TallyStatement.sign(campaign: campaign, counted: cards, unitSize: 100, unitList: nil, at: CardTests.now, cardKey: cardKey)
            let leaves = TallyStatement.leaves(cards)
            let tree = CardMerkleTree(leaves)
            for leaf in leaves {
                let proof = TallyProof.make(for: leaf, statement: statement, leaves: leaves, tree: tree)
                #expect(proof.finding(for: campaign) == .counted)
                #expect(try TallyProof(encoded: proof.encoded()) == proof)
                // Claiming a counted card is absent: its neighbours are not next to each other.
                let others = leaves.filter { $0 != leaf }
                let forged = TallyProof.make(for: leaf, statement: statement, leaves: others, tree: CardMerkleTree(others))
                #expect(forged.finding(for: campaign) == nil, "size \(size): a counted card shown absent")
            }
            for _ in 0..<5 {
                let outsider = Random.bytes(32)
                let proof = TallyProof.make(for: outsider, statement: statement, leaves: leaves, tree: tree)
                #expect(proof.finding(for: campaign) == .notCounted, "size \(size)")
                #expect(try TallyProof(encoded: proof.encoded()) == proof)
                // Claiming an uncounted card is counted, with a real leaf's path.
                if !leaves.isEmpty {
                    let claimed = TallyProof(statement: statement, card: outsider, evidence: .included(index: 0, path: tree.inclusionProof(index: 0)))
                    #expect(claimed.finding(for: campaign) == nil)
                }
            }
            // The same proof under a statement signed by another key, or for another campaign: nothing.
            let stranger = TallyStatement.sign(campaign: campaign, counted: cards, unitSize: 100, unitList: nil, at: CardTests.now,
                                               cardKey: Ed25519.PrivateKey())
            if let leaf = leaves.first {
                #expect(TallyProof.make(for: leaf, statement: stranger, leaves: leaves, tree: tree).finding(for: campaign) == nil)
            }
        }
        var truncated = TallyProof.make(for: Random.bytes(32), statement: TallyStatement.sign(
            campaign: campaign, counted: [], unitSize: 1, unitList: nil, at: CardTests.now, cardKey: cardKey), leaves: [], tree: CardMerkleTree([])).encoded()
        truncated.removeLast()
        #expect(throws: CardError.self) { try TallyProof(encoded: truncated) }
    }

    // MARK: Tampering, found by both verifiers

    /// Both verifiers on `bundle`: Caucus's statement problems and the Python script's output.
    private func bothVerify(_ bundle: EvidenceBundle) async throws -> (problems: [String], python: (Int32, String)) {
        let problems = try EvidenceBundle(json: bundle.json()).verify().statementProblems
        return (problems, try await EvidenceBundleTests.python(bundle))
    }

    @Test("An intact bundle's statement holds in both")
    func intact() async throws {
        let bundle = try EvidenceBundleTests.bundle(cards: 6)
        let (problems, (status, output)) = try await bothVerify(bundle)
        #expect(problems.isEmpty)
        #expect(status == 0 && output.contains("tally statement: signed with the card key; it covers exactly these 6 cards"), "\(output)")
    }

    @Test("Removing a card, adding a genuine one, swapping two or changing the unit size fails in both, naming what differs")
    func tampering() async throws {
        let original = try EvidenceBundleTests.bundle(cards: 6)
        let extra = try EvidenceBundleTests.bundle(cards: 1)

        var removed = original
        removed.cards.remove(at: 2)
        var added = original
        added.cards.append(extra.cards[0])
        var swapped = original
        swapped.cards.swapAt(1, 2)
        var resized = original
        resized.statement.unitSize /= 2
        var duplicated = original
        duplicated.cards.insert(original.cards[3], at: 3)

        let cases: [(String, EvidenceBundle, [String])] = [
            ("removed", removed, ["statement.counted", "statement.merkle_root"]),
            ("added", added, ["statement.counted", "statement.merkle_root"]),
            ("swapped", swapped, ["cards[2]: out of order", "statement.merkle_root"]),
            ("unit size halved", resized, ["statement: the card key's signature does not verify"]),
            ("a card twice", duplicated, ["statement.counted", "cards[4]: the same card as cards[3]", "statement.merkle_root"]),
        ]
        for (name, bundle, expected) in cases {
            let (problems, (status, output)) = try await bothVerify(bundle)
            #expect(status == 1, "\(name): \(output)")
            for prefix in expected {
                #expect(problems.contains { $0.hasPrefix(prefix) }, "\(name): Caucus did not say \(prefix): \(problems)")
                #expect(output.contains("  \(prefix)"), "\(name): Python did not say \(prefix): \(output)")
            }
            #expect(!output.contains("tally statement: signed"), "\(name): \(output)")
        }
    }

    // MARK: Strict reading, the same in both

    /// The JSON of a small real bundle with `edit` applied to its text.
    private func edited(_ edit: (String) -> String) throws -> [UInt8] {
        let text = String(decoding: try EvidenceBundleTests.bundle(cards: 2).json(), as: UTF8.self)
        let changed = edit(text)
        #expect(changed != text, "the edit changed nothing")
        return Array(changed.utf8)
    }

    /// Replaces the first `"key" : value` of `key` with `replacement`.
    private func replacing(_ key: String, in text: String, with replacement: String) -> String {
        guard let range = text.range(of: "\"\(key)\" : [^,\\n}]*", options: .regularExpression) else { return text }
        return text.replacingCharacters(in: range, with: replacement)
    }

    @Test("Repeated names, fractions, exponents, signs, upper-case or short hex, unknown fields, missing fields and trailing data: both refuse, naming the same field")
    func strictReading() async throws {
        let cases: [(String, [UInt8], String)] = [
            ("a name twice", try edited { $0.replacingOccurrences(of: "\"name\" : ", with: "\"name\" : \"Someone Else\", \"name\" : ") },
             "cards[0].name"),
            ("an integer with a fraction", try edited { replacing("signed_at_ms", in: $0, with: "\"signed_at_ms\" : 1796522175572.0") },
             "cards[0].signed_at_ms"),
            ("an integer with an exponent", try edited { replacing("counted", in: $0, with: "\"counted\" : 2e0") }, "statement.counted"),
            ("a negative integer", try edited { replacing("created_at_ms", in: $0, with: "\"created_at_ms\" : -1") },
             "campaign.created_at_ms"),
            ("an integer as a string", try edited { replacing("unit_size", in: $0, with: "\"unit_size\" : \"20\"") }, "campaign.unit_size"),
            ("upper-case hex", try edited { text in
                let hash = String(text.range(of: "\"merkle_root\" : \"[0-9a-f]+\"", options: .regularExpression).map { text[$0] } ?? "")
                return text.replacingOccurrences(of: hash, with: hash.uppercased().replacingOccurrences(of: "MERKLE_ROOT", with: "merkle_root"))
            }, "statement.merkle_root"),
            ("short hex", try edited { replacing("hash", in: $0, with: "\"hash\" : \"abcd\"") }, "campaign.hash"),
            ("an unknown field", try edited { $0.replacingOccurrences(of: "\"counted\" :", with: "\"verified_by\" : \"the board\", \"counted\" :") },
             "statement.verified_by"),
            ("a missing field", try edited { $0.replacingOccurrences(of: "\"phone\" :", with: "\"telephone\" :") }, "cards[0].phone"),
            ("trailing data", try edited { $0 + "\n{}" }, "the document"),
            ("a lone surrogate", try edited { replacing("union", in: $0, with: "\"union\" : \"Local \\ud800\"") }, "campaign.union"),
        ]
        for (name, json, path) in cases {
            do {
                _ = try EvidenceBundle(json: json)
                Issue.record("\(name): Caucus read the bundle")
            } catch {
                #expect("\(error)".contains("\(path):"), "\(name): Caucus said \(error)")
            }
            let (status, output) = try await EvidenceBundleTests.python(json)
            #expect(status == 1 && output.hasPrefix("malformed: \(path):"), "\(name): Python said \(output)")
        }
    }
}
