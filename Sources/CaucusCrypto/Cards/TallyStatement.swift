/// The organizers' signed account of one tally (Protocol.md §10.9): which campaign, when, how many
/// cards counted, against which unit size (and unit list), and the root of the Merkle tree over
/// the counted cards' hashes. Signed with the campaign's card key, it commits the organizers to
/// exactly that set of cards: an evidence bundle with a card added, removed or changed, or a
/// different unit size, no longer matches it, and each signer can check that their card is in it.
public struct TallyStatement: Hashable, Sendable {
    /// Context tag of the card key's signature.
    public static let context = SigningContext("caucus/tally-statement/v1")
    static let type: UInt8 = 0x25
    /// The length of `encoded()`.
    public static let encodedLength = 1 + 32 + 8 * 3 + 32 + 32 + 64
    /// The unit-list hash of a tally made without a list.
    public static let noUnitList = [UInt8](repeating: 0, count: 32)

    /// The campaign's hash.
    public let campaign: [UInt8]
    /// The tally's "now" (Unix ms).
    public let talliedAt: UInt64
    /// How many cards counted: the tree's leaves.
    public let counted: UInt64
    /// The unit size the share is counted against.
    public let unitSize: UInt64
    /// BLAKE2b-256 of the unit list file's bytes, or 32 zero bytes without one.
    public let unitList: [UInt8]
    /// The root of `CardMerkleTree` over the counted cards' hashes in ascending order.
    public let root: [UInt8]
    /// The card key's signature.
    public let signature: Ed25519.Signature

    /// The counted cards' hashes in the order the tree and the evidence bundle use: ascending bytes.
    public static func leaves(_ cards: [Card]) -> [[UInt8]] {
        cards.map(\.hash).sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Signs the statement of a tally that counted `cards`.
    public static func sign(campaign: Campaign, counted cards: [Card], unitSize: UInt64, unitList: [UInt8]?,
                            at time: UInt64, cardKey: Ed25519.PrivateKey) -> TallyStatement {
        let root = CardMerkleTree(leaves(cards)).root
        let unitList = unitList ?? noUnitList
        let message = statement(campaign: campaign.hash, talliedAt: time, counted: UInt64(cards.count), unitSize: unitSize,
                                unitList: unitList, root: root)
        return TallyStatement(campaign: campaign.hash, talliedAt: time, counted: UInt64(cards.count), unitSize: unitSize,
                              unitList: unitList, root: root, signature: cardKey.signature(for: message))
    }

    public init(campaign: [UInt8], talliedAt: UInt64, counted: UInt64, unitSize: UInt64, unitList: [UInt8], root: [UInt8],
                signature: Ed25519.Signature) {
        self.campaign = campaign
        self.talliedAt = talliedAt
        self.counted = counted
        self.unitSize = unitSize
        self.unitList = unitList
        self.root = root
        self.signature = signature
    }

    static func statement(campaign: [UInt8], talliedAt: UInt64, counted: UInt64, unitSize: UInt64, unitList: [UInt8],
                          root: [UInt8]) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.bytes(campaign), .uint64(talliedAt), .uint64(counted), .uint64(unitSize),
                                           .bytes(unitList), .bytes(root)])
    }

    private var message: CanonicalMessage {
        Self.statement(campaign: campaign, talliedAt: talliedAt, counted: counted, unitSize: unitSize, unitList: unitList, root: root)
    }

    /// BLAKE2b-256(canonical bytes ‖ signature).
    public var hash: [UInt8] { message.hash(signedWith: signature) }

    /// Whether the campaign's card key signed this statement about this campaign.
    public func isSigned(for campaign: Campaign) -> Bool {
        self.campaign == campaign.hash && unitList.count == 32 && root.count == 32
            && campaign.cardKey.isValidSignature(signature, for: message)
    }

    /// `0x25 ‖ campaign hash (32) ‖ u64 tallied at ‖ u64 counted ‖ u64 unit size ‖ unit list hash (32)
    /// ‖ root (32) ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + campaign
        out.appendU64(talliedAt)
        out.appendU64(counted)
        out.appendU64(unitSize)
        return out + unitList + root + signature.rawRepresentation
    }

    /// Parses a statement; check `isSigned(for:)` before trusting it.
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        guard try reader.u8() == Self.type else { throw CardError.malformed("not a tally statement") }
        self.init(campaign: try reader.read(32), talliedAt: try reader.u64(), counted: try reader.u64(), unitSize: try reader.u64(),
                  unitList: try reader.read(32), root: try reader.read(32), signature: Ed25519.Signature(unchecked: try reader.read(64)))
        try reader.finish()
    }
}
