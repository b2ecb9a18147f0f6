/// A medium-term X25519 key whose public half the identity signs, published on the relay so that
/// others can start a session while its owner is offline (X3DH's "signed prekey").
public struct SignedPrekey: Sendable {
    /// Context tag of the prekey signature.
    public static let context = SigningContext("caucus/signed-prekey/v1")

    /// The high bit of a signed prekey's id: set, it says that its owner also publishes ML-KEM
    /// prekeys, so a bundle with this signed prekey and no KEM prekey was stripped (Protocol.md
    /// §6.1). The signature covers the id, so a relay cannot clear the bit.
    public static let announcesKEMPrekeys: UInt32 = 0x8000_0000

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

/// A signed ML-KEM-768 key pair (PQXDH's "post-quantum prekey"), one-time or last-resort: a
/// session starter encapsulates a secret to it, which the session's first secret mixes in.
public struct KEMPrekey: Sendable {
    /// Context tag of the KEM prekey signature.
    public static let context = SigningContext("caucus/kem-prekey/v1")

    /// Number the owner chose; one-time and last-resort KEM prekeys share one counter.
    public let id: UInt32
    /// The decapsulation key (kept as its seed) and the encapsulation key.
    public let privateKey: MLKEM.PrivateKey
    /// The device key's signature over `statement(identity, id, publicKey)`.
    public let signature: Ed25519.Signature

    /// A fresh KEM prekey signed by `identity` (the device key).
    public init(id: UInt32, identity: Ed25519.PrivateKey) {
        self.id = id
        privateKey = MLKEM.PrivateKey()
        signature = identity.signature(for: Self.statement(identity: identity.publicKey, id: id, key: privateKey.publicKey))
    }

    init(id: UInt32, privateKey: MLKEM.PrivateKey, signature: Ed25519.Signature) {
        self.id = id
        self.privateKey = privateKey
        self.signature = signature
    }

    /// The canonical bytes the device signs: tag, device key, prekey id, encapsulation key.
    public static func statement(identity: Ed25519.PublicKey, id: UInt32, key: MLKEM.PublicKey) -> CanonicalMessage {
        CanonicalMessage(context, fields: [.publicKey(identity), .uint64(UInt64(id)), .bytes(key.rawRepresentation)])
    }

    /// Length of `publishedBytes`.
    public static let publishedByteCount = 4 + MLKEM.publicKeyByteCount + 64

    /// How a client publishes it on the relay (Protocol.md §7.5): `u32 id ‖ encapsulation key
    /// (1,184) ‖ signature (64)`, 1,252 bytes.
    public var publishedBytes: [UInt8] {
        withUnsafeBytes(of: id.bigEndian, Array.init) + privateKey.publicKey.rawRepresentation + signature.rawRepresentation
    }
}

/// A peer's KEM prekey as a bundle carries it.
public struct PublishedKEMPrekey: Hashable, Sendable {
    public let id: UInt32
    public let key: MLKEM.PublicKey
    public let signature: Ed25519.Signature

    public init(id: UInt32, key: MLKEM.PublicKey, signature: Ed25519.Signature) {
        self.id = id
        self.key = key
        self.signature = signature
    }

    /// Parses `KEMPrekey.publishedBytes`; the key must pass FIPS 203's check, the signature is
    /// checked with the bundle.
    public init(published bytes: [UInt8]) throws(SessionError) {
        guard bytes.count == KEMPrekey.publishedByteCount else {
            throw SessionError.malformed("a published KEM prekey is \(KEMPrekey.publishedByteCount) bytes, not \(bytes.count)")
        }
        let keyEnd = 4 + MLKEM.publicKeyByteCount
        do {
            self.init(
                id: bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) },
                key: try MLKEM.PublicKey(rawRepresentation: Array(bytes[4..<keyEnd])),
                signature: try Ed25519.Signature(rawRepresentation: Array(bytes[keyEnd...])))
        } catch {
            throw SessionError.invalidKey
        }
    }
}

