import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation
import GRDB

/// Union card campaigns: announcing one to a group, signing and revoking cards, and the
/// organizers' tally of the campaign's inbox on the relay (Protocol.md §10, §9.1 kinds 11–12).
extension Account {
    /// A campaign as `caucus campaign list` shows it.
    public struct CampaignSummary: Sendable, Equatable {
        /// The campaign record.
        public var campaign: Campaign
        /// Short id users type: hex of the campaign hash's first 4 bytes.
        public var shortID: String
        /// The group it was announced in.
        public var groupName: String
        /// This user holds the card key (an organizer).
        public var isOrganizer: Bool
    }

    static func shortID(_ campaign: Campaign) -> String { Hex.encode(campaign.hash.prefix(4)) }

    // MARK: Organizers

    /// Announces a campaign to a group (admins only); this user keeps the card key and hands it to
    /// the group's other admins over their sessions.
    public func createCampaign(
        in groupName: String, union: String, employer: String, unitDescription: String, unitSize: UInt64, language: String
    ) async throws(ClientError) -> CampaignSummary {
        let groupID = try group(named: groupName)
        let admins: [Ed25519.PublicKey] = try read { db in
            guard let (info, session, _) = try groupRow(db, groupID), !info.removed else { throw ClientError.notMember(group: groupName) }
            guard session.chain.roster[identity.publicKey] == .admin else { throw ClientError.notAdmin(group: groupName) }
            return session.chain.roster.filter { $0.value == .admin && $0.key != identity.publicKey }.map(\.key)
        }
        let cardKey = Ed25519.PrivateKey()
        let campaign: Campaign
        do {
            campaign = try Campaign.create(union: union, employer: employer, unitDescription: unitDescription, unitSize: unitSize,
                                           language: language, cardKey: cardKey.publicKey, organizer: identity,
                                           createdAt: UInt64(ClientStore.now()))
        } catch { throw ClientError.invalidArgument("\(error)") }
        try? await catchUp()
        for admin in admins { try await ensureSession(with: admin) }
        try write { db in
            try saveCampaign(db, campaign, cardKey: cardKey, conversation: .group(groupID))
            try enqueue(db, .campaign(campaign), in: .group(groupID), id: Random.bytes(16), ttl: 0)
            var seed = cardKey.seed.withUnsafeBytes { Array($0) }
            defer { wipe(&seed) }
            for admin in admins { try enqueuePairwise(db, .cardKey(campaign: campaign.hash, seed: seed), to: admin) }
            try addLine(db, .group(groupID), .notice, Self.announcement(campaign, by: "you"), expirySeconds: 0, unread: false)
        }
        try? await connected()
        try await flushOutbox()
        return CampaignSummary(campaign: campaign, shortID: Self.shortID(campaign), groupName: groupName, isOrganizer: true)
    }

    static func announcement(_ campaign: Campaign, by author: String) -> String {
        "\(author) started a card campaign: \(campaign.union) at \(campaign.employer) (unit of \(campaign.unitSize)). " +
            "Read the card and sign it with `caucus card sign \(shortID(campaign))`"
    }

    nonisolated func saveCampaign(_ db: Database, _ campaign: Campaign, cardKey: Ed25519.PrivateKey?, conversation: Conversation) throws {
        let tag = store.tag(campaign.hash)
        try db.execute(sql: """
            INSERT INTO campaigns (tag, record, card_key, conversation, at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tag) DO UPDATE SET card_key = COALESCE(excluded.card_key, campaigns.card_key)
            """, arguments: [
                Data(tag), Data(store.seal(campaign.encoded(), table: "campaigns", tag: tag)),
                cardKey.map { store.sealSecret($0.seed, table: "campaigns.key", tag: tag) },
                Data(store.tag(conversation.key)), ClientStore.now(),
            ])
    }

    /// Every campaign announced in this user's groups.
    public func campaigns() throws(ClientError) -> [CampaignSummary] {
        try read { db in try allCampaigns(db).map(\.0) }
    }

