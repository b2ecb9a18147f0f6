extension CardTally {
    /// A card that passed every check it can pass on its own, with what the cross-item steps ask of it.
    struct Candidate: Sendable {
        let card: Card
        /// `card.hash`, which revocations name.
        let hash: [UInt8]
        /// The signer's name and contact as the tally compares them (`normalized`).
        let name: String, contact: String
    }

    /// An item after the checks that need no other item.
    enum Screened: Sendable {
        /// It does not count, whatever the other items hold (the item, when it parsed).
        case rejected(CardItem?, Rejection)
        /// A card that counts unless revoked, superseded or signed by the same person under another DID.
        case card(Candidate)
        /// A card that passed every check but its age: it counted until it was 12 months old.
        case stale(Candidate)
        /// A revocation for this campaign whose signature verifies.
        case revocation(CardRevocation)
    }

    /// The checks of one item on its own (Protocol.md §10.4), for one campaign at one time; items
    /// can be screened in any order and on any thread.
    struct Screening: Sendable {
        let campaign: Campaign
        let campaignHash: [UInt8]
        let now: UInt64

        init(campaign: Campaign, now: UInt64) {
            self.campaign = campaign
            campaignHash = campaign.hash
            self.now = now
        }

        func screen(_ result: Result<CardItem, CardError>) -> Screened {
            let item: CardItem
            switch result {
            case .failure(let error): return .rejected(nil, .unreadable(error.description))
            case .success(let opened): item = opened
            }
            switch item {
            case .revocation(let revocation):
                guard revocation.campaign == campaignHash else { return .rejected(item, .otherCampaign) }
                guard revocation.hasValidSignature else { return .rejected(item, .badSignature) }
                guard revocation.revokedAt <= now + clockSkewMilliseconds else { return .rejected(item, .signedInFuture) }
                return .revocation(revocation)
            case .card(let card):
                // The signed bytes are built once, for the signature and for the hash.
                let statement = card.statement
                let reason = check(card, statement: statement)
                if let reason, reason != .stale { return .rejected(item, reason) }
                // The card's campaign hash and language equal the campaign's (checked above): it keeps
                // the campaign's copies, a third of the memory a card takes.
                var fields = card.fields
                fields.language = campaign.language
                let shared = Card(campaign: campaignHash, fields: fields, signer: card.signer, signedAt: card.signedAt,
                                  signature: card.signature)
                let candidate = Candidate(card: shared, hash: statement.hash(signedWith: card.signature),
                                          name: normalized(card.fields.name), contact: normalized(card.fields.contact))
                return reason == .stale ? .stale(candidate) : .card(candidate)
            }
        }

        private func check(_ card: Card, statement: CanonicalMessage) -> Rejection? {
            guard card.campaign == campaignHash else { return .otherCampaign }
            guard card.signer.isValidSignature(card.signature, for: statement) else { return .badSignature }
            guard card.fields.employer == campaign.employer else { return .alteredText("employer") }
            guard card.fields.language == campaign.language else { return .alteredText("card language") }
            do { try card.fields.validate() } catch { return .invalidFields(error.description) }
            guard card.signedAt <= now + clockSkewMilliseconds else { return .signedInFuture }
            guard CardFields.date(card.fields.date, agreesWith: card.signedAt) else { return .dateDisagrees }
            guard now <= card.signedAt || now - card.signedAt <= maximumAgeMilliseconds else { return .stale }
            return nil
        }
    }
}
