import CaucusCrypto

/// What a one-to-one message carries on the relay (Protocol.md §9.2):
/// `u8 version (1) ‖ sealed box (80) of the sender's Ed25519 identity key ‖ session message (§6.3)`.
/// The seal hides from the relay who wrote; only the recipient's identity opens it.
public struct PairwiseEnvelope: Sendable, Equatable {
    public static let version: UInt8 = 1
    /// The sealed sender's length: a 32-byte key and the sealed box's overhead.
    public static let sealedSenderLength = 32 + SealedBox.overhead

    /// The sealed box holding the sender's identity key.
    public let sealedSender: [UInt8]
    /// The session message (§6.3), opened by the session it belongs to.
    public let sessionMessage: [UInt8]

    /// Wraps a session message that `sender` wrote for `recipient`.
    public init(sessionMessage: [UInt8], from sender: Ed25519.PublicKey, to recipient: Ed25519.PublicKey) throws {
        sealedSender = SealedBox.seal(sender.rawRepresentation, to: try X25519.PublicKey(converting: recipient))
        self.sessionMessage = sessionMessage
    }

    /// Splits envelope bytes into their parts; throws `PayloadError` when they are not an
    /// envelope of this version (nothing is opened).
    public init(parsing bytes: [UInt8]) throws(PayloadError) {
        guard let version = bytes.first else { throw PayloadError.truncated }
        guard version == Self.version else { throw PayloadError.unsupportedVersion(version) }
        guard bytes.count > 1 + Self.sealedSenderLength else { throw PayloadError.truncated }
        sealedSender = Array(bytes[1...Self.sealedSenderLength])
        sessionMessage = Array(bytes[(1 + Self.sealedSenderLength)...])
    }

    /// The envelope's bytes.
    public func encoded() -> [UInt8] { [Self.version] + sealedSender + sessionMessage }

    /// The sender the seal names, opened with the recipient's identity. It proves nothing until
    /// the session message opens in a session with that sender.
    public func sender(openedWith identity: Ed25519.PrivateKey) throws -> Ed25519.PublicKey {
        try Ed25519.PublicKey(rawRepresentation: try SealedBox.open(sealedSender, with: X25519.PrivateKey(converting: identity)))
    }

    /// Whether the session message is a session start (a prekey message, §6.3).
    public var isSessionStart: Bool { Session.isStartMessage(sessionMessage) }
}