    nonisolated func allCampaigns(_ db: Database) throws -> [(CampaignSummary, Ed25519.PrivateKey?)] {
        let conversations = try knownConversations(db)
        return try Row.fetchAll(db, sql: "SELECT tag, record, card_key, conversation FROM campaigns ORDER BY at").compactMap { row in
            let tag = Array(row["tag"] as Data)
            let campaign: Campaign
            do { campaign = try Campaign(encoded: try store.open(Array(row["record"] as Data), table: "campaigns", tag: tag)) } catch {
                throw ClientError.damagedStore(path: store.path, reason: "a campaign record cannot be read")
            }
            let key = try (row["card_key"] as Data?).map { try Ed25519.PrivateKey(seed: try store.openSecret($0, table: "campaigns.key", tag: tag)) }
            let groupName = try conversations[Array(row["conversation"] as Data)].map { try conversationName(db, $0) } ?? "?"
            return (CampaignSummary(campaign: campaign, shortID: Self.shortID(campaign), groupName: groupName, isOrganizer: key != nil), key)
        }
    }

    /// The campaign a user typed: its short id, or a group with one campaign.
    func campaign(_ text: String) throws(ClientError) -> (CampaignSummary, Ed25519.PrivateKey?) {
        let all = try read { db in try allCampaigns(db) }
        let matches = all.filter { $0.0.shortID == text.lowercased() || $0.0.groupName.caseInsensitiveCompare(text) == .orderedSame }
        guard let first = matches.first else { throw ClientError.unknownTarget(text) }
        guard matches.count == 1 else {
            throw ClientError.ambiguousTarget(text, candidates: matches.map { "\($0.0.shortID) (\($0.0.campaign.union))" })
        }
        return first
    }

    /// A campaign announced in a group: accepted only from an admin of that group, signed by them.
    nonisolated func receiveCampaign(_ db: Database, _ campaign: Campaign, from sender: Ed25519.PublicKey,
                                     in groupID: [UInt8], session: GroupSession) throws {
        let conversation = Conversation.group(groupID)
        guard campaign.hasValidSignature, campaign.organizer == sender, session.chain.roster[sender] == .admin else {
            try addLine(db, conversation, .warning, """
                a card campaign from \(try displayName(db, sender)) was refused: it is not signed by an organizer (admin) of this group
                """)
            return
        }
        try saveCampaign(db, campaign, cardKey: nil, conversation: conversation)
        try addLine(db, conversation, .notice, Self.announcement(campaign, by: try displayName(db, sender)), expirySeconds: 0)
    }

    /// A campaign's card key from a co-organizer.
    nonisolated func receiveCardKey(_ db: Database, campaign hash: [UInt8], seed: [UInt8], from sender: Ed25519.PublicKey) throws {
        guard let (summary, _) = try allCampaigns(db).first(where: { $0.0.campaign.hash == hash }) else {
            noteLater("a card key for an unknown campaign was ignored")
            return
        }
        var copy = seed
        defer { wipe(&copy) }
        guard let key = try? Ed25519.PrivateKey(seed: SecureBytes(copying: copy)), key.publicKey == summary.campaign.cardKey else {
            noteLater("a card key from \(try displayName(db, sender)) does not match its campaign; ignored")
            return
        }
        let tag = store.tag(hash)
        guard let conversation = try Data.fetchOne(db, sql: "SELECT conversation FROM campaigns WHERE tag = ?", arguments: [Data(tag)]),
              let group = try knownConversations(db)[Array(conversation)], case .group(let groupID) = group,
              let (_, session, _) = try groupRow(db, groupID), session.chain.roster[sender] == .admin,
              session.chain.roster[identity.publicKey] == .admin
        else {
            noteLater("a card key from someone who is not an organizer was ignored")
            return
        }
        try saveCampaign(db, summary.campaign, cardKey: key, conversation: group)
        try addLine(db, group, .notice, "\(try displayName(db, sender)) made you a co-organizer of campaign \(summary.shortID)", expirySeconds: 0)
    }

    // MARK: Workers