/// What a session starter fetches about its peer: identity, signed prekey and maybe a one-time
/// prekey and a KEM prekey.
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
    /// An ML-KEM prekey (one-time, or the last-resort one), when the owner publishes them.
    public let kemPrekey: PublishedKEMPrekey?

    /// A bundle as received; nothing is verified until a session is started from it.
    public init(
        identity: Ed25519.PublicKey, signedPrekeyID: UInt32, signedPrekey: X25519.PublicKey,
        signedPrekeySignature: Ed25519.Signature, oneTimePrekey: (id: UInt32, key: X25519.PublicKey)?,
        kemPrekey: PublishedKEMPrekey? = nil
    ) {
        self.identity = identity
        self.signedPrekeyID = signedPrekeyID
        self.signedPrekey = signedPrekey
        self.signedPrekeySignature = signedPrekeySignature
        self.oneTimePrekey = oneTimePrekey
        self.kemPrekey = kemPrekey
    }

    /// A bundle as fetched from the relay (Protocol.md 7.5): the owner's identity key, the
    /// published signed prekey (`SignedPrekey.publishedBytes`), maybe a one-time prekey and maybe
    /// a published KEM prekey (`KEMPrekey.publishedBytes`). Only the layout (and that the KEM key
    /// is a valid one) is checked here; `hasValidSignature` checks the signatures.
    public init(
        identity: [UInt8], publishedSignedPrekey bytes: [UInt8], oneTimePrekey: (id: UInt32, key: [UInt8])?,
        publishedKEMPrekey: [UInt8]? = nil
    ) throws(SessionError) {
        guard bytes.count == SignedPrekey.publishedByteCount else {
            throw SessionError.malformed("a published signed prekey is \(SignedPrekey.publishedByteCount) bytes, not \(bytes.count)")
        }
        do {
            self.init(
                identity: try Ed25519.PublicKey(rawRepresentation: identity),
                signedPrekeyID: bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) },
                signedPrekey: try X25519.PublicKey(rawRepresentation: Array(bytes[4..<36])),
                signedPrekeySignature: try Ed25519.Signature(rawRepresentation: Array(bytes[36..<100])),
                oneTimePrekey: try oneTimePrekey.map { ($0.id, try X25519.PublicKey(rawRepresentation: $0.key)) },
                kemPrekey: try publishedKEMPrekey.map { bytes throws(SessionError) in try PublishedKEMPrekey(published: bytes) })
        } catch let error as SessionError {
            throw error
        } catch {
            throw SessionError.invalidKey
        }
    }

    /// The bundle a device publishes for its own prekeys.
    public init(identity: Ed25519.PublicKey, signedPrekey: SignedPrekey, oneTimePrekey: OneTimePrekey?, kemPrekey: KEMPrekey? = nil) {
        self.init(
            identity: identity, signedPrekeyID: signedPrekey.id, signedPrekey: signedPrekey.privateKey.publicKey,
            signedPrekeySignature: signedPrekey.signature,
            oneTimePrekey: oneTimePrekey.map { ($0.id, $0.privateKey.publicKey) },
            kemPrekey: kemPrekey.map { PublishedKEMPrekey(id: $0.id, key: $0.privateKey.publicKey, signature: $0.signature) })
    }

    /// Whether the identity really signed the signed prekey, and the KEM prekey when there is one.
    public var hasValidSignature: Bool {
        identity.isValidSignature(
            signedPrekeySignature,
            for: SignedPrekey.statement(identity: identity, id: signedPrekeyID, key: signedPrekey))
            && kemPrekey.map { kem in
                identity.isValidSignature(kem.signature, for: KEMPrekey.statement(identity: identity, id: kem.id, key: kem.key))
            } ?? true
    }

    /// Whether the signed prekey says its owner publishes KEM prekeys (§6.1) while the bundle
    /// carries none: a relay stripped it, to make the session start classical only.
    public var isStripped: Bool {
        signedPrekeyID & SignedPrekey.announcesKEMPrekeys != 0 && kemPrekey == nil
    }

    public static func == (a: PrekeyBundle, b: PrekeyBundle) -> Bool {
        a.identity == b.identity && a.signedPrekeyID == b.signedPrekeyID && a.signedPrekey == b.signedPrekey
            && a.signedPrekeySignature == b.signedPrekeySignature
            && a.oneTimePrekey?.id == b.oneTimePrekey?.id && a.oneTimePrekey?.key == b.oneTimePrekey?.key
            && a.kemPrekey == b.kemPrekey
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(identity)
        hasher.combine(signedPrekeyID)
        hasher.combine(oneTimePrekey?.id)
    }
}
