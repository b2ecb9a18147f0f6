/// A one-to-one secure session: X3DH to start, then the Double Ratchet (Signal's specification)
/// with HKDF-SHA-256 root steps, HMAC-SHA-256 chain steps and XChaCha20-Poly1305 messages.
///
/// A session is a value: `encrypt` and `decrypt` change it, and a `decrypt` that throws leaves it
/// exactly as it was. Save `serialized()` after every step.
public struct Session: Sendable {
    /// Whether session message bytes are a session start (a prekey message, Protocol.md §6.3),
    /// by their type byte alone: nothing is opened or checked.
    public static func isStartMessage(_ message: [UInt8]) -> Bool { WireMessage.isStart(message) }

    /// Largest gap accepted within one receiving chain.
    public static let maximumSkipPerChain = 1000
    /// Most skipped-message keys kept in all; the oldest are erased beyond this.
    public static let maximumSkippedKeys = 2000
    /// Plaintexts are padded to a multiple of this many bytes.
    public static let paddingBlock = 64
    static let rootInfo = Array("caucus/ratchet-root/v1".utf8)
    static let messageKeyInput: [UInt8] = [0x01]
    static let chainKeyInput: [UInt8] = [0x02]
    /// How many earlier receiving ratchet keys are remembered to recognise replays from old chains.
    static let rememberedRatchetKeys = 32

    /// The peer's identity key.
    public let peerIdentity: Ed25519.PublicKey
    /// Whether this side started the session.
    public let isInitiator: Bool
    /// The session start both sides agreed on.
    let start: SessionStart
    /// Whether the session began with the hybrid start (X3DH and ML-KEM-768, Protocol.md §6.2),
    /// so that its secrets stay closed to someone who breaks X25519 later.
    public var isPostQuantum: Bool { start.kem != nil }
    /// initiator identity ‖ responder identity: bound into every message.
    let associatedData: [UInt8]

    var rootKey: SecureBytes
    var sendingRatchet: X25519.PrivateKey
    var sendingChain: SecureBytes
    var receivingRatchet: X25519.PublicKey?
    var receivingChain: SecureBytes?
    var sendCount: UInt32 = 0
    var receiveCount: UInt32 = 0
    var previousSendCount: UInt32 = 0
    var skipped = SkippedKeys()
    var oldReceivingRatchets: [X25519.PublicKey] = []
    /// The initiator repeats the start header until the first reply arrives.
    var awaitingReply: Bool

    // MARK: Starting

    /// Starts a session with the owner of `bundle` (its signed prekey, and its KEM prekey if any,
    /// must verify). With a KEM prekey the start is hybrid; a bundle whose signed prekey announces
    /// KEM prekeys but carries none is refused (`strippedKEMPrekey`).
    public static func initiate(identity: Ed25519.PrivateKey, bundle: PrekeyBundle) throws(SessionError) -> Session {
        try initiate(identity: identity, bundle: bundle, ephemeral: X25519.PrivateKey(), ratchet: X25519.PrivateKey())
    }

    /// As `initiate(identity:bundle:)`, with the X3DH ephemeral and first ratchet key pairs and
    /// the KEM encapsulation given (the test vectors in vectors/sessions.json fix them; everything
    /// else passes fresh ones); with `asBeforeKEM`, as a client from before KEM prekeys (see
    /// `X3DH.initiate`), for interoperability tests.
    static func initiate(
        identity: Ed25519.PrivateKey, bundle: PrekeyBundle, ephemeral: X25519.PrivateKey = X25519.PrivateKey(),
        ratchet: X25519.PrivateKey = X25519.PrivateKey(),
        encapsulate: (MLKEM.PublicKey) -> (ciphertext: [UInt8], sharedSecret: SecureBytes) = { $0.encapsulate() },
        asBeforeKEM: Bool = false
    ) throws(SessionError) -> Session {
        let (sharedKey, ephemeral, kem) = try X3DH.initiate(
            identity: identity, bundle: bundle, ephemeral: ephemeral, encapsulate: encapsulate, asBeforeKEM: asBeforeKEM)
        let start = SessionStart(
            initiator: identity.publicKey, ephemeral: ephemeral,
            signedPrekeyID: bundle.signedPrekeyID, oneTimePrekeyID: bundle.oneTimePrekey?.id, kem: kem)
        let (root, chain) = try kdfRoot(sharedKey, try X3DH.dh(ratchet, bundle.signedPrekey))
        return Session(
            peerIdentity: bundle.identity, isInitiator: true, start: start,
            associatedData: identity.publicKey.rawRepresentation + bundle.identity.rawRepresentation,
            rootKey: root, sendingRatchet: ratchet, sendingChain: chain,
            receivingRatchet: bundle.signedPrekey, receivingChain: nil, awaitingReply: true)
    }