    /// Signs a card for a campaign and posts it, sealed to the campaign's card key, to its inbox.
    public func signCard(_ campaignText: String, name: String, contact: String, phone: String, date: String) async throws(ClientError) -> Card {
        let (summary, _) = try campaign(campaignText)
        let campaign = summary.campaign
        let fields = CardFields(name: name, contact: contact, phone: phone, employer: campaign.employer, language: campaign.language, date: date)
        let card: Card
        do { card = try Card.sign(fields, for: campaign, by: identity, at: UInt64(ClientStore.now())) } catch {
            throw ClientError.invalidArgument("\(error)")
        }
        try await post(.card(card), for: campaign)
        return card
    }

    /// Withdraws this user's latest card for a campaign.
    public func revokeCard(_ campaignText: String) async throws(ClientError) -> CardRevocation {
        let (summary, _) = try campaign(campaignText)
        guard let card = try myCards(summary.campaign).compactMap({ item -> Card? in if case .card(let card) = item { card } else { nil } }).last else {
            throw ClientError.invalidArgument("you have not signed a card for this campaign")
        }
        let revocation = CardRevocation.sign(revoking: card, by: identity, at: UInt64(ClientStore.now()))
        try await post(.revocation(revocation), for: summary.campaign)
        return revocation
    }

