import CaucusCrypto

/// What a one-to-one message carries on the relay (Protocol.md §9.2):
/// `u8 version ‖ sealed box of the sender ‖ session message (§6.3)`, sealed to the recipient
/// device. Version 1 seals the sender's identity key alone (80 bytes): the identity's first
/// device, whose device key is the identity key. Version 2 seals the identity key and the
/// sending device's key (112 bytes), for every later device (§2.2). The seal hides from the relay
/// who wrote; only the recipient device's key opens it.
public struct PairwiseEnvelope: Sendable, Equatable {
    /// Who the seal names: the identity, and the device that wrote.
    public struct Sender: Sendable, Equatable, Hashable {
        public let identity: Ed25519.PublicKey
        public let device: Ed25519.PublicKey

        public init(identity: Ed25519.PublicKey, device: Ed25519.PublicKey) {
            self.identity = identity
            self.device = device
        }

        /// The identity's first device: its device key is the identity key.
        public init(firstDeviceOf identity: Ed25519.PublicKey) { self.init(identity: identity, device: identity) }

        /// Whether the device is the identity's first one.
        public var isFirstDevice: Bool { identity == device }
    }

    /// The first byte of a version 1 envelope (the first device writes).
    public static let version: UInt8 = 1
    /// The first byte of a version 2 envelope (a later device writes).
    public static let deviceVersion: UInt8 = 2

    /// The sealed sender's length in a version 1 envelope: a 32-byte key and the sealed box's overhead.
    public static let sealedSenderLength = 32 + SealedBox.overhead
    /// The sealed sender's length in a version 2 envelope: two 32-byte keys and the overhead.
    public static let sealedDeviceSenderLength = 64 + SealedBox.overhead

    /// 1 or 2.
    public let version: UInt8
    /// The sealed box holding the sender.
    public let sealedSender: [UInt8]
    /// The session message (§6.3), opened by the session it belongs to.
    public let sessionMessage: [UInt8]

    /// Wraps a session message that `sender` wrote for the device `recipient`.
    public init(sessionMessage: [UInt8], from sender: Sender, to recipient: Ed25519.PublicKey) throws {
        version = sender.isFirstDevice ? Self.version : Self.deviceVersion
        let named = sender.isFirstDevice ? sender.identity.rawRepresentation : sender.identity.rawRepresentation + sender.device.rawRepresentation
        sealedSender = SealedBox.seal(named, to: try X25519.PublicKey(converting: recipient))
        self.sessionMessage = sessionMessage
    }

    /// Wraps a session message that the first device of `sender` wrote for the device `recipient`.
    public init(sessionMessage: [UInt8], from sender: Ed25519.PublicKey, to recipient: Ed25519.PublicKey) throws {
        try self.init(sessionMessage: sessionMessage, from: Sender(firstDeviceOf: sender), to: recipient)
    }

    /// Splits envelope bytes into their parts; throws `PayloadError` when they are not an
    /// envelope of a known version (nothing is opened).
    public init(parsing bytes: [UInt8]) throws(PayloadError) {
        guard let version = bytes.first else { throw PayloadError.truncated }
        let length: Int
        switch version {
        case Self.version: length = Self.sealedSenderLength
        case Self.deviceVersion: length = Self.sealedDeviceSenderLength
        default: throw PayloadError.unsupportedVersion(version)
        }
        guard bytes.count > 1 + length else { throw PayloadError.truncated }
        self.version = version
        sealedSender = Array(bytes[1...length])
        sessionMessage = Array(bytes[(1 + length)...])
    }

    /// The envelope's bytes.
    public func encoded() -> [UInt8] { [version] + sealedSender + sessionMessage }

    /// The sender the seal names, opened with the recipient device's key. It proves nothing until
    /// the session message opens in a session with that device, and (version 2) the identity's
    /// device chain lists the device (§2.2). A version 2 seal naming the identity key as its
    /// device is refused: that is what version 1 says.
    public func sender(openedWith device: Ed25519.PrivateKey) throws -> Sender {
        let named = try SealedBox.open(sealedSender, with: X25519.PrivateKey(converting: device))
        let identity = try Ed25519.PublicKey(rawRepresentation: Array(named.prefix(32)))
        guard version == Self.deviceVersion else { return Sender(firstDeviceOf: identity) }
        let sender = Sender(identity: identity, device: try Ed25519.PublicKey(rawRepresentation: Array(named.suffix(32))))
        guard !sender.isFirstDevice else { throw PayloadError.invalid("a version 2 envelope names the identity key as its device") }
        return sender
    }

    /// Whether the session message is a session start (a prekey message, §6.3).
    public var isSessionStart: Bool { Session.isStartMessage(sessionMessage) }
}
