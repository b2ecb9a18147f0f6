import Foundation

/// The six things the labor board needs on an authorization card, and nothing else.
public struct CardFields: Hashable, Sendable {
    /// The signer's name.
    public var name: String
    /// An email address or other way to reach the signer.
    public var contact: String
    /// The signer's phone number.
    public var phone: String
    /// The employer's name (copied from the campaign).
    public var employer: String
    /// The exact authorization language (copied from the campaign).
    public var language: String
    /// The date signed, `YYYY-MM-DD`.
    public var date: String

    /// The six fields.
    public init(name: String, contact: String, phone: String, employer: String, language: String, date: String) {
        self.name = name
        self.contact = contact
        self.phone = phone
        self.employer = employer
        self.language = language
        self.date = date
    }

    /// Each field's name and value, in the signed order.
    public var named: [(String, String)] {
        [("name", name), ("contact", contact), ("phone", phone), ("employer", employer), ("language", language), ("date", date)]
    }

    /// Refuses empty or over-long fields, a malformed date, and anything the board must not get.
    public func validate() throws(CardError) {
        for (field, value, limit) in [("name", name, 256), ("contact", contact, 256), ("phone", phone, 64),
                                      ("employer", employer, 256), ("language", language, 16384), ("date", date, 10)] {
            try Self.check(field, value, limit: limit)
        }
        guard Self.isDate(date) else { throw CardError.invalidField("the date must be a calendar date written YYYY-MM-DD") }
        if let (field, what) = forbiddenContent { throw CardError.forbiddenContent(field: field, what: what) }
    }

    static func check(_ field: String, _ value: String, limit: Int) throws(CardError) {
        guard !isBlank(value) else { throw CardError.invalidField("\(field) is empty") }
        guard value.utf8.count <= limit else { throw CardError.invalidField("\(field) is longer than \(limit) bytes") }
    }

    /// Whether nothing is left once whitespace and newlines are trimmed from the ends.
    static func isBlank(_ text: String) -> Bool {
        // A printable ASCII character is never trimmed, so most values need no Foundation.
        !text.utf8.contains { (0x21...0x7E).contains($0) } && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// `YYYY-MM-DD` naming a day of the Gregorian calendar from 1900 on (2026-02-30 is not one).
    static func isDate(_ text: String) -> Bool { dayNumber(text) != nil }

    /// Days from 1970-01-01 to the date `YYYY-MM-DD` (year from 1900), or nil when it is not a
    /// calendar date. Split and counted as UTF-8 bytes: a date is ASCII, and text that is not never
    /// parses as three numbers.
    public static func dayNumber(_ text: String) -> Int? {
        let parts = text.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy { (0x30...0x39).contains($0) } }),
              let year = Int(Substring(parts[0])), let month = Int(Substring(parts[1])), let day = Int(Substring(parts[2])),
              year >= 1900, (1...12).contains(month)
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...lengths[month - 1]).contains(day) else { return nil }
        // Days from the civil date (proleptic Gregorian), counted from March so leap days come last.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400, yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The UTC calendar date, `YYYY-MM-DD`, of a time in Unix milliseconds.
    public static func utcDate(_ milliseconds: UInt64) -> String {
        let days = Int(milliseconds / 86_400_000) + 719_468
        let era = days / 146_097, dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// Whether `date` is the signer's calendar date at `signedAt` in some time zone: the UTC date
    /// of `signedAt`, the day before or the day after (zones run from UTC-12 to UTC+14).
    public static func date(_ date: String, agreesWith signedAt: UInt64) -> Bool {
        guard let day = dayNumber(date) else { return false }
        return abs(day - Int(signedAt / 86_400_000)) <= 1
    }

    /// The first field (other than the campaign's own employer and language) that holds what a
    /// card must never carry: a US social security number, or a date of birth.
    public var forbiddenContent: (field: String, what: String)? {
        for (field, value) in [("name", name), ("contact", contact), ("phone", phone)] {
            if let what = Self.forbiddenContent(in: value, datesAllowed: field == "phone") { return (field, what) }
        }
        return nil
    }
}