    /// Accepts a session-start message, classical or hybrid: looks up the prekeys it names, runs
    /// X3DH (with ML-KEM decapsulation for a hybrid start) and decrypts it. The caller then
    /// deletes the one-time prekeys it named for good (`Session.startPrekeys`).
    public static func respond(
        to message: [UInt8], identity: Ed25519.PrivateKey,
        signedPrekey: (UInt32) -> SignedPrekey?, oneTimePrekey: (UInt32) -> OneTimePrekey?,
        kemPrekey: (UInt32) -> KEMPrekey? = { _ in nil }
    ) throws(SessionError) -> (Session, DecryptedMessage) {
        try respond(to: message, identity: identity, signedPrekey: signedPrekey, oneTimePrekey: oneTimePrekey,
                    kemPrekey: kemPrekey, nextRatchet: { X25519.PrivateKey() })
    }

    /// The prekey ids a session-start message names, read from its prefix alone (nothing is
    /// opened): nil when the bytes are not a well-formed start.
    public static func startPrekeys(_ message: [UInt8]) -> (signed: UInt32, oneTime: UInt32?, kem: UInt32?)? {
        guard let start = try? WireMessage.Prefix(parsing: message).start else { return nil }
        return (start.signedPrekeyID, start.oneTimePrekeyID, start.kem?.prekeyID)
    }

    /// As `respond(to:identity:signedPrekey:oneTimePrekey:kemPrekey:)`, with `nextRatchet` making
    /// the key pair of the first DH ratchet step (the test vectors fix it).
    static func respond(
        to message: [UInt8], identity: Ed25519.PrivateKey,
        signedPrekey: (UInt32) -> SignedPrekey?, oneTimePrekey: (UInt32) -> OneTimePrekey?,
        kemPrekey: (UInt32) -> KEMPrekey?, nextRatchet: () -> X25519.PrivateKey
    ) throws(SessionError) -> (Session, DecryptedMessage) {
        let parsed = try WireMessage(parsing: message)
        guard let start = parsed.start else { throw SessionError.malformed("not a session start") }
        guard let prekey = signedPrekey(start.signedPrekeyID) else { throw SessionError.unknownPrekey(start.signedPrekeyID) }
        var oneTime: OneTimePrekey?
        if let id = start.oneTimePrekeyID {
            guard let found = oneTimePrekey(id) else { throw SessionError.unknownPrekey(id) }
            oneTime = found
        }
        var kemSecret: SecureBytes?
        if let kem = start.kem {
            guard let found = kemPrekey(kem.prekeyID) else { throw SessionError.unknownPrekey(kem.prekeyID) }
            do { kemSecret = try found.privateKey.decapsulate(kem.ciphertext) } catch { throw SessionError.malformed("ML-KEM ciphertext") }
        }
        let sharedKey = try X3DH.respond(
            identity: identity, signedPrekey: prekey.privateKey, oneTimePrekey: oneTime?.privateKey,
            initiator: start.initiator, ephemeral: start.ephemeral, kemSecret: kemSecret)
        // As in the specification, the responder starts with RK = SK and its signed prekey as the
        // ratchet key; decrypting the first message performs the DH ratchet step that gives it real
        // chains. Until then `sendingChain` is never used, and `respond` returns only after that step.
        var session = Session(
            peerIdentity: start.initiator, isInitiator: false, start: start,
            associatedData: start.initiator.rawRepresentation + identity.publicKey.rawRepresentation,
            rootKey: sharedKey, sendingRatchet: prekey.privateKey, sendingChain: sharedKey,
            receivingRatchet: nil, receivingChain: nil, awaitingReply: false)
        let decrypted = try session.decrypt(message, nextRatchet: nextRatchet)
        return (session, decrypted)
    }

