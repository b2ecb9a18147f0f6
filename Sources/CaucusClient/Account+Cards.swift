import CaucusClientStore
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Union card campaigns: announcing one to a group, signing and revoking cards, and the
/// organizers' tally of the campaign's inbox on the relay (Protocol.md §10, §9.1 kinds 11–12).
extension Account {
    /// A campaign as `caucus campaign list` shows it.
    public struct CampaignSummary: Sendable, Equatable {
        /// The campaign record.
        public var campaign: Campaign
        /// The campaign's short hash, which users type: hex of the campaign hash's first 4 bytes
        /// (not the record's random `id`, Protocol.md §10.1).
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
        let admins: [Ed25519.PublicKey] = try read { tx in
            guard let (info, session, _) = try groupRow(tx, groupID), !info.removed else { throw ClientError.notMember(group: groupName) }
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
        try write { tx in
            try saveCampaign(tx, campaign, cardKey: cardKey, conversation: .group(GroupID(groupID)))
            try enqueue(tx, .campaign(campaign), in: .group(GroupID(groupID)), id: Random.bytes(16), ttl: 0)
            for admin in admins { try enqueueCardKey(tx, campaign, cardKey, to: admin) }
            try addLine(tx, .group(GroupID(groupID)), .notice, Self.announcement(campaign, by: "you"), expirySeconds: 0, unread: false)
        }
        _ = try? await connected()
        try await flushOutbox()
        return CampaignSummary(campaign: campaign, shortID: Self.shortID(campaign), groupName: groupName, isOrganizer: true)
    }

    static func announcement(_ campaign: Campaign, by author: String) -> String {
        "\(author) started a card campaign: \(campaign.union) at \(campaign.employer) (unit of \(campaign.unitSize)). " +
            "Read the card and sign it with `caucus card sign \(shortID(campaign))`"
    }

    nonisolated func saveCampaign(_ tx: StoreTransaction, _ campaign: Campaign, cardKey: Ed25519.PrivateKey?, conversation: Conversation) throws {
        try tx.saveCampaign(campaign, cardKey: cardKey, in: conversation, at: ClientStore.now())
    }

    /// Every campaign announced in this user's groups.
    public func campaigns() throws(ClientError) -> [CampaignSummary] {
        try read { tx in try allCampaigns(tx).map(\.0) }
    }

    nonisolated func allCampaigns(_ tx: StoreTransaction) throws -> [(CampaignSummary, Ed25519.PrivateKey?)] {
        let conversations = try knownConversations(tx)
        return try tx.campaigns().map { stored in
            let campaign = stored.campaign, key = stored.cardKey
            let groupName = try conversations[stored.conversationTag].map { try conversationName(tx, $0) } ?? "?"
            return (CampaignSummary(campaign: campaign, shortID: Self.shortID(campaign), groupName: groupName, isOrganizer: key != nil), key)
        }
    }

    /// The campaigns announced in one group, each with its card key when this user holds it.
    nonisolated func campaigns(_ tx: StoreTransaction, in groupID: [UInt8]) throws -> [(Campaign, Ed25519.PrivateKey?)] {
        try tx.campaigns(in: .group(GroupID(groupID))).map { ($0.campaign, $0.cardKey) }
    }

    /// The campaign a user typed: its short id, or a group with one campaign.
    public func findCampaign(_ text: String) throws(ClientError) -> CampaignSummary {
        try campaign(text).0
    }

    func campaign(_ text: String) throws(ClientError) -> (CampaignSummary, Ed25519.PrivateKey?) {
        let all = try read { tx in try allCampaigns(tx) }
        let matches = all.filter { $0.0.shortID == text.lowercased() || $0.0.groupName.caseInsensitiveCompare(text) == .orderedSame }
        guard let first = matches.first else { throw ClientError.unknownCampaign(text) }
        guard matches.count == 1 else {
            throw ClientError.ambiguousTarget(text, candidates: matches.map { "\($0.0.campaign.union) (\($0.0.shortID))" })
        }
        return first
    }

    /// A campaign announced in a group: accepted only from an admin of that group, signed by them.
    nonisolated func receiveCampaign(_ tx: StoreTransaction, _ campaign: Campaign, from sender: Ed25519.PublicKey,
                                     in groupID: [UInt8], session: GroupSession) throws {
        let conversation = Conversation.group(GroupID(groupID))
        guard campaign.organizer == sender, Self.isAnnounceable(campaign, in: session) else {
            try addLine(tx, conversation, .warning, """
                a card campaign from \(try mention(tx, sender)) was refused: it is not signed by an organizer (admin) of this group
                """)
            return
        }
        try saveCampaign(tx, campaign, cardKey: nil, conversation: conversation)
        try addLine(tx, conversation, .notice, Self.announcement(campaign, by: try mention(tx, sender)), expirySeconds: 0)
    }

