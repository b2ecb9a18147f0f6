import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import Foundation

/// The organizers' receipts (Protocol.md §10.6): `caucus cards receipts` records which are due
/// and sends them, apart from the tally, which only reads.
extension Account {
    /// What one `sendReceipts` run did, counted in receipts.
    public struct ReceiptReport: Sendable, Equatable {
        /// Receipts sent in this run (the organizer's own kept in their store).
        public var sent = 0
        /// Receipts sent in earlier runs, not sent again.
        public var alreadySent = 0
        /// Receipts whose signers have no prekeys on the relay yet (they never connected).
        public var waitingForPrekeys = 0
        /// Receipts whose signers could not be reached: the relay did not answer or refused.
        public var waitingForRelay = 0
        /// Receipts whose signers' prekeys on the relay do not verify.
        public var waitingForValidPrekeys = 0
        /// Messages (receipts or others) still in the outbox after sending: the relay takes them
        /// when any later command connects.
        public var stillQueued = 0

        /// Tally proofs sent in this run (Protocol.md §10.10): one per card whose signer had none
        /// under this tally's statement.
        public var proofsSent = 0
        /// Tally proofs not sent in this run because their signers could not be reached.
        public var proofsWaiting = 0

        /// Receipts due that were not sent in this run.
        public var waiting: Int { waitingForPrekeys + waitingForRelay + waitingForValidPrekeys }
    }

    /// Sessions with signers set up at once, each bounded by the relay's request timeout.
    static let concurrentSessionSetUps = 16
    /// Receipts queued per transaction.
    static let receiptsPerTransaction = 512

    /// Reads and tallies the campaign's inbox, records the receipts due (counted cards and
    /// withdrawals that took effect, not sent before), then sends them, and each signer a tally
    /// proof for each of their cards under a statement signed now (§10.10) unless they have one
    /// under the same Merkle root: sessions with the signers set up 16 at a time, everything
    /// queued in the outbox and flushed (organizers).
    public func sendReceipts(_ campaignText: String, progress: Progress? = nil) async throws(ClientError) -> ReceiptReport {
        let (summary, cardKey) = try organizedCampaign(campaignText)
        let campaign = summary.campaign
        let sealed = try await readInbox(of: campaign, with: cardKey, progress: progress)
        let tally = CardTally.opening(sealed, with: cardKey, campaign: campaign, now: UInt64(ClientStore.now()))
        var report = ReceiptReport()
        let due = try recordDueReceipts(tally, alreadySent: &report.alreadySent)
        let proofs = try dueTallyProofs(tally, cardKey: cardKey)
        guard !due.isEmpty || !proofs.isEmpty else { return report }

        try await connected()
        let signers = Set(due.map(\.signer)).union(proofs.map(\.signer)).subtracting([identity.publicKey])
        let failures = await setUpSessions(with: signers)
        for item in due {
            switch failures[item.signer] {
            case nil: report.sent += 1
            case .unknownTarget?: report.waitingForPrekeys += 1
            case .badPrekeys?: report.waitingForValidPrekeys += 1
            case _?: report.waitingForRelay += 1
            }
        }
        let ready = due.filter { failures[$0.signer] == nil }
        for start in stride(from: 0, to: ready.count, by: Self.receiptsPerTransaction) {
            try issueReceipts(ready[start..<min(start + Self.receiptsPerTransaction, ready.count)], cardKey: cardKey, campaign: campaign)
        }
        let reachable = proofs.filter { failures[$0.signer] == nil }
        report.proofsSent = reachable.count
        report.proofsWaiting = proofs.count - reachable.count
        for start in stride(from: 0, to: reachable.count, by: Self.receiptsPerTransaction) {
            try issueTallyProofs(reachable[start..<min(start + Self.receiptsPerTransaction, reachable.count)])
        }
        try? await flushOutbox()
        report.stillQueued = try queuedCount()
        return report
    }