    // MARK: Messages

    /// Encrypts `plaintext` as the next message of this session.
    public mutating func encrypt(_ plaintext: [UInt8]) -> [UInt8] {
        let (messageKey, nextChain) = Self.chainStep(sendingChain)
        sendingChain = nextChain
        let header = MessageHeader(ratchet: sendingRatchet.publicKey, previousCount: previousSendCount, number: sendCount)
        sendCount += 1
        var message = WireMessage.encodePrefix(start: awaitingReply ? start : nil, header: header)
        let padded = try! Padding.pad(plaintext, blockSize: Self.paddingBlock)
        message.reserveCapacity(message.count + padded.count + XChaCha20Poly1305.overhead)
        XChaCha20Poly1305.seal(padded, using: try! SymmetricKey(bytes: messageKey),
                               authenticating: associatedData + message, appendingTo: &message)
        return message
    }

    /// Decrypts the peer's next message, in any order; replays, forgeries and oversize gaps throw
    /// and leave the session unchanged.
    public mutating func decrypt(_ message: [UInt8]) throws(SessionError) -> DecryptedMessage {
        try decrypt(message, nextRatchet: { X25519.PrivateKey() })
    }

    /// As `decrypt(_:)`, with `nextRatchet` making the key pair of a DH ratchet step, called only
    /// when the message needs one (the test vectors fix it).
    mutating func decrypt(_ message: [UInt8], nextRatchet: () -> X25519.PrivateKey) throws(SessionError) -> DecryptedMessage {
        let parsed = try WireMessage(parsing: message)
        if let start = parsed.start {
            guard !isInitiator, start == self.start else { throw SessionError.differentSession }
        }
        var next = self
        let result = try next.ratchetDecrypt(parsed, nextRatchet: nextRatchet)
        self = next
        return result
    }

    private mutating func ratchetDecrypt(_ message: WireMessage, nextRatchet: () -> X25519.PrivateKey) throws(SessionError) -> DecryptedMessage {
        let header = message.header
        let associated = associatedData + message.authenticatedPrefix
        if let key = skipped.remove(ratchet: header.ratchet, number: header.number) {
            let plaintext = try Self.open(message.body, key: key, associatedData: associated)
            awaitingReply = false
            return DecryptedMessage(plaintext: plaintext, events: [.lateArrival])
        }
        var missing = 0
        if header.ratchet != receivingRatchet || receivingChain == nil {
            guard !oldReceivingRatchets.contains(header.ratchet) else { throw SessionError.duplicate }
            missing += try skipMessageKeys(until: header.previousCount)
            try ratchetStep(header.ratchet, next: nextRatchet())
        }
        guard header.number >= receiveCount else { throw SessionError.duplicate }
        missing += try skipMessageKeys(until: header.number)
        let (messageKey, nextChain) = Self.chainStep(receivingChain!)
        receivingChain = nextChain
        receiveCount += 1
        let plaintext = try Self.open(message.body, key: messageKey, associatedData: associated)
        awaitingReply = false
        return DecryptedMessage(plaintext: plaintext, events: missing > 0 ? [.gap(missing: missing)] : [])
    }

    /// Stores the keys of messages `receiveCount..<until` of the current receiving chain.
    private mutating func skipMessageKeys(until target: UInt32) throws(SessionError) -> Int {
        guard let chain = receivingChain, let ratchet = receivingRatchet, target > receiveCount else { return 0 }
        let gap = Int(target - receiveCount)
        guard gap <= Self.maximumSkipPerChain else { throw SessionError.tooManySkipped(gap) }
        var current = chain
        while receiveCount < target {
            let (key, next) = Self.chainStep(current)
            skipped.insert(ratchet: ratchet, number: receiveCount, key: key, limit: Self.maximumSkippedKeys)
            current = next
            receiveCount += 1
        }
        receivingChain = current
        return gap
    }