    /// A campaign counts in a group when its organizer signed it and is an admin of the group.
    static func isAnnounceable(_ campaign: Campaign, in session: GroupSession) -> Bool {
        campaign.hasValidSignature && session.chain.roster[campaign.organizer] == .admin
    }

    /// A campaign an admin passes on to a newcomer: accepted when the sender is an admin of the
    /// group and the campaign's own organizer, who signed it, is one too.
    nonisolated func receiveSharedCampaign(_ tx: StoreTransaction, _ campaign: Campaign, in groupID: [UInt8], from sender: Ed25519.PublicKey) throws {
        guard let (info, session, _) = try groupRow(tx, groupID), !info.removed else {
            noteLater("a card campaign for a group you are not in was ignored")
            return
        }
        let conversation = Conversation.group(GroupID(groupID))
        // An admin passes it on to a newcomer, or another device of this identity to this one (§9.14).
        guard session.chain.roster[sender] == .admin || sender == identity.publicKey, Self.isAnnounceable(campaign, in: session) else {
            try addLine(tx, conversation, .warning, """
                a card campaign passed on by \(try mention(tx, sender)) was refused: it is not signed by an organizer (admin) of this group
                """)
            return
        }
        guard try tx.campaign(hash: campaign.hash) == nil else { return }
        try saveCampaign(tx, campaign, cardKey: nil, conversation: conversation)
        try addLine(tx, conversation, .notice, Self.announcement(campaign, by: try mention(tx, campaign.organizer)), expirySeconds: 0)
        // This device may have given the group to the identity's others before the campaign came.
        guard sender != identity.publicKey else { return }
        for other in try devices(tx, of: identity.publicKey) where try session.chain.leaves[other] != nil && tx.hasSession(peer: other) {
            try enqueuePairwise(tx, .sharedCampaign(groupID: groupID, campaign: campaign), toDevice: other, id: Random.bytes(16), ttl: 0)
        }
    }

    /// Passes the group's campaigns to a member just admitted, who cannot read the announcements
    /// made before it joined. Sent after the welcome, so the group is known when they arrive.
    /// `device` is the newcomer's device that the welcome went to.
    nonisolated func shareCampaigns(_ tx: StoreTransaction, of groupID: [UInt8], with device: Ed25519.PublicKey) throws {
        for (campaign, _) in try campaigns(tx, in: groupID) {
            try enqueuePairwise(tx, .sharedCampaign(groupID: groupID, campaign: campaign), toDevice: device, id: Random.bytes(16), ttl: 0)
        }
    }

    /// Hands a new admin the card keys of the group's campaigns this user organizes.
    nonisolated func handOverCardKeys(_ tx: StoreTransaction, of groupID: [UInt8], to admin: Ed25519.PublicKey) throws {
        for case let (campaign, cardKey?) in try campaigns(tx, in: groupID) {
            try enqueueCardKey(tx, campaign, cardKey, to: admin)
        }
    }

    private nonisolated func enqueueCardKey(_ tx: StoreTransaction, _ campaign: Campaign, _ cardKey: Ed25519.PrivateKey, to admin: Ed25519.PublicKey) throws {
        var seed = cardKey.seed.withUnsafeBytes { Array($0) }
        defer { wipe(&seed) }
        try enqueuePairwise(tx, .cardKey(campaign: campaign.hash, seed: seed), to: admin)
    }

    /// A campaign's card key from a co-organizer.
    nonisolated func receiveCardKey(_ tx: StoreTransaction, campaign hash: [UInt8], seed: [UInt8], from sender: Ed25519.PublicKey) throws {
        guard let (summary, _) = try allCampaigns(tx).first(where: { $0.0.campaign.hash == hash }) else {
            noteLater("a card key for an unknown campaign was ignored")
            return
        }
        var copy = seed
        defer { wipe(&copy) }
        guard let key = try? Ed25519.PrivateKey(seed: SecureBytes(copying: copy)), key.publicKey == summary.campaign.cardKey else {
            noteLater("a card key from \(try mention(tx, sender)) does not match its campaign; ignored")
            return
        }
        guard let stored = try tx.campaign(hash: hash),
              let group = try knownConversations(tx)[stored.conversationTag], case .group(let groupID) = group,
              let (_, session, _) = try groupRow(tx, groupID), session.chain.roster[sender] == .admin,
              session.chain.roster[identity.publicKey] == .admin
        else {
            noteLater("a card key from someone who is not an organizer was ignored")
            return
        }
        try saveCampaign(tx, summary.campaign, cardKey: key, conversation: group)
        let line = sender == identity.publicKey
            ? "this device now holds the card key of your campaign \(summary.shortID)"
            : "\(try mention(tx, sender)) made you a co-organizer of campaign \(summary.shortID)"
        try addLine(tx, group, .notice, line, expirySeconds: 0)
    }

