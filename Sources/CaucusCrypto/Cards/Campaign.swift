/// A card campaign as its organizer announced it (Protocol.md §10.1): who organizes whom, the exact
/// card language, and the key cards are sealed to. Signed by the organizer; every worker sees the
/// same bytes, so an altered record is detected.
public struct Campaign: Hashable, Sendable {
    /// Context tag of the organizer's signature.
    public static let context = SigningContext("caucus/campaign/v1")
    static let version: UInt8 = 1
    /// The largest unit size a record may state: more than any employer's workforce, and small
    /// enough that the tally's share arithmetic never passes 64 bits.
    public static let maximumUnitSize: UInt64 = 1_000_000_000

    /// 16 random bytes naming the campaign.
    public let id: [UInt8]
    /// The union the cards authorize.
    public let union: String
    /// The employer's name, as it must appear on every card.
    public let employer: String
    /// The bargaining unit, in words.
    public let unitDescription: String
    /// How many employees are in the unit.
    public let unitSize: UInt64
    /// The exact authorization language every card carries.
    public let language: String
    /// The Ed25519 key of the campaign's card inbox; cards are sealed to its X25519 form.
    public let cardKey: Ed25519.PublicKey
    /// The organizer who signed the record.
    public let organizer: Ed25519.PublicKey
    /// Unix milliseconds, organizer's clock.
    public let createdAt: UInt64
    /// The organizer's signature over `statement`.
    public let signature: Ed25519.Signature

    /// Creates and signs a campaign record.
    public static func create(
        union: String, employer: String, unitDescription: String, unitSize: UInt64, language: String,
        cardKey: Ed25519.PublicKey, organizer: Ed25519.PrivateKey, createdAt: UInt64
    ) throws(CardError) -> Campaign {
        for (name, value, limit) in [("union", union, 256), ("employer", employer, 256),
                                     ("unit description", unitDescription, 4096), ("card language", language, 16384)] {
            try CardFields.check(name, value, limit: limit)
        }
        guard (1...maximumUnitSize).contains(unitSize) else {
            throw CardError.invalidField("the unit size must be between 1 and \(maximumUnitSize)")
        }
        let unsigned = Campaign(id: Random.bytes(16), union: union, employer: employer, unitDescription: unitDescription,
                                unitSize: unitSize, language: language, cardKey: cardKey, organizer: organizer.publicKey,
                                createdAt: createdAt, signature: Ed25519.Signature(unchecked: []))
        return unsigned.with(signature: organizer.signature(for: unsigned.statement))
    }

    init(id: [UInt8], union: String, employer: String, unitDescription: String, unitSize: UInt64, language: String,
         cardKey: Ed25519.PublicKey, organizer: Ed25519.PublicKey, createdAt: UInt64, signature: Ed25519.Signature) {
        self.id = id
        self.union = union
        self.employer = employer
        self.unitDescription = unitDescription
        self.unitSize = unitSize
        self.language = language
        self.cardKey = cardKey
        self.organizer = organizer
        self.createdAt = createdAt
        self.signature = signature
    }

    private func with(signature: Ed25519.Signature) -> Campaign {
        Campaign(id: id, union: union, employer: employer, unitDescription: unitDescription, unitSize: unitSize,
                 language: language, cardKey: cardKey, organizer: organizer, createdAt: createdAt, signature: signature)
    }

    /// The canonical bytes the organizer signs.
    public var statement: CanonicalMessage {
        CanonicalMessage(Self.context, fields: [
            .bytes(id), .text(union), .text(employer), .text(unitDescription), .uint64(unitSize), .text(language),
            .publicKey(cardKey), .publicKey(organizer), .uint64(createdAt),
        ])
    }

    /// Whether the organizer named in the record signed it as it is.
    public var hasValidSignature: Bool { organizer.isValidSignature(signature, for: statement) }

    /// What every card and revocation of this campaign names: BLAKE2b-256(statement ‖ signature).
    public var hash: [UInt8] { statement.hash(signedWith: signature) }

    /// `u8 1 ‖ id (16) ‖ LP(union) ‖ LP(employer) ‖ LP(unit) ‖ u64 size ‖ LP(language) ‖ card key (32)
    /// ‖ organizer (32) ‖ u64 created ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.version] + id
        for text in [union, employer, unitDescription] { out.appendLP(text) }
        out.appendU64(unitSize)
        out.appendLP(language)
        out += cardKey.rawRepresentation + organizer.rawRepresentation
        out.appendU64(createdAt)
        return out + signature.rawRepresentation
    }

    /// Parses a record; check `hasValidSignature` before trusting it.
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        let version = try reader.u8()
        guard version == Self.version else { throw CardError.unsupportedVersion(version) }
        self.init(id: try reader.read(16), union: try reader.text(), employer: try reader.text(),
                  unitDescription: try reader.text(), unitSize: try reader.u64(), language: try reader.text(),
                  cardKey: try reader.key(), organizer: try reader.key(), createdAt: try reader.u64(),
                  signature: Ed25519.Signature(unchecked: try reader.read(64)))
        try reader.finish()
        guard (1...Self.maximumUnitSize).contains(unitSize) else { throw CardError.malformed("unit size \(unitSize) is out of range") }
    }
}
