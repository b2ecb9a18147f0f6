import CaucusCrypto
import Foundation
import GRDB

/// Card campaigns, this user's cards and receipts, receipts and tally proofs owed, tally proofs kept.
extension StoreTransaction {
    // MARK: Campaigns

    /// Keeps a campaign announced in `conversation`; a card key is added to one already kept, never removed.
    public func saveCampaign(_ campaign: Campaign, cardKey: Ed25519.PrivateKey?, in conversation: Conversation, at now: Int64) throws {
        let tag = store.tag(campaign.hash)
        try db.execute(sql: """
            INSERT INTO campaigns (tag, record, card_key, conversation, at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tag) DO UPDATE SET card_key = COALESCE(excluded.card_key, campaigns.card_key)
            """, arguments: [
                Data(tag), Data(store.seal(campaign.encoded(), table: "campaigns", tag: tag)),
                cardKey.map { store.sealSecret($0.seed, table: "campaigns.key", tag: tag) },
                Data(store.tag(conversation)), now,
            ])
    }

    /// Every campaign kept, oldest first.
    public func campaigns() throws -> [StoredCampaign] {
        try Row.fetchAll(db, sql: "SELECT tag, record, card_key, conversation FROM campaigns ORDER BY at").map(storedCampaign)
    }

    /// The campaigns announced in one conversation, oldest first.
    public func campaigns(in conversation: Conversation) throws -> [StoredCampaign] {
        try Row.fetchAll(db, sql: "SELECT tag, record, card_key, conversation FROM campaigns WHERE conversation = ? ORDER BY at",
                         arguments: [Data(store.tag(conversation))]).map(storedCampaign)
    }

    /// The campaign with this hash, if kept.
    public func campaign(hash: [UInt8]) throws -> StoredCampaign? {
        try Row.fetchOne(db, sql: "SELECT tag, record, card_key, conversation FROM campaigns WHERE tag = ?",
                         arguments: [Data(store.tag(hash))]).map(storedCampaign)
    }

    private func storedCampaign(_ row: Row) throws -> StoredCampaign {
        let tag = Array(row["tag"] as Data)
        let campaign: Campaign
        do { campaign = try Campaign(encoded: try store.open(Array(row["record"] as Data), table: "campaigns", tag: tag)) } catch {
            throw damaged("a campaign record cannot be read")
        }
        let key = try (row["card_key"] as Data?).map { try Ed25519.PrivateKey(seed: try store.openSecret($0, table: "campaigns.key", tag: tag)) }
        return StoredCampaign(campaign: campaign, cardKey: key, conversationTag: Array(row["conversation"] as Data))
    }

    // MARK: This user's cards and receipts

    /// Keeps a card or revocation this user posted, under the item id it was posted with.
    /// Keeps a card or revocation this user signed, with what is to be posted for it: `post`,
    /// the relay's `PostCard` (inbox key, item id, sealed item), which waits until `cardPosted`.
    public func addMyCard(_ item: CardItem, post: CardPost, campaign: Campaign, at now: Int64) throws {
        let outgoing = post.inboxKey + post.sealed
        try db.execute(sql: "INSERT INTO my_cards (item_id, campaign, sealed, at, outgoing) VALUES (?, ?, ?, ?, ?)", arguments: [
            Data(post.itemID), Data(store.tag(campaign.hash)),
            Data(store.seal(item.encoded(), table: "my_cards", tag: post.itemID)), now,
            Data(store.seal(outgoing, table: "my_cards.outgoing", tag: post.itemID)),
        ])
    }

    /// The posts of cards and revocations the relay has not taken yet, oldest first.
    public func waitingCardPosts() throws -> [CardPost] {
        try Row.fetchAll(db, sql: "SELECT item_id, outgoing FROM my_cards WHERE outgoing IS NOT NULL ORDER BY at, rowid").map { row in
            let id = Array(row["item_id"] as Data)
            let outgoing: [UInt8]
            do { outgoing = try store.open(Array(row["outgoing"] as Data), table: "my_cards.outgoing", tag: id) } catch {
                throw damaged("a card waiting to be posted cannot be read")
            }
            guard outgoing.count > 32 else { throw damaged("a card waiting to be posted is cut short") }
            return CardPost(inboxKey: Array(outgoing.prefix(32)), itemID: id, sealed: Array(outgoing.dropFirst(32)))
        }
    }

    /// The relay took the post of item `itemID`.
    public func cardPosted(itemID: [UInt8]) throws {
        try db.execute(sql: "UPDATE my_cards SET outgoing = NULL WHERE item_id = ?", arguments: [Data(itemID)])
    }

    /// This user's cards and revocations for a campaign, oldest first, each with whether the relay
    /// took it yet.
    public func myCards(_ campaign: Campaign) throws -> [(item: CardItem, posted: Bool)] {
        try Row.fetchAll(db, sql: "SELECT item_id, sealed, outgoing IS NULL AS posted FROM my_cards WHERE campaign = ? ORDER BY at, rowid",
                         arguments: [Data(store.tag(campaign.hash))]).map { row in
            let id = Array(row["item_id"] as Data)
            do {
                return (try CardItem(encoded: try store.open(Array(row["sealed"] as Data), table: "my_cards", tag: id)), row["posted"] as Bool)
            } catch {
                throw damaged("a stored card cannot be read")
            }
        }
    }