    // MARK: Workers

    /// Signs a card for a campaign and posts it, sealed to the campaign's card key, to its inbox
    /// (`sendCardItem`: it is kept first, and goes out as every connection's companion post).
    public func signCard(_ campaignText: String, name: String, contact: String, phone: String, date: String) async throws(ClientError) -> Card {
        let (summary, _) = try campaign(campaignText)
        let campaign = summary.campaign
        let fields = CardFields(name: name, contact: contact, phone: phone, employer: campaign.employer, language: campaign.language, date: date)
        let card: Card
        do { card = try Card.sign(fields, for: campaign, by: identity, at: UInt64(ClientStore.now())) } catch {
            throw ClientError.invalidArgument("\(error)")
        }
        try await sendCardItem(.card(card), for: campaign)
        return card
    }

    /// Withdraws every card this user signed for a campaign and has not withdrawn yet: the
    /// revocation names the newest and, by its time, withdraws the older ones too (§10.3).
    /// Returns it and the cards it withdraws, oldest first.
    public func revokeCard(_ campaignText: String) async throws(ClientError) -> (CardRevocation, withdrawn: [Card]) {
        let (summary, _) = try campaign(campaignText)
        let standing = try standingCards(summary.campaign)
        guard let newest = standing.last else {
            throw ClientError.invalidArgument("you have no card to withdraw for this campaign")
        }
        let revocation = CardRevocation.sign(revoking: newest, by: identity, at: max(UInt64(ClientStore.now()), newest.signedAt))
        try await sendCardItem(.revocation(revocation), for: summary.campaign)
        return (revocation, standing)
    }

    /// This user's cards for a campaign that no revocation of theirs has withdrawn (§10.3): those
    /// a new card replaces, and a revocation now would withdraw. Oldest first.
    public func standingCards(_ campaign: Campaign) throws(ClientError) -> [Card] {
        var cards: [Card] = [], revokedUpTo: UInt64?
        for item in try myCards(campaign) {
            switch item {
            case .card(let card): cards.append(card)
            case .revocation(let revocation):
                guard let named = cards.first(where: { $0.hash == revocation.card }),
                      let upTo = CardTally.withdrawal(by: revocation, of: named) else { continue }
                revokedUpTo = max(revokedUpTo ?? 0, upTo)
            }
        }
        guard let revokedUpTo else { return cards }
        return cards.filter { $0.signedAt > revokedUpTo }
    }

    /// What `caucus card status` shows: this user's cards and revocations for a campaign, the
    /// organizers' receipts for them and where each card stands in the organizers' last tally.
    public struct CardStatus: Sendable {
        public let items: [CardItem]
        /// Those the relay has not taken yet: they go out with the next connection.
        public let waiting: Set<CardItem>
        public let receipts: [CardReceipt]
        public let acknowledgements: [RevocationReceipt]
        public let standings: [[UInt8]: CardStanding]

        /// The organizers' receipt for `card`, if it came.
        public func receipt(for card: Card) -> CardReceipt? { receipts.first { $0.card == card.hash } }

        /// The organizers' acknowledgement of `revocation`, if it came.
        public func acknowledgement(of revocation: CardRevocation) -> RevocationReceipt? {
            acknowledgements.first { $0.card == revocation.card && $0.revokedAt == revocation.revokedAt }
        }
    }

    /// This user's card status for a campaign (from the store; sync first for news).
    public func cardStatus(_ campaign: Campaign) throws(ClientError) -> CardStatus {
        let stored = try read { tx in try tx.myCards(campaign) }
        return CardStatus(items: stored.map(\.item), waiting: Set(stored.filter { !$0.posted }.map(\.item)),
                          receipts: try myReceipts(campaign), acknowledgements: try myRevocationReceipts(campaign),
                          standings: try cardStandings(campaign))
    }

    /// This user's cards and revocations for a campaign, oldest first.
    public func myCards(_ campaign: Campaign) throws(ClientError) -> [CardItem] {
        try read { tx in try storedItems(tx, campaign) }
    }

    nonisolated func storedItems(_ tx: StoreTransaction, _ campaign: Campaign) throws -> [CardItem] {
        try tx.myCards(campaign).map(\.item)
    }

