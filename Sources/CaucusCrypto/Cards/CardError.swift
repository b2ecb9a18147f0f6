/// Why a campaign, card, revocation or receipt was refused. Never carries a card field's value.
public enum CardError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not the record they claim to be (the reason says where).
    case malformed(String)
    /// A format version this build does not know.
    case unsupportedVersion(UInt8)
    /// A field is empty, too long or not allowed (named, value withheld).
    case invalidField(String)
    /// A field holds something the labor board must never receive (a date of birth, a social
    /// security number or similar): the field's name, never its value.
    case forbiddenContent(field: String, what: String)
    /// The signature does not verify.
    case badSignature
    /// The sealed item does not open with the campaign's card key.
    case cannotOpen

    public var description: String {
        switch self {
        case .malformed(let why): "malformed card record: \(why)"
        case .unsupportedVersion(let v): "card record version \(v) is not supported by this version of Caucus"
        case .invalidField(let why): "invalid card field: \(why)"
        case let .forbiddenContent(field, what): "the \(field) field looks like it holds \(what), which a card must never carry"
        case .badSignature: "the signature does not verify"
        case .cannotOpen: "the sealed card does not open with this campaign's card key"
        }
    }
}
