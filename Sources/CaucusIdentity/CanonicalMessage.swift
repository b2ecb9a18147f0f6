/// A domain-separation tag that starts every signed message, `caucus/<name>/v<version>`.
public struct SigningContext: Hashable, Sendable, CustomStringConvertible {
    /// The tag's ASCII text.
    public let tag: String

    /// A tag written in the source; a malformed tag is a programming error and stops the program.
    public init(_ tag: StaticString) {
        let text = tag.description
        precondition(Self.isWellFormed(text), "malformed signing context tag")
        self.tag = text
    }

    /// `caucus/` + one or more of [a-z0-9-] + `/v` + decimal digits.
    static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "caucus", !parts[1].isEmpty,
              parts[1].allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }),
              parts[2].count >= 2, parts[2].first == "v",
              parts[2].dropFirst().allSatisfy({ $0.isASCII && $0.isNumber })
        else { return false }
        return true
    }

    public var description: String { tag }
}

/// The exact bytes a Caucus signature covers: the context tag, then each field, every one
/// length-prefixed: `u32be(len(tag)) ‖ tag ‖ u32be(len(f1)) ‖ f1 ‖ …`.
///
/// Different tags or field lists can never produce the same bytes, and a verifier rebuilds them
/// from the fields, never by re-serialising an object.
public struct CanonicalMessage: Hashable, Sendable {
    /// The context the message was started with.
    public let context: SigningContext
    /// The encoded bytes so far (what is signed).
    public private(set) var bytes: [UInt8]

    /// A message holding only its context tag.
    public init(_ context: SigningContext) {
        self.init(context, fields: [])
    }

    /// A message with `fields` appended in order.
    public init(_ context: SigningContext, fields: [CanonicalField]) {
        self.context = context
        bytes = []
        bytes.reserveCapacity(fields.reduce(4 + context.tag.utf8.count) { $0 + 4 + $1.byteCount })
        appendField(context.tag.utf8)
        for field in fields { append(field) }
    }

    /// Appends one field.
    public mutating func append(_ field: CanonicalField) {
        switch field {
        case .bytes(let value): appendField(value)
        case .text(let value): appendField(value.utf8)
        case .uint64(let value): withUnsafeBytes(of: value.bigEndian) { appendField($0) }
        case .publicKey(let key): appendField(key.rawRepresentation)
        }
    }

    private mutating func appendField(_ field: some Collection<UInt8>) {
        precondition(field.count <= Int(UInt32.max), "canonical field over 4 GiB")
        withUnsafeBytes(of: UInt32(field.count).bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: field)
    }
}

extension CanonicalMessage {
    /// BLAKE2b-256(bytes ‖ signature): the id of a signed statement, which later statements link to.
    public func hash(signedWith signature: Ed25519.Signature) -> [UInt8] {
        var hasher = try! BLAKE2b.Hasher(outputByteCount: 32)
        hasher.update(bytes)
        hasher.update(signature.rawRepresentation)
        return hasher.finalize()
    }
}

/// One field of a canonical message, with its fixed encoding.
public enum CanonicalField: Hashable, Sendable {
    /// Raw bytes, as they are.
    case bytes([UInt8])
    /// Text as UTF-8, exactly as given (no normalisation).
    case text(String)
    /// An unsigned integer as 8 bytes, big-endian.
    case uint64(UInt64)
    /// An Ed25519 public key's 32 bytes.
    case publicKey(Ed25519.PublicKey)

    /// Length of the encoded value (without its length prefix).
    var byteCount: Int {
        switch self {
        case .bytes(let value): value.count
        case .text(let value): value.utf8.count
        case .uint64: 8
        case .publicKey(let key): key.rawRepresentation.count
        }
    }
}
