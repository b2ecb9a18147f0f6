/// A medium-term X25519 key whose public half the identity signs, published on the relay so that
/// others can start a session while its owner is offline (X3DH's "signed prekey").
public struct SignedPrekey: Sendable {
    /// Context tag of the prekey signature.
    public static let context = SigningContext("caucus/signed-prekey/v1")

    /// Number the owner chose, so a session start can name which prekey it used.
    public let id: UInt32
    /// The agreement key pair.
    public let privateKey: X25519.PrivateKey
    /// The identity's signature over `statement(identity, id, publicKey)`.
    public let signature: Ed25519.Signature

    /// A fresh signed prekey for `identity`.
    public init(id: UInt32, identity: Ed25519.PrivateKey) {
        self.id = id
        privateKey = X25519.PrivateKey()
        signature = identity.signature(for: Self.statement(identity: identity.publicKey, id: id, key: privateKey.publicKey))
    }

    /// The canonical bytes the identity signs: tag, identity key, prekey id, prekey.
    public static func statement(identity: Ed25519.PublicKey, id: UInt32, key: X25519.PublicKey) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.publicKey(identity), .uint64(UInt64(id)), .bytes(key.rawRepresentation)])
    }

    /// Length of `publishedBytes`.
    public static let publishedByteCount = 4 + 32 + 64

    /// How a client publishes it on the relay (Protocol.md 7.5): `u32 id ‖ X25519 public key ‖
    /// signature`, 100 bytes.
    public var publishedBytes: [UInt8] {
        withUnsafeBytes(of: id.bigEndian, Array.init) + privateKey.publicKey.rawRepresentation + signature.rawRepresentation
    }
}

/// A single-use X25519 key, published in batches; each is handed to at most one session starter.
public struct OneTimePrekey: Sendable {
    /// Number the owner chose.
    public let id: UInt32
    /// The agreement key pair.
    public let privateKey: X25519.PrivateKey

    /// A fresh one-time prekey.
    public init(id: UInt32) {
        self.id = id
        privateKey = X25519.PrivateKey()
    }
}

/// What a session starter fetches about its peer: identity, signed prekey and maybe a one-time prekey.
public struct PrekeyBundle: Hashable, Sendable {
    /// The peer's identity key.
    public let identity: Ed25519.PublicKey
    /// The signed prekey's id.
    public let signedPrekeyID: UInt32
    /// The signed prekey.
    public let signedPrekey: X25519.PublicKey
    /// The identity's signature over the signed prekey.
    public let signedPrekeySignature: Ed25519.Signature
    /// A one-time prekey, when the relay still had one.
    public let oneTimePrekey: (id: UInt32, key: X25519.PublicKey)?

    /// A bundle as received; nothing is verified until a session is started from it.
    public init(
        identity: Ed25519.PublicKey, signedPrekeyID: UInt32, signedPrekey: X25519.PublicKey,
        signedPrekeySignature: Ed25519.Signature, oneTimePrekey: (id: UInt32, key: X25519.PublicKey)?
    ) {
        self.identity = identity
        self.signedPrekeyID = signedPrekeyID
        self.signedPrekey = signedPrekey
        self.signedPrekeySignature = signedPrekeySignature
        self.oneTimePrekey = oneTimePrekey
    }

    /// A bundle as fetched from the relay (Protocol.md 7.5): the owner's identity key, the
    /// published signed prekey (`SignedPrekey.publishedBytes`) and maybe a one-time prekey.
    /// Only the layout is checked here; `hasValidSignature` checks the signature.
    public init(identity: [UInt8], publishedSignedPrekey bytes: [UInt8], oneTimePrekey: (id: UInt32, key: [UInt8])?) throws(SessionError) {
        guard bytes.count == SignedPrekey.publishedByteCount else {
            throw SessionError.malformed("a published signed prekey is \(SignedPrekey.publishedByteCount) bytes, not \(bytes.count)")
        }
        do {
            self.init(
                identity: try Ed25519.PublicKey(rawRepresentation: identity),
                signedPrekeyID: bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) },
                signedPrekey: try X25519.PublicKey(rawRepresentation: Array(bytes[4..<36])),
                signedPrekeySignature: try Ed25519.Signature(rawRepresentation: Array(bytes[36..<100])),
                oneTimePrekey: try oneTimePrekey.map { ($0.id, try X25519.PublicKey(rawRepresentation: $0.key)) })
        } catch {
            throw SessionError.invalidKey
        }
    }

    /// The bundle a device publishes for its own prekeys.
    public init(identity: Ed25519.PublicKey, signedPrekey: SignedPrekey, oneTimePrekey: OneTimePrekey?) {
        self.init(
            identity: identity, signedPrekeyID: signedPrekey.id, signedPrekey: signedPrekey.privateKey.publicKey,
            signedPrekeySignature: signedPrekey.signature,
            oneTimePrekey: oneTimePrekey.map { ($0.id, $0.privateKey.publicKey) })
    }

    /// Whether the identity really signed the signed prekey.
    public var hasValidSignature: Bool {
        identity.isValidSignature(
            signedPrekeySignature,
            for: SignedPrekey.statement(identity: identity, id: signedPrekeyID, key: signedPrekey))
    }

    public static func == (a: PrekeyBundle, b: PrekeyBundle) -> Bool {
        a.identity == b.identity && a.signedPrekeyID == b.signedPrekeyID && a.signedPrekey == b.signedPrekey
            && a.signedPrekeySignature == b.signedPrekeySignature
            && a.oneTimePrekey?.id == b.oneTimePrekey?.id && a.oneTimePrekey?.key == b.oneTimePrekey?.key
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(identity)
        hasher.combine(signedPrekeyID)
        hasher.combine(oneTimePrekey?.id)
    }
}