    /// Replaces the campaign's list of due receipts with what `tally` calls for and no receipt
    /// sent before covers; returns it.
    private func recordDueReceipts(_ tally: CardTally, alreadySent: inout Int) throws(ClientError) -> [CardItem] {
        let items = tally.valid.map(CardItem.card) + tally.withdrawals.map(CardItem.revocation)
        let (due, sent) = try write { tx -> ([CardItem], Int) in
            try tx.clearDueReceipts(tally.campaign)
            var due: [CardItem] = [], sent = 0
            let now = ClientStore.now()
            for item in items {
                let subject = Self.receiptSubject(item)
                if try tx.receiptSent(subject) {
                    sent += 1
                    continue
                }
                try tx.addDueReceipt(item, subject: subject, campaign: tally.campaign, at: now)
                due.append(item)
            }
            return (due, sent)
        }
        alreadySent = sent
        return due
    }

    /// Makes sure a session exists with each of `peers`, `concurrentSessionSetUps` at a time;
    /// returns why it could not for those it could not.
    private func setUpSessions(with peers: Set<Ed25519.PublicKey>) async -> [Ed25519.PublicKey: ClientError] {
        var waiting = peers.makeIterator()
        return await withTaskGroup(of: (Ed25519.PublicKey, ClientError?).self) { group in
            func startNext() {
                guard let peer = waiting.next() else { return }
                group.addTask {
                    do throws(ClientError) {
                        try await self.ensureSession(with: peer)
                        return (peer, nil)
                    } catch { return (peer, error) }
                }
            }
            for _ in 0..<Self.concurrentSessionSetUps { startNext() }
            var failures: [Ed25519.PublicKey: ClientError] = [:]
            while let (peer, failure) = await group.next() {
                failures[peer] = failure
                startNext()
            }
            return failures
        }
    }

    /// Issues the receipts for `items`, whose signers all have a session (or are this user):
    /// queues each for its signer and marks it sent in the same transaction.
    private func issueReceipts(_ items: ArraySlice<CardItem>, cardKey: Ed25519.PrivateKey, campaign: Campaign) throws(ClientError) {
        try write { tx in
            let now = UInt64(ClientStore.now())
            for item in items {
                let receipt = IssuedReceipt(for: item, cardKey: cardKey, at: now)
                if item.signer == identity.publicKey {
                    switch receipt {
                    case .card(let receipt): try storeReceipt(tx, receipt, campaign: campaign)
                    case .revocation(let receipt): try storeRevocationReceipt(tx, receipt, campaign: campaign)
                    }
                } else {
                    try enqueuePairwise(tx, receipt.payload, to: item.signer)
                }
                try tx.markReceiptSent(Self.receiptSubject(item), at: ClientStore.now())
            }
        }
    }

    /// The tag under which the receipt for `item` is recorded as due, as sent, and (by its
    /// signer) as received: a withdrawal's never equals a card's.
    static func receiptSubject(_ item: CardItem) -> [UInt8] {
        switch item {
        case .card(let card): card.hash
        case .revocation(let revocation): withdrawalPrefix + revocation.card
        }
    }
}

/// A receipt the organizers issue for an item the tally took (Protocol.md §10.6): the one place
/// receipts are made.
enum IssuedReceipt {
    /// A counted card's confirmation, with its six fields.
    case card(CardReceipt)
    /// A withdrawal's acknowledgement.
    case revocation(RevocationReceipt)

    /// The receipt for `item`, signed by the campaign's card key at `time` (Unix ms).
    init(for item: CardItem, cardKey: Ed25519.PrivateKey, at time: UInt64) {
        switch item {
        case .card(let card): self = .card(CardReceipt.sign(for: card, cardKey: cardKey, at: time))
        case .revocation(let revocation): self = .revocation(RevocationReceipt.sign(for: revocation, cardKey: cardKey, at: time))
        }
    }

    /// The message that carries it to its signer.
    var payload: Payload {
        switch self {
        case .card(let receipt): .receipt(receipt)
        case .revocation(let receipt): .revocationReceipt(receipt)
        }
    }
}

extension CardItem {
    /// Who signed the card or revocation.
    var signer: Ed25519.PublicKey {
        switch self {
        case .card(let card): card.signer
        case .revocation(let revocation): revocation.signer
        }
    }
}
