/// Why a session could not be started or a message not decrypted. The session is unchanged.
public enum SessionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a session message (the reason says where).
    case malformed(String)
    /// A message or state format version this build does not know.
    case unsupportedVersion(UInt8)
    /// The prekey bundle's signed prekey is not signed by its identity.
    case invalidPrekeySignature
    /// A public key is unusable (low order, or not a valid point).
    case invalidKey
    /// The session start names a prekey this device does not have (used up or never made).
    case unknownPrekey(UInt32)
    /// This message was already decrypted, or its key was discarded: a replay.
    case duplicate
    /// The message claims more than the allowed number of skipped messages in one chain.
    case tooManySkipped(Int)
    /// The message failed authentication: forged, altered, or for another session.
    case authenticationFailed
    /// A session-start message that belongs to a different session than this one.
    case differentSession
    /// The bundle's signed prekey says its owner publishes ML-KEM prekeys, but the bundle has
    /// none: the relay (or someone between) stripped it to force a classical-only start.
    case strippedKEMPrekey

    public var description: String {
        switch self {
        case .malformed(let reason): return "malformed session message: \(reason)"
        case .unsupportedVersion(let v): return "unsupported session format version \(v)"
        case .invalidPrekeySignature: return "the prekey is not signed by the peer's identity"
        case .invalidKey: return "the peer sent an unusable public key"
        case .unknownPrekey(let id): return "no prekey with id \(id) (already used, or never published)"
        case .duplicate: return "message already received (replay)"
        case .tooManySkipped(let n): return "message claims \(n) skipped messages, more than allowed"
        case .authenticationFailed: return "message failed authentication (forged or altered)"
        case .differentSession: return "message starts a different session"
        case .strippedKEMPrekey:
            return "the peer's signed prekey says it publishes post-quantum (ML-KEM) prekeys, but none came with it: the relay stripped it"
        }
    }
}

/// What the receiver should know about a decrypted message besides its text.
public enum SessionEvent: Equatable, Sendable {
    /// Messages before this one have not arrived (yet): dropped or delayed. Their keys are kept.
    case gap(missing: Int)
    /// This message arrived after later ones (it fills an earlier gap).
    case lateArrival
}

/// A decrypted message and what was noticed about its delivery.
public struct DecryptedMessage: Equatable, Sendable {
    /// The sender's plaintext.
    public let plaintext: [UInt8]
    /// Gaps and reorderings noticed while decrypting it.
    public let events: [SessionEvent]
}
