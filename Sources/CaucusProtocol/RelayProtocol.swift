import CaucusIdentity
import Foundation

/// Constants of the relay wire protocol, version 1 (Protocol.md section 7).
public enum RelayProtocol {
    /// The protocol version this code speaks.
    public static let version: UInt32 = 1
    /// The WebSocket path of the relay.
    public static let path = "/v1/ws"
    /// Ed25519 public keys (devices, routing admin keys, inbox keys).
    public static let keyLength = 32
    public static let signatureLength = 64
    public static let challengeLength = 32
    public static let messageIDLength = 16
    public static let groupIDLength = 32
    public static let blobIDLength = 16
    public static let cardItemIDLength = 16
    /// Message ids one `AckMessages` may carry.
    public static let maxAcknowledgedIDs = 1_000
    /// The largest recovery box a relay keeps for a paper key (§7.8).
    public static let maxRecoveryBoxBytes = 262_144
    /// The largest KEM prekey, last-resort or one-time, a relay keeps (§7.5).
    public static let maxKEMPrekeyBytes = 2_048
    /// The smallest `max_frame_bytes` a relay announces (§7.9): a client pads its frames up to
    /// it before the Welcome says more.
    public static let minimumFrameBytes = 4_096

    /// `caucus/relay-auth/v1`: what a device signs to authenticate a connection.
    public static let authContext = SigningContext("caucus/relay-auth/v1")
    /// `caucus/group-routing/v1`: what a group's routing admin key signs to change its route.
    public static let groupRoutingContext = SigningContext("caucus/group-routing/v1")
    /// `caucus/card-inbox-open/v1`: what a campaign's inbox key signs to read its inbox.
    public static let cardInboxOpenContext = SigningContext("caucus/card-inbox-open/v1")

    /// The bytes a device signs to authenticate: relay address, challenge, device key.
    public static func authenticationStatement(
        relayAddress: String, challenge: Data, deviceKey: Data
    ) -> CanonicalMessage {
        CanonicalMessage(authContext, fields: [
            .text(relayAddress), .bytes(Array(challenge)), .bytes(Array(deviceKey)),
        ])
    }

    /// The bytes a routing admin key signs for one change of a group's route. Device lists are
    /// one field each: the keys concatenated in the order they travel.
    public static func groupRoutingStatement(
        groupID: Data, serial: UInt64, adminKey: Data, add: [Data], remove: [Data]
    ) -> CanonicalMessage {
        CanonicalMessage(groupRoutingContext, fields: [
            .bytes(Array(groupID)), .uint64(serial), .bytes(Array(adminKey)),
            .bytes(add.flatMap { Array($0) }), .bytes(remove.flatMap { Array($0) }),
        ])
    }

    /// The bytes an inbox key signs to read its inbox on one connection.
    public static func cardInboxOpenStatement(
        relayAddress: String, challenge: Data, inboxKey: Data
    ) -> CanonicalMessage {
        CanonicalMessage(cardInboxOpenContext, fields: [
            .text(relayAddress), .bytes(Array(challenge)), .bytes(Array(inboxKey)),
        ])
    }

    /// Normalises a relay URL to the form signed in authentication: lower-case scheme and host,
    /// the port only when it is not the scheme's default, no path, no trailing slash.
    public static func normalizedAddress(_ url: String) -> String? {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), scheme == "ws" || scheme == "wss",
              let host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        let defaultPort = scheme == "wss" ? 443 : 80
        if let port = components.port, port != defaultPort {
            return "\(scheme)://\(host):\(port)"
        }
        return "\(scheme)://\(host)"
    }
}

/// A typed refusal from the relay: a code from the table in Protocol.md 7.10 and a text.
public struct RelayError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: WireErrorCode
    public var message: String
    public var retryAfterMilliseconds: UInt32

    public init(_ code: WireErrorCode, _ message: String, retryAfterMilliseconds: UInt32 = 0) {
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }

    public init(_ wire: WireError) {
        self.init(wire.code, wire.message, retryAfterMilliseconds: wire.retryAfterMs)
    }

    public var wire: WireError {
        var error = WireError()
        error.code = code
        error.message = message
        error.retryAfterMs = retryAfterMilliseconds
        return error
    }

    public var description: String { "\(code.name): \(message)" }
}

extension WireErrorCode {
    /// The code's name as Protocol.md writes it, e.g. `RATE_LIMITED`.
    public var name: String {
        switch self {
        case .unspecified: "ERROR_CODE_UNSPECIFIED"
        case .malformedFrame: "MALFORMED_FRAME"
        case .unsupportedVersion: "UNSUPPORTED_VERSION"
        case .protocolViolation: "PROTOCOL_VIOLATION"
        case .unauthenticated: "UNAUTHENTICATED"
        case .badSignature: "BAD_SIGNATURE"
        case .staleChallenge: "STALE_CHALLENGE"
        case .replayedChallenge: "REPLAYED_CHALLENGE"
        case .wrongRelayAddress: "WRONG_RELAY_ADDRESS"
        case .frameTooLarge: "FRAME_TOO_LARGE"
        case .payloadTooLarge: "PAYLOAD_TOO_LARGE"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .rateLimited: "RATE_LIMITED"
        case .mailboxFull: "MAILBOX_FULL"
        case .quotaExceeded: "QUOTA_EXCEEDED"
        case .connectionLimit: "CONNECTION_LIMIT"
        case .notFound: "NOT_FOUND"
        case .forbidden: "FORBIDDEN"
        case .conflict: "CONFLICT"
        case .shuttingDown: "SHUTTING_DOWN"
        case .internal: "INTERNAL"
        case .UNRECOGNIZED(let value): "UNRECOGNIZED(\(value))"
        }
    }
}

/// A short, non-identifying tag for logs: the first 4 bytes of a key or id in hex.
public func logTag(_ bytes: Data) -> String {
    bytes.prefix(4).map { String(format: "%02x", $0) }.joined() + "…"
}
