/// The organizers' signed confirmation that a card arrived (Protocol.md §10.6): all six fields
/// back to the signer, signed with the campaign's card key. The labor board's "confirmation".
public struct CardReceipt: Hashable, Sendable {
    /// Context tag of the card key's signature.
    public static let context = SigningContext("caucus/card-receipt/v1")
    static let type: UInt8 = 0x23

    /// The campaign's hash.
    public let campaign: [UInt8]
    /// The hash of the card received.
    public let card: [UInt8]
    /// The fields as the organizers received them.
    public let fields: CardFields
    /// The card's signer.
    public let signer: Ed25519.PublicKey
    /// Unix milliseconds, organizer's clock.
    public let receivedAt: UInt64
    /// The card key's signature over `statement`.
    public let signature: Ed25519.Signature

    /// Signs a receipt for `card` with the campaign's card key.
    public static func sign(for card: Card, cardKey: Ed25519.PrivateKey, at time: UInt64) -> CardReceipt {
        let statement = statement(campaign: card.campaign, card: card.hash, fields: card.fields, signer: card.signer, receivedAt: time)
        return CardReceipt(campaign: card.campaign, card: card.hash, fields: card.fields, signer: card.signer, receivedAt: time,
                           signature: cardKey.signature(for: statement))
    }

    init(campaign: [UInt8], card: [UInt8], fields: CardFields, signer: Ed25519.PublicKey, receivedAt: UInt64, signature: Ed25519.Signature) {
        self.campaign = campaign
        self.card = card
        self.fields = fields
        self.signer = signer
        self.receivedAt = receivedAt
        self.signature = signature
    }

    static func statement(campaign: [UInt8], card: [UInt8], fields: CardFields, signer: Ed25519.PublicKey, receivedAt: UInt64) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.bytes(campaign), .bytes(card)] + fields.named.map { .text($0.1) }
            + [.publicKey(signer), .uint64(receivedAt)])
    }

    /// Whether this receipt is the campaign's card key confirming exactly `card`.
    public func confirms(_ card: Card, of campaign: Campaign) -> Bool {
        self.campaign == campaign.hash && card.campaign == campaign.hash && self.card == card.hash && fields == card.fields
            && signer == card.signer
            && campaign.cardKey.isValidSignature(signature, for: Self.statement(campaign: self.campaign, card: self.card, fields: fields,
                                                                                signer: signer, receivedAt: receivedAt))
    }

    /// `0x23 ‖ campaign hash (32) ‖ card hash (32) ‖ 6 × LP(field) ‖ signer (32) ‖ u64 received at ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + campaign + card
        for (_, value) in fields.named { out.appendLP(value) }
        out += signer.rawRepresentation
        out.appendU64(receivedAt)
        return out + signature.rawRepresentation
    }

    /// Parses a receipt; check `confirms` before trusting it.
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        guard try reader.u8() == Self.type else { throw CardError.malformed("not a card receipt") }
        let campaign = try reader.read(32), card = try reader.read(32)
        let fields = CardFields(name: try reader.text(), contact: try reader.text(), phone: try reader.text(),
                                employer: try reader.text(), language: try reader.text(), date: try reader.text())
        self.init(campaign: campaign, card: card, fields: fields, signer: try reader.key(), receivedAt: try reader.u64(),
                  signature: Ed25519.Signature(unchecked: try reader.read(64)))
        try reader.finish()
    }
}