/// A signed union authorization card (Protocol.md §10.2): the six fields, bound to one campaign
/// and the signer's identity, signed with the signer's identity key.
public struct Card: Hashable, Sendable {
    /// Context tag of the signer's signature.
    public static let context = SigningContext("caucus/card/v1")
    static let type: UInt8 = 0x21

    /// The campaign's hash.
    public let campaign: [UInt8]
    /// What the signer filled in.
    public let fields: CardFields
    /// The signer's identity key (their DID).
    public let signer: Ed25519.PublicKey
    /// Unix milliseconds, signer's clock.
    public let signedAt: UInt64
    /// The signer's signature over `statement`.
    public let signature: Ed25519.Signature

    /// Checks the fields against the campaign and signs the card.
    public static func sign(_ fields: CardFields, for campaign: Campaign, by signer: Ed25519.PrivateKey, at time: UInt64) throws(CardError) -> Card {
        try fields.validate()
        guard CardFields.date(fields.date, agreesWith: time) else {
            throw CardError.invalidField("the date is not the day of signing (\(CardFields.utcDate(time)) in UTC, give or take a day)")
        }
        guard fields.employer == campaign.employer else { throw CardError.invalidField("the employer differs from the campaign's") }
        guard fields.language == campaign.language else { throw CardError.invalidField("the language differs from the campaign's") }
        let statement = statement(campaign: campaign.hash, fields: fields, signer: signer.publicKey, signedAt: time)
        return Card(campaign: campaign.hash, fields: fields, signer: signer.publicKey, signedAt: time,
                    signature: signer.signature(for: statement))
    }

    init(campaign: [UInt8], fields: CardFields, signer: Ed25519.PublicKey, signedAt: UInt64, signature: Ed25519.Signature) {
        self.campaign = campaign
        self.fields = fields
        self.signer = signer
        self.signedAt = signedAt
        self.signature = signature
    }

    static func statement(campaign: [UInt8], fields: CardFields, signer: Ed25519.PublicKey, signedAt: UInt64) -> CanonicalMessage {
        CanonicalMessage(context, fields: [
            .bytes(campaign), .text(fields.name), .text(fields.contact), .text(fields.phone), .text(fields.employer),
            .text(fields.language), .text(fields.date), .publicKey(signer), .uint64(signedAt),
        ])
    }

    /// The canonical bytes the signer signed.
    public var statement: CanonicalMessage { Self.statement(campaign: campaign, fields: fields, signer: signer, signedAt: signedAt) }

    /// Whether the signer's signature verifies.
    public var hasValidSignature: Bool { signer.isValidSignature(signature, for: statement) }

    /// BLAKE2b-256(statement ‖ signature): what a revocation and a receipt name.
    public var hash: [UInt8] { statement.hash(signedWith: signature) }

    /// `0x21 ‖ campaign hash (32) ‖ 6 × LP(field) ‖ signer (32) ‖ u64 signed at ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + campaign
        for (_, value) in fields.named { out.appendLP(value) }
        out += signer.rawRepresentation
        out.appendU64(signedAt)
        return out + signature.rawRepresentation
    }

    init(reading reader: inout CardReader) throws(CardError) {
        let campaign = try reader.read(32)
        let fields = CardFields(name: try reader.text(), contact: try reader.text(), phone: try reader.text(),
                                employer: try reader.text(), language: try reader.text(), date: try reader.text())
        self.init(campaign: campaign, fields: fields, signer: try reader.key(), signedAt: try reader.u64(),
                  signature: Ed25519.Signature(unchecked: try reader.read(64)))
    }
}

/// A signer's withdrawal of one of their cards (Protocol.md §10.3).
public struct CardRevocation: Hashable, Sendable {
    /// Context tag of the signer's signature.
    public static let context = SigningContext("caucus/card-revocation/v1")
    static let type: UInt8 = 0x22