    /// This user's cards and revocations for a campaign, oldest first.
    public func myCards(_ campaign: Campaign) throws(ClientError) -> [CardItem] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT item_id, sealed FROM my_cards WHERE campaign = ? ORDER BY at, rowid",
                             arguments: [Data(store.tag(campaign.hash))]).map { row in
                let id = Array(row["item_id"] as Data)
                do { return try CardItem(encoded: try store.open(Array(row["sealed"] as Data), table: "my_cards", tag: id)) } catch {
                    throw ClientError.damagedStore(path: store.path, reason: "a stored card cannot be read")
                }
            }
        }
    }

    private func post(_ item: CardItem, for campaign: Campaign) async throws(ClientError) {
        let sealed: [UInt8]
        do { sealed = try item.sealed(for: campaign) } catch { throw ClientError.invalidArgument("\(error)") }
        let itemID = Random.bytes(16)
        let client = try await connected()
        do {
            _ = try await request(client, .postCard(WirePostCard.with {
                $0.inboxKey = Data(campaign.cardKey.rawRepresentation)
                $0.itemID = Data(itemID)
                $0.sealed = Data(sealed)
            }))
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        try write { db in
            try db.execute(sql: "INSERT INTO my_cards (item_id, campaign, sealed, at) VALUES (?, ?, ?, ?)", arguments: [
                Data(itemID), Data(store.tag(campaign.hash)), Data(store.seal(item.encoded(), table: "my_cards", tag: itemID)), ClientStore.now(),
            ])
        }
    }

    // MARK: Tally

    /// Reads every item in the campaign's inbox with the card key and tallies them (organizers).
    public func tally(_ campaignText: String, unitSize: UInt64? = nil, progress: Progress? = nil) async throws(ClientError) -> CardTally {
        let (summary, key) = try campaign(campaignText)
        guard let cardKey = key else { throw ClientError.invalidArgument("only the campaign's organizers hold its card key") }
        let client = try await connected()
        let inbox = Data(summary.campaign.cardKey.rawRepresentation)
        var sealed: [[UInt8]] = []
        do {
            let statement = RelayProtocol.cardInboxOpenStatement(
                relayAddress: client.address, challenge: client.welcome?.challenge ?? Data(), inboxKey: inbox)
            let opened = try await request(client, .openCardInbox(WireOpenCardInbox.with {
                $0.inboxKey = inbox
                $0.signature = Data(cardKey.signature(for: statement).rawRepresentation)
            }))
            guard case .cardInboxOpened(let info) = opened else { throw ClientError.relayRefused("unexpected reply to opening the card inbox") }
            var after: UInt64 = 0
            while true {
                let reply = try await request(client, .readCards(WireReadCards.with { $0.inboxKey = inbox; $0.afterSequence = after }))
                guard case .cards(let page) = reply else { throw ClientError.relayRefused("unexpected reply to reading cards") }
                for item in page.items {
                    sealed.append(Array(item.sealed))
                    after = item.sequence
                }
                progress?(UInt64(sealed.count), max(info.items, UInt64(sealed.count)))
                if !page.more || page.items.isEmpty { break }
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let tally = CardTally.opening(sealed, with: cardKey, campaign: summary.campaign, now: UInt64(ClientStore.now()), unitSize: unitSize)
        await sendReceipts(for: tally, cardKey: cardKey)
        return tally
    }

    // MARK: Receipts

    /// Sends each counted card's signer a receipt signed by the card key, once per card. A receipt
    /// that cannot be sent now is tried again at the next tally.
    func sendReceipts(for tally: CardTally, cardKey: Ed25519.PrivateKey) async {
        for card in tally.valid {
            let tag = store.tag(card.hash)
            let sent = try? read { db in try Data.fetchOne(db, sql: "SELECT tag FROM receipts_sent WHERE tag = ?", arguments: [Data(tag)]) != nil }
            guard sent == false else { continue }
            do {
                if card.signer != identity.publicKey { try await ensureSession(with: card.signer) }
                try write { db in
                    let receipt = CardReceipt.sign(for: card, cardKey: cardKey, at: UInt64(ClientStore.now()))
                    if card.signer == identity.publicKey {
                        try storeReceipt(db, receipt, campaign: tally.campaign)
                    } else {
                        try enqueuePairwise(db, .receipt(receipt), to: card.signer)
                    }
                    try db.execute(sql: "INSERT INTO receipts_sent (tag, at) VALUES (?, ?)", arguments: [Data(tag), ClientStore.now()])
                }
            } catch {
                note("a receipt to \(DID(publicKey: card.signer).short) could not be sent yet: \(error)")
            }
        }
        try? await flushOutbox()
    }

    /// A receipt from the organizers: kept when it confirms one of this user's cards exactly.
    nonisolated func receiveReceipt(_ db: Database, _ receipt: CardReceipt, from sender: Ed25519.PublicKey) throws {
        guard let (summary, _) = try allCampaigns(db).first(where: { $0.0.campaign.hash == receipt.campaign }) else {
            noteLater("a card receipt for an unknown campaign was ignored")
            return
        }
        try storeReceipt(db, receipt, campaign: summary.campaign)
    }

    nonisolated func storeReceipt(_ db: Database, _ receipt: CardReceipt, campaign: Campaign) throws {
        let mine = try Row.fetchAll(db, sql: "SELECT item_id, sealed FROM my_cards WHERE campaign = ?", arguments: [Data(store.tag(campaign.hash))])
            .compactMap { row -> Card? in
                let id = Array(row["item_id"] as Data)
                guard case .card(let card)? = try? CardItem(encoded: try store.open(Array(row["sealed"] as Data), table: "my_cards", tag: id)) else { return nil }
                return card
            }
        guard let card = mine.first(where: { receipt.confirms($0, of: campaign) }) else {
            noteLater("a card receipt that does not match a card you signed (or is not signed by the campaign's card key) was refused")
            return
        }
        let tag = store.tag(card.hash)
        try db.execute(sql: "INSERT OR IGNORE INTO my_receipts (tag, campaign, sealed) VALUES (?, ?, ?)", arguments: [
            Data(tag), Data(store.tag(campaign.hash)), Data(store.seal(receipt.encoded(), table: "my_receipts", tag: tag)),
        ])
        let text = "the organizers confirmed your card for campaign \(Self.shortID(campaign)) (a receipt signed by its card key)"
        if let conversation = try Data.fetchOne(db, sql: "SELECT conversation FROM campaigns WHERE tag = ?", arguments: [Data(store.tag(campaign.hash))]),
           let group = try knownConversations(db)[Array(conversation)] {
            try addLine(db, group, .notice, text, expirySeconds: 0)
        }
    }

    /// The receipts the organizers sent for this user's cards of a campaign.
    public func myReceipts(_ campaign: Campaign) throws(ClientError) -> [CardReceipt] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT tag, sealed FROM my_receipts WHERE campaign = ?", arguments: [Data(store.tag(campaign.hash))]).map { row in
                do {
                    return try CardReceipt(encoded: try store.open(Array(row["sealed"] as Data), table: "my_receipts", tag: Array(row["tag"] as Data)))
                } catch {
                    throw ClientError.damagedStore(path: store.path, reason: "a stored receipt cannot be read")
                }
            }
        }
    }
}
