/// The organizers' signed acknowledgement that a card was withdrawn (Protocol.md §10.6): it names
/// the card, its signer and when they revoked it, signed with the campaign's card key, so the
/// signer can prove the organizers received the withdrawal.
public struct RevocationReceipt: Hashable, Sendable {
    /// Context tag of the card key's signature.
    public static let context = SigningContext("caucus/revocation-receipt/v1")
    static let type: UInt8 = 0x24

    /// The campaign's hash.
    public let campaign: [UInt8]
    /// The hash of the card withdrawn.
    public let card: [UInt8]
    /// The card's signer, who revoked it.
    public let signer: Ed25519.PublicKey
    /// When the signer revoked it (Unix ms, signer's clock, as in the revocation).
    public let revokedAt: UInt64
    /// Unix milliseconds, organizer's clock.
    public let receivedAt: UInt64
    /// The card key's signature over `statement`.
    public let signature: Ed25519.Signature

    /// Signs an acknowledgement of `revocation` with the campaign's card key.
    public static func sign(for revocation: CardRevocation, cardKey: Ed25519.PrivateKey, at time: UInt64) -> RevocationReceipt {
        let statement = statement(campaign: revocation.campaign, card: revocation.card, signer: revocation.signer,
                                  revokedAt: revocation.revokedAt, receivedAt: time)
        return RevocationReceipt(campaign: revocation.campaign, card: revocation.card, signer: revocation.signer,
                                 revokedAt: revocation.revokedAt, receivedAt: time, signature: cardKey.signature(for: statement))
    }

    init(campaign: [UInt8], card: [UInt8], signer: Ed25519.PublicKey, revokedAt: UInt64, receivedAt: UInt64, signature: Ed25519.Signature) {
        self.campaign = campaign
        self.card = card
        self.signer = signer
        self.revokedAt = revokedAt
        self.receivedAt = receivedAt
        self.signature = signature
    }

    static func statement(campaign: [UInt8], card: [UInt8], signer: Ed25519.PublicKey, revokedAt: UInt64, receivedAt: UInt64) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.bytes(campaign), .bytes(card), .publicKey(signer), .uint64(revokedAt), .uint64(receivedAt)])
    }

    /// Whether this receipt is the campaign's card key acknowledging exactly `revocation`.
    public func confirms(_ revocation: CardRevocation, of campaign: Campaign) -> Bool {
        self.campaign == campaign.hash && revocation.campaign == campaign.hash && card == revocation.card
            && signer == revocation.signer && revokedAt == revocation.revokedAt
            && campaign.cardKey.isValidSignature(signature, for: Self.statement(campaign: self.campaign, card: card, signer: signer,
                                                                                revokedAt: revokedAt, receivedAt: receivedAt))
    }

    /// `0x24 ‖ campaign hash (32) ‖ card hash (32) ‖ signer (32) ‖ u64 revoked at ‖ u64 received at ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + campaign + card + signer.rawRepresentation
        out.appendU64(revokedAt)
        out.appendU64(receivedAt)
        return out + signature.rawRepresentation
    }

    /// Parses a revocation receipt; check `confirms` before trusting it.
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        guard try reader.u8() == Self.type else { throw CardError.malformed("not a revocation receipt") }
        self.init(campaign: try reader.read(32), card: try reader.read(32), signer: try reader.key(), revokedAt: try reader.u64(),
                  receivedAt: try reader.u64(), signature: Ed25519.Signature(unchecked: try reader.read(64)))
        try reader.finish()
    }
}