    /// Keeps a receipt (encoded) under `subject`; false when one was kept under it already.
    public func keepReceipt(_ encoded: [UInt8], subject: [UInt8], campaign: Campaign) throws -> Bool {
        let tag = store.tag(subject)
        try db.execute(sql: "INSERT OR IGNORE INTO my_receipts (tag, campaign, sealed) VALUES (?, ?, ?)", arguments: [
            Data(tag), Data(store.tag(campaign.hash)), Data(store.seal(encoded, table: "my_receipts", tag: tag)),
        ])
        return db.changesCount > 0
    }

    /// The receipts (encoded) kept for a campaign, oldest first.
    public func receipts(_ campaign: Campaign) throws -> [[UInt8]] {
        try Row.fetchAll(db, sql: "SELECT tag, sealed FROM my_receipts WHERE campaign = ? ORDER BY rowid",
                         arguments: [Data(store.tag(campaign.hash))]).map { row in
            try store.open(Array(row["sealed"] as Data), table: "my_receipts", tag: Array(row["tag"] as Data))
        }
    }

    // MARK: Receipts owed (organizers)

    /// Forgets the receipts a campaign's last tally found due.
    public func clearDueReceipts(_ campaign: Campaign) throws {
        try db.execute(sql: "DELETE FROM receipts_due WHERE campaign = ?", arguments: [Data(store.tag(campaign.hash))])
    }

    /// Whether the receipt for `subject` was sent.
    public func receiptSent(_ subject: [UInt8]) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM receipts_sent WHERE tag = ?", arguments: [Data(store.tag(subject))]) != nil
    }

    /// Records the receipt for `item` (under `subject`) as due.
    public func addDueReceipt(_ item: CardItem, subject: [UInt8], campaign: Campaign, at now: Int64) throws {
        let tag = store.tag(subject)
        try db.execute(sql: "INSERT OR IGNORE INTO receipts_due (tag, campaign, sealed, at) VALUES (?, ?, ?, ?)", arguments: [
            Data(tag), Data(store.tag(campaign.hash)), Data(store.seal(item.encoded(), table: "receipts_due", tag: tag)), now,
        ])
    }

    /// Records the receipt for `subject` as sent, no longer due.
    public func markReceiptSent(_ subject: [UInt8], at now: Int64) throws {
        let tag = Data(store.tag(subject))
        try db.execute(sql: "INSERT INTO receipts_sent (tag, at) VALUES (?, ?)", arguments: [tag, now])
        try db.execute(sql: "DELETE FROM receipts_due WHERE tag = ?", arguments: [tag])
    }

    // MARK: Tally proofs

    /// The statement root the signer of `card` (its hash) was last sent a tally proof under.
    public func tallyProofRootSent(card: [UInt8]) throws -> [UInt8]? {
        try Data.fetchOne(db, sql: "SELECT root FROM tally_proofs_sent WHERE tag = ?", arguments: [Data(store.tag(card))]).map { Array($0) }
    }

    public func recordTallyProofSent(card: [UInt8], root: [UInt8]) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO tally_proofs_sent (tag, root) VALUES (?, ?)", arguments: [Data(store.tag(card)), Data(root)])
    }

    /// The tally proof kept for this user's card (its hash), with when its tally was made; the
    /// proof is nil when it no longer decodes.
    public func tallyProof(card: [UInt8]) throws -> (talliedAt: UInt64, proof: TallyProof?)? {
        let tag = store.tag(card)
        guard let row = try Row.fetchOne(db, sql: "SELECT tallied_at, sealed FROM tally_proofs WHERE tag = ?", arguments: [Data(tag)]) else {
            return nil
        }
        let bytes = try store.open(Array(row["sealed"] as Data), table: "tally_proofs", tag: tag)
        return (UInt64(row["tallied_at"] as Int64), try? TallyProof(encoded: bytes))
    }

    /// Keeps a tally proof about this user's card, replacing the one kept.
    public func saveTallyProof(_ proof: TallyProof, campaign: Campaign) throws {
        let tag = store.tag(proof.card)
        try db.execute(sql: "INSERT OR REPLACE INTO tally_proofs (tag, campaign, tallied_at, sealed) VALUES (?, ?, ?, ?)", arguments: [
            Data(tag), Data(store.tag(campaign.hash)), Int64(proof.statement.talliedAt),
            Data(store.seal(proof.encoded(), table: "tally_proofs", tag: tag)),
        ])
    }

    /// The tally proofs kept for a campaign's cards (those that no longer decode are left out).
    public func tallyProofs(_ campaign: Campaign) throws -> [TallyProof] {
        try Row.fetchAll(db, sql: "SELECT tag, sealed FROM tally_proofs WHERE campaign = ?", arguments: [Data(store.tag(campaign.hash))])
            .compactMap { row in
                try? TallyProof(encoded: try store.open(Array(row["sealed"] as Data), table: "tally_proofs", tag: Array(row["tag"] as Data)))
            }
    }
}