    /// A Diffie-Hellman ratchet step on a new ratchet key from the peer.
    private mutating func ratchetStep(_ theirs: X25519.PublicKey, next: X25519.PrivateKey) throws(SessionError) {
        if let old = receivingRatchet {
            oldReceivingRatchets.append(old)
            if oldReceivingRatchets.count > Self.rememberedRatchetKeys { oldReceivingRatchets.removeFirst() }
        }
        previousSendCount = sendCount
        sendCount = 0
        receiveCount = 0
        receivingRatchet = theirs
        (rootKey, receivingChain) = try Self.kdfRoot(rootKey, try X3DH.dh(sendingRatchet, theirs))
        sendingRatchet = next
        (rootKey, sendingChain) = try Self.kdfRoot(rootKey, try X3DH.dh(sendingRatchet, theirs))
    }

    // MARK: Key derivation

    /// KDF_RK: HKDF(salt = root key, IKM = DH output, info "caucus/ratchet-root/v1") → new root ‖ chain key.
    static func kdfRoot(_ root: SecureBytes, _ dhOutput: X25519.SharedSecret) throws(SessionError) -> (SecureBytes, SecureBytes) {
        var salt = root.withUnsafeBytes { Array($0) }
        defer { wipe(&salt) }
        let output = try! HKDF.deriveKey(inputKeyMaterial: dhOutput.bytes, salt: salt, info: rootInfo, outputByteCount: 64)
        return output.withUnsafeBytes { bytes in
            (SecureBytes(copying: bytes[0..<32]), SecureBytes(copying: bytes[32..<64]))
        }
    }

    /// KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02).
    static func chainStep(_ chain: SecureBytes) -> (messageKey: SecureBytes, next: SecureBytes) {
        chain.withUnsafeBytes { key in
            // Key the HMAC once and fork it: two outputs for the price of one keying.
            let keyed = HMACSHA256.State(key: key)
            let messageKey = SecureBytes(count: 32) { out in
                let state = keyed.copy()
                state.update(messageKeyInput)
                state.finalize(into: out.baseAddress!)
            }
            let next = SecureBytes(count: 32) { out in
                keyed.update(chainKeyInput)
                keyed.finalize(into: out.baseAddress!)
            }
            return (messageKey, next)
        }
    }

    private static func open(_ body: ArraySlice<UInt8>, key: SecureBytes, associatedData: [UInt8]) throws(SessionError) -> [UInt8] {
        var plaintext: [UInt8]
        do {
            plaintext = try XChaCha20Poly1305.open(body, using: try SymmetricKey(bytes: key), authenticating: associatedData)
        } catch {
            throw .authenticationFailed
        }
        do { try Padding.unpad(&plaintext, blockSize: paddingBlock) } catch { throw .malformed("bad padding") }
        return plaintext
    }
}

/// The X3DH facts a session-start message carries.
struct SessionStart: Equatable, Sendable {
    let initiator: Ed25519.PublicKey
    let ephemeral: X25519.PublicKey
    let signedPrekeyID: UInt32
    let oneTimePrekeyID: UInt32?
    /// The KEM prekey and ciphertext of a hybrid start; nil for a classical one.
    var kem: KEMStart? = nil
}

/// The post-quantum part of a hybrid session start: which KEM prekey, and the ML-KEM ciphertext.
struct KEMStart: Equatable, Sendable {
    let prekeyID: UInt32
    let ciphertext: [UInt8]
}

/// The Double Ratchet header: sender's ratchet key, length of its previous chain, message number.
struct MessageHeader: Equatable, Sendable {
    let ratchet: X25519.PublicKey
    let previousCount: UInt32
    let number: UInt32
}

/// Keys of skipped messages, oldest first, erased (zeroed) when used or evicted.
struct SkippedKeys: Sendable {
    struct ID: Hashable, Sendable {
        let ratchet: X25519.PublicKey
        let number: UInt32
    }
    private(set) var keys: [ID: SecureBytes] = [:]
    private(set) var order: [ID] = []

    var count: Int { keys.count }

    mutating func insert(ratchet: X25519.PublicKey, number: UInt32, key: SecureBytes, limit: Int) {
        let id = ID(ratchet: ratchet, number: number)
        keys[id] = key
        order.append(id)
        while order.count > limit {
            keys[order.removeFirst()] = nil
        }
    }

    mutating func remove(ratchet: X25519.PublicKey, number: UInt32) -> SecureBytes? {
        let id = ID(ratchet: ratchet, number: number)
        guard let key = keys.removeValue(forKey: id) else { return nil }
        order.removeAll { $0 == id }
        return key
    }
}