    // MARK: Tally

    /// Reads every item in the campaign's inbox with the card key and tallies them (organizers).
    /// It only reads: nothing is sent or written to the relay, and no session is set up (receipts
    /// go out with `sendReceipts`).
    public func tally(_ campaignText: String, unitSize: UInt64? = nil, progress: Progress? = nil) async throws(ClientError) -> CardTally {
        let (summary, cardKey) = try organizedCampaign(campaignText)
        let sealed = try await readInbox(of: summary.campaign, with: cardKey, progress: progress)
        return CardTally.opening(sealed, with: cardKey, campaign: summary.campaign, now: UInt64(ClientStore.now()), unitSize: unitSize)
    }

    /// The organizer's report of a campaign (`CampaignReport`): the tally, read as `tally` reads
    /// it, against `unitList` when given, naming signers by the name on their card (and by DID
    /// when `dids`). It only reads, as `tally` does.
    /// The count by day is left out unless `byDay`.
    public func report(_ campaignText: String, unitList: UnitList? = nil, dids: Bool = false, byDay: Bool = true,
                       progress: Progress? = nil) async throws(ClientError) -> CampaignReport {
        let summary = try findCampaign(campaignText)
        let tally = try await tally(campaignText, unitSize: unitList.map { UInt64($0.employees.count) }, progress: progress)
        return CampaignReport(tally, campaignID: summary.shortID, unitList: unitList, dids: dids, byDay: byDay)
    }

    /// A campaign the user typed, with its card key, which only its organizers hold.
    func organizedCampaign(_ text: String) throws(ClientError) -> (CampaignSummary, Ed25519.PrivateKey) {
        let (summary, key) = try campaign(text)
        guard let cardKey = key else { throw ClientError.invalidArgument("only the campaign's organizers hold its card key") }
        return (summary, cardKey)
    }

