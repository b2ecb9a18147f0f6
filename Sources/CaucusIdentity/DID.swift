/// A Caucus identity's public name: a `did:key` for its Ed25519 key,
/// `did:key:z` + base58btc(0xed 0x01 ‖ public key), which always begins `did:key:z6Mk`.
public struct DID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The method prefix every Caucus DID starts with.
    public static let prefix = "did:key:"
    /// Multibase prefix for base58btc.
    static let multibaseBase58btc: Character = "z"
    /// Multicodec varint for an Ed25519 public key (code 0xed).
    static let ed25519Codec: [UInt8] = [0xed, 0x01]
    /// Multicodec varint for an X25519 public key (code 0xec).
    static let x25519Codec: [UInt8] = [0xec, 0x01]
    /// Longest identifier accepted before decoding (a valid one is 48 characters).
    static let maximumIdentifierLength = 128

    /// The identity key this DID names.
    public let publicKey: Ed25519.PublicKey

    /// The DID of `publicKey`.
    public init(publicKey: Ed25519.PublicKey) {
        self.publicKey = publicKey
    }

    /// Parses `did:key:z6Mk…`, rejecting anything that is not exactly a valid Ed25519 did:key.
    public init(parsing text: String) throws(DIDError) {
        guard text.hasPrefix(Self.prefix) else { throw DIDError.wrongPrefix }
        let identifier = text.dropFirst(Self.prefix.count)
        guard let multibase = identifier.first else { throw DIDError.wrongLength(byteCount: 0) }
        guard multibase == Self.multibaseBase58btc else { throw DIDError.unsupportedMultibase(multibase) }
        let encoded = identifier.dropFirst()
        guard encoded.utf8.count <= Self.maximumIdentifierLength else {
            throw DIDError.wrongLength(byteCount: nil)
        }
        let bytes: [UInt8]
        switch Base58.decode(String(encoded)) {
        case .success(let decoded): bytes = decoded
        case .failure(let bad): throw DIDError.badBase58(offset: bad.offset + Self.prefix.count + 1, character: bad.character)
        }
        let (codec, varintLength) = try Self.readVarint(bytes)
        guard codec == 0xed else { throw DIDError.unknownCodec(codec) }
        // A non-minimal varint (0xed 0x81 0x00 …) decodes to the same codec; refuse it, so that
        // every key has exactly one DID string.
        guard varintLength == Self.ed25519Codec.count else { throw DIDError.unknownCodec(codec) }
        let key = Array(bytes[varintLength...])
        guard key.count == 32 else { throw DIDError.wrongLength(byteCount: key.count) }
        let publicKey = try! Ed25519.PublicKey(rawRepresentation: key)
        guard publicKey.isValidPoint else { throw DIDError.invalidKey }
        self.publicKey = publicKey
    }

    /// Accepts the text form; nil when `init(parsing:)` would throw.
    public init?(_ description: String) {
        guard let did = try? DID(parsing: description) else { return nil }
        self = did
    }

    /// The method-specific identifier, `z6Mk…`.
    public var identifier: String {
        String(Self.multibaseBase58btc) + Base58.encode(Self.ed25519Codec + publicKey.rawRepresentation)
    }

    /// `did:key:z6Mk…`.
    public var description: String { Self.prefix + identifier }

    /// The X25519 key that did:key derives from this identity key.
    public func keyAgreementKey() throws(CryptoError) -> X25519.PublicKey {
        try X25519.PublicKey(converting: publicKey)
    }

    /// The did:key identifier of the derived X25519 key, `z6LS…` (the fragment of its verification method).
    public func keyAgreementIdentifier() throws(CryptoError) -> String {
        String(Self.multibaseBase58btc) + Base58.encode(Self.x25519Codec + (try keyAgreementKey()).rawRepresentation)
    }

    /// An unsigned LEB128 varint as multicodec uses (at most 9 bytes), and its length.
    private static func readVarint(_ bytes: [UInt8]) throws(DIDError) -> (UInt64, Int) {
        var value: UInt64 = 0
        for (index, byte) in bytes.prefix(9).enumerated() {
            value |= UInt64(byte & 0x7f) << (7 * UInt64(index))
            if byte & 0x80 == 0 { return (value, index + 1) }
        }
        throw DIDError.wrongLength(byteCount: bytes.count)
    }
}

/// Why a string is not a Caucus DID.
public enum DIDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text does not start with `did:key:`.
    case wrongPrefix
    /// The identifier is not base58btc (multibase prefix `z`).
    case unsupportedMultibase(Character)
    /// A character outside the base58btc alphabet, at this offset in the whole string.
    case badBase58(offset: Int, character: Character)
    /// The multicodec is not Ed25519 public key (0xed), or is not minimally encoded.
    case unknownCodec(UInt64)
    /// The key is not 32 bytes (nil when the identifier was far too long to decode).
    case wrongLength(byteCount: Int?)
    /// The 32 bytes are not a valid Ed25519 public key (not on the curve, or of low order).
    case invalidKey

    public var description: String {
        switch self {
        case .wrongPrefix:
            return "not a DID: it must start with did:key:"
        case .unsupportedMultibase(let prefix):
            return "unsupported multibase prefix '\(prefix)': Caucus DIDs use base58btc ('z')"
        case let .badBase58(offset, character):
            return "invalid base58 character '\(character)' at position \(offset)"
        case .unknownCodec(let code):
            let name = code == 0xec ? " (an X25519 key, not an identity key)" : ""
            return "unknown key type 0x\(String(code, radix: 16))\(name): Caucus DIDs hold Ed25519 keys (0xed)"
        case .wrongLength(let count?):
            return "wrong key length: \(count) bytes, expected 32"
        case .wrongLength(nil):
            return "wrong length: the identifier is far longer than a did:key"
        case .invalidKey:
            return "the key in this DID is not a valid Ed25519 public key"
        }
    }
}