    /// The campaign's hash.
    public let campaign: [UInt8]
    /// The hash of the card withdrawn.
    public let card: [UInt8]
    /// Who revokes (must be the card's signer to count).
    public let signer: Ed25519.PublicKey
    /// Unix milliseconds, signer's clock.
    public let revokedAt: UInt64
    /// The signer's signature over `statement`.
    public let signature: Ed25519.Signature

    /// Signs the withdrawal of `card`.
    public static func sign(revoking card: Card, by signer: Ed25519.PrivateKey, at time: UInt64) -> CardRevocation {
        let statement = statement(campaign: card.campaign, card: card.hash, signer: signer.publicKey, revokedAt: time)
        return CardRevocation(campaign: card.campaign, card: card.hash, signer: signer.publicKey, revokedAt: time,
                              signature: signer.signature(for: statement))
    }

    init(campaign: [UInt8], card: [UInt8], signer: Ed25519.PublicKey, revokedAt: UInt64, signature: Ed25519.Signature) {
        self.campaign = campaign
        self.card = card
        self.signer = signer
        self.revokedAt = revokedAt
        self.signature = signature
    }

    static func statement(campaign: [UInt8], card: [UInt8], signer: Ed25519.PublicKey, revokedAt: UInt64) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.bytes(campaign), .bytes(card), .publicKey(signer), .uint64(revokedAt)])
    }

    /// The canonical bytes the signer signed.
    public var statement: CanonicalMessage { Self.statement(campaign: campaign, card: card, signer: signer, revokedAt: revokedAt) }

    /// Whether the signature verifies.
    public var hasValidSignature: Bool { signer.isValidSignature(signature, for: statement) }

    /// `0x22 ‖ campaign hash (32) ‖ card hash (32) ‖ signer (32) ‖ u64 revoked at ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + campaign + card + signer.rawRepresentation
        out.appendU64(revokedAt)
        return out + signature.rawRepresentation
    }

    init(reading reader: inout CardReader) throws(CardError) {
        self.init(campaign: try reader.read(32), card: try reader.read(32), signer: try reader.key(),
                  revokedAt: try reader.u64(), signature: Ed25519.Signature(unchecked: try reader.read(64)))
    }
}

/// What travels, sealed, to a campaign's card inbox: a card or a revocation.
public enum CardItem: Hashable, Sendable {
    case card(Card)
    case revocation(CardRevocation)

    /// The item's bytes (`0x21 ‖ card` or `0x22 ‖ revocation`).
    public func encoded() -> [UInt8] {
        switch self {
        case .card(let card): card.encoded()
        case .revocation(let revocation): revocation.encoded()
        }
    }

    /// Parses an item (signatures are checked by the tally).
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        switch try reader.u8() {
        case Card.type: self = .card(try Card(reading: &reader))
        case CardRevocation.type: self = .revocation(try CardRevocation(reading: &reader))
        case let other: throw CardError.malformed("unknown card item type \(other)")
        }
        try reader.finish()
    }

    /// Seals the item to the campaign's card key: only its holders can open it; the relay holds ciphertext.
    public func sealed(for campaign: Campaign) throws(CardError) -> [UInt8] {
        let recipient: X25519.PublicKey
        do { recipient = try X25519.PublicKey(converting: campaign.cardKey) } catch { throw CardError.invalidField("the campaign's card key") }
        var bytes = encoded()
        defer { wipe(&bytes) }
        return SealedBox.seal(bytes, to: recipient)
    }

    /// Opens a sealed item with the campaign's card key.
    public init(opening sealed: [UInt8], with cardKey: Ed25519.PrivateKey) throws(CardError) {
        try self.init(opening: sealed, with: X25519.PrivateKey(converting: cardKey))
    }

    /// Opens a sealed item with the card key's X25519 form (converted once for many items).
    public init(opening sealed: [UInt8], with agreementKey: X25519.PrivateKey) throws(CardError) {
        var bytes: [UInt8]
        do { bytes = try SealedBox.open(sealed, with: agreementKey) } catch { throw CardError.cannotOpen }
        defer { wipe(&bytes) }
        try self.init(encoded: bytes)
    }
}