    /// Every sealed item in the campaign's inbox, in posting order, read on a connection of its
    /// own under a throwaway key (Protocol.md §7.7): the relay learns that the card key's holder
    /// read the inbox, not which identity did, and this user's mailbox is not touched.
    func readInbox(of campaign: Campaign, with cardKey: Ed25519.PrivateKey, progress: Progress? = nil) async throws(ClientError) -> [[UInt8]] {
        let client = try await dial(as: Ed25519.PrivateKey())
        let inbox = Data(campaign.cardKey.rawRepresentation)
        var sealed: [[UInt8]] = []
        do {
            let statement = RelayProtocol.cardInboxOpenStatement(
                relayAddress: client.address, challenge: client.challenge ?? Data(), inboxKey: inbox)
            let items: UInt64
            do {
                items = try await retrying {
                    try await client.openCardInbox(inboxKey: inbox, signature: Data(cardKey.signature(for: statement).rawRepresentation))
                }
            } catch RelayClientError.unexpectedReply {
                throw ClientError.relayRefused("unexpected reply to opening the card inbox")
            }
            sealed.reserveCapacity(Int(clamping: items))
            var after: UInt64 = 0
            while true {
                let page: (items: [InboxItem], more: Bool)
                do {
                    page = try await retrying { try await client.readCards(inboxKey: inbox, afterSequence: after) }
                } catch RelayClientError.unexpectedReply {
                    throw ClientError.relayRefused("unexpected reply to reading cards")
                }
                for item in page.items {
                    sealed.append(Array(item.sealed))
                    after = item.sequence
                }
                progress?(UInt64(sealed.count), max(items, UInt64(sealed.count)))
                if !page.more || page.items.isEmpty { break }
            }
        } catch let error as ClientError {
            await client.close()
            throw error
        } catch {
            await client.close()
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        await client.close()
        return sealed
    }

    // MARK: Receipts a signer receives (the organizers send them: Account+CardReceipts.swift)

    /// Tags of withdrawal acknowledgements start with this, so they never equal a card's.
    static let withdrawalPrefix = Array("withdrawal".utf8)

    /// A receipt from the organizers: kept when it confirms one of this user's cards exactly.
    nonisolated func receiveReceipt(_ tx: StoreTransaction, _ receipt: CardReceipt, from sender: Ed25519.PublicKey) throws {
        guard let campaign = try knownCampaign(tx, receipt.campaign) else { return }
        try storeReceipt(tx, receipt, campaign: campaign)
    }

    /// An acknowledgement of a withdrawal: kept when it confirms one of this user's revocations exactly.
    nonisolated func receiveRevocationReceipt(_ tx: StoreTransaction, _ receipt: RevocationReceipt) throws {
        guard let campaign = try knownCampaign(tx, receipt.campaign) else { return }
        try storeRevocationReceipt(tx, receipt, campaign: campaign)
    }

    nonisolated func knownCampaign(_ tx: StoreTransaction, _ hash: [UInt8]) throws -> Campaign? {
        guard let (summary, _) = try allCampaigns(tx).first(where: { $0.0.campaign.hash == hash }) else {
            noteLater("a card receipt for an unknown campaign was ignored")
            return nil
        }
        return summary.campaign
    }

    nonisolated func storeReceipt(_ tx: StoreTransaction, _ receipt: CardReceipt, campaign: Campaign) throws {
        guard case .card(let card)? = try storedItems(tx, campaign).first(where: {
            if case .card(let card) = $0 { receipt.confirms(card, of: campaign) } else { false }
        }) else {
            noteLater("a card receipt that does not match a card you signed (or is not signed by the campaign's card key) was refused")
            return
        }
        try keepReceipt(tx, receipt.encoded(), subject: card.hash, campaign: campaign,
                        telling: "the organizers confirmed your card for campaign \(Self.shortID(campaign)) (a receipt signed by its card key)")
    }

    nonisolated func storeRevocationReceipt(_ tx: StoreTransaction, _ receipt: RevocationReceipt, campaign: Campaign) throws {
        guard case .revocation(let revocation)? = try storedItems(tx, campaign).first(where: {
            if case .revocation(let revocation) = $0 { receipt.confirms(revocation, of: campaign) } else { false }
        }) else {
            noteLater("a revocation receipt that does not match a card you withdrew (or is not signed by the campaign's card key) was refused")
            return
        }
        try keepReceipt(tx, receipt.encoded(), subject: Self.withdrawalPrefix + revocation.card, campaign: campaign, telling: """
            the organizers acknowledged that you withdrew your card for campaign \(Self.shortID(campaign)) \
            (a receipt signed by its card key)
            """)
    }

    private nonisolated func keepReceipt(_ tx: StoreTransaction, _ encoded: [UInt8], subject: [UInt8], campaign: Campaign,
                                         telling text: String) throws {
        guard try tx.keepReceipt(encoded, subject: subject, campaign: campaign) else { return }
        try noticeInCampaign(tx, campaign, text)
    }

    /// A notice line in the conversation of the group the campaign was announced in.
    nonisolated func noticeInCampaign(_ tx: StoreTransaction, _ campaign: Campaign, _ text: String) throws {
        if let stored = try tx.campaign(hash: campaign.hash), let group = try knownConversations(tx)[stored.conversationTag] {
            try addLine(tx, group, .notice, text, expirySeconds: 0)
        }
    }

    /// The receipts the organizers sent for this user's cards of a campaign.
    public func myReceipts(_ campaign: Campaign) throws(ClientError) -> [CardReceipt] {
        try storedReceipts(campaign).compactMap { if case .card(let receipt) = $0 { receipt } else { nil } }
    }

    /// The organizers' acknowledgements of this user's withdrawals for a campaign.
    public func myRevocationReceipts(_ campaign: Campaign) throws(ClientError) -> [RevocationReceipt] {
        try storedReceipts(campaign).compactMap { if case .revocation(let receipt) = $0 { receipt } else { nil } }
    }

    private enum StoredReceipt {
        case card(CardReceipt)
        case revocation(RevocationReceipt)
    }

    private func storedReceipts(_ campaign: Campaign) throws(ClientError) -> [StoredReceipt] {
        try read { tx in
            try tx.receipts(campaign).map { bytes in
                do {
                    return bytes.first == 0x24 ? .revocation(try RevocationReceipt(encoded: bytes)) : .card(try CardReceipt(encoded: bytes))
                } catch {
                    throw tx.damaged("a stored receipt cannot be read")
                }
            }
        }
    }
}

// MARK: Evidence

extension Account {
    /// The evidence bundle of `tally` (Protocol.md §10.5): its counted cards, or `counting` (those
    /// matched to a unit list whose file's BLAKE2b-256 is `unitList`), with a tally statement
    /// signed now by the campaign's card key (organizers only).
    public func evidence(for tally: CardTally, counting: [Card]? = nil, unitList: [UInt8]? = nil) throws(ClientError) -> EvidenceBundle {
        let campaigns = try read { tx in try allCampaigns(tx) }
        guard let cardKey = campaigns.first(where: { $0.0.campaign.hash == tally.campaign.hash })?.1 else { throw ClientError.invalidArgument("only the campaign's organizers hold its card key") }
        return EvidenceBundle(tally, talliedAt: UInt64(ClientStore.now()), cardKey: cardKey, counting: counting, unitList: unitList)
    }
}
