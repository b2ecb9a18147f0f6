import CaucusClientStore
import CaucusCrypto
import Foundation

/// Tally proofs (Protocol.md §10.10): with each `cards receipts` run the organizers send every
/// signer whose card they read their signed statement of the tally and a Merkle proof that the
/// card is counted, or that it is not; the signer's client checks both against the campaign's card
/// key, keeps the newest, and says loudly when a statement leaves out a card that should count.
extension Account {
    /// Where one of this user's cards stands in the newest tally proof received for it.
    public struct CardStanding: Sendable {
        public let statement: TallyStatement
        public let finding: TallyProof.Finding
    }

    /// One proof the organizers owe a signer.
    struct DueProof {
        let signer: Ed25519.PublicKey
        let proof: TallyProof
    }

    /// The proofs `tally` calls for: each counted card included, each other card the tally read
    /// under a valid signature (withdrawn, superseded, rejected) and each withdrawn card shown absent, under a statement
    /// signed now, for every card whose signer was not yet sent a proof under this statement's root.
    func dueTallyProofs(_ tally: CardTally, cardKey: Ed25519.PrivateKey) throws(ClientError) -> [DueProof] {
        let statement = TallyStatement.sign(campaign: tally.campaign, counted: tally.valid, unitSize: tally.unitSize, unitList: nil,
                                            at: UInt64(ClientStore.now()), cardKey: cardKey)
        let leaves = TallyStatement.leaves(tally.valid)
        let tree = CardMerkleTree(leaves)
        var targets: [(Ed25519.PublicKey, [UInt8])] = tally.valid.map { ($0.signer, $0.hash) }
        // Only cards whose signer's signature holds: a forged card must not make the organizers
        // write to whoever it names.
        for rejection in tally.rejected {
            switch rejection.reason {
            case .unreadable, .badSignature, .otherCampaign: continue
            default: if case .card(let card)? = rejection.item { targets.append((card.signer, card.hash)) }
            }
        }
        targets += tally.withdrawals.map { ($0.signer, $0.card) }
        var seen: Set<[UInt8]> = []
        return try read { tx in
            try targets.compactMap { signer, card -> DueProof? in
                guard seen.insert(card).inserted else { return nil }
                if try tx.tallyProofRootSent(card: card) == statement.root { return nil }
                return DueProof(signer: signer, proof: TallyProof.make(for: card, statement: statement, leaves: leaves, tree: tree))
            }
        }
    }

    /// Queues `proofs` (whose signers all have a session, or are this user) and records the root
    /// each was sent under, in one transaction.
    func issueTallyProofs(_ proofs: ArraySlice<DueProof>) throws(ClientError) {
        try write { tx in
            for due in proofs {
                if due.signer == identity.publicKey {
                    try receiveTallyProof(tx, due.proof)
                } else {
                    try enqueuePairwise(tx, .tallyProof(due.proof), to: due.signer)
                }
                try tx.recordTallyProofSent(card: due.proof.card, root: due.proof.statement.root)
            }
        }
    }

    /// A proof from the organizers: kept when it is about one of this user's cards, holds against
    /// the campaign's card key, and is newer than the one kept.
    nonisolated func receiveTallyProof(_ tx: StoreTransaction, _ proof: TallyProof) throws {
        guard let campaign = try knownCampaign(tx, proof.statement.campaign) else { return }
        let items = try storedItems(tx, campaign)
        let cards = items.compactMap { if case .card(let card) = $0 { card } else { nil } }
        guard let card = cards.first(where: { $0.hash == proof.card }) else {
            noteLater("a tally proof about a card you did not sign was ignored")
            return
        }
        guard let finding = proof.finding(for: campaign) else {
            noteLater("a tally proof that does not hold (not signed by the campaign's card key, or a broken Merkle proof) was refused")
            return
        }
        let kept = try tx.tallyProof(card: card.hash)
        if let kept, kept.talliedAt >= proof.statement.talliedAt { return }
        let before = kept?.proof?.finding(for: campaign)
        try tx.saveTallyProof(proof, campaign: campaign)
        let tally = "the organizers' tally of \(CardFields.utcDate(proof.statement.talliedAt)) (\(proof.statement.counted) cards, "
            + "checked against their statement signed with the campaign's card key)"
        let signed = "your card for campaign \(Self.shortID(campaign)) signed \(card.fields.date)"
        switch finding {
        case .counted where before != .counted:
            try noticeInCampaign(tx, campaign, "\(signed) is counted in \(tally)")
        case .notCounted where !Self.expectedOut(card, among: items):
            let text = "WARNING: \(tally) does NOT count \(signed). Ask the organizers why; `caucus card status` shows their statement"
            try noticeInCampaign(tx, campaign, text)
            noteLater(text)
        default:
            break
        }
    }

    /// Whether this user withdrew `card` or signed a newer one, so that a tally need not count it.
    nonisolated static func expectedOut(_ card: Card, among items: [CardItem]) -> Bool {
        items.contains { item in
            switch item {
            case .card(let other): other.signedAt > card.signedAt
            case .revocation(let revocation): revocation.card == card.hash || revocation.revokedAt >= card.signedAt
            }
        }
    }

    /// The newest tally proof received for each of this user's cards of a campaign, by card hash.
    public func cardStandings(_ campaign: Campaign) throws(ClientError) -> [[UInt8]: CardStanding] {
        let proofs = try read { tx in try tx.tallyProofs(campaign) }
        var standings: [[UInt8]: CardStanding] = [:]
        for proof in proofs {
            guard let finding = proof.finding(for: campaign) else { continue }
            standings[proof.card] = CardStanding(statement: proof.statement, finding: finding)
        }
        return standings
    }
}
