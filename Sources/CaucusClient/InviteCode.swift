import CaucusCrypto
import Foundation

/// A one-time group invite as text (Protocol.md §9.4): who invites, which invite, its secret and
/// the relay to meet on. The invite is redeemed by a join request to the inviter, who admits the
/// joiner once and only before the invite expires.
public struct InviteCode: Sendable, Equatable {
    /// Text every invite starts with.
    public static let prefix = "caucus-invite:"
    /// The version written: 2 carries the expiry; version 1 codes (without it) are still read.
    static let version: UInt8 = 2
    static let checksumByteCount = 4
    /// Longest invite text read (base58 decoding takes time quadratic in the length; a real
    /// invite with a long relay URL is a few hundred characters).
    static let maximumTextLength = 1024

    /// The inviting admin's identity.
    public let inviter: Ed25519.PublicKey
    /// Names the invite among the inviter's invites (16 random bytes).
    public let inviteID: [UInt8]
    /// Proves the joiner holds this code (16 random bytes).
    public let secret: [UInt8]
    /// The relay where the inviter receives the join request.
    public let relay: String
    /// When the inviter stops accepting it, in whole seconds (nil in a version 1 code): a joiner
    /// refuses an expired code at once instead of asking.
    public let expiresAt: Date?

    /// What `caucus invite list` and `caucus invite withdraw` call it: hex of the invite id's first 4 bytes.
    public var shortID: String { Account.shortID(invite: inviteID) }

    /// An invite with the given parts.
    public init(inviter: Ed25519.PublicKey, inviteID: [UInt8], secret: [UInt8], relay: String, expiresAt: Date? = nil) {
        self.inviter = inviter
        self.inviteID = inviteID
        self.secret = secret
        self.relay = relay
        self.expiresAt = expiresAt.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down)) }
    }

    /// `caucus-invite:` + base58btc(`u8 version (2) ‖ inviter (32) ‖ invite id (16) ‖ secret (16) ‖
    /// expiry (u64 big-endian, Unix seconds) ‖ relay URL (UTF-8) ‖ BLAKE2b-32 checksum of all before
    /// it (4)`); version 1 has no expiry field. A code without an expiry is written as version 1.
    public var text: String {
        var body = [expiresAt == nil ? 1 : Self.version] + inviter.rawRepresentation + inviteID + secret
        if let expiresAt {
            let seconds = UInt64(max(0, expiresAt.timeIntervalSince1970))
            body += (0..<8).reversed().map { UInt8(truncatingIfNeeded: seconds >> ($0 * 8)) }
        }
        body += Array(relay.utf8)
        return Self.prefix + Base58.encode(body + Self.checksum(body))
    }

    /// Whether it has expired by `now` (never, for a version 1 code).
    public func hasExpired(at now: Date = Date()) -> Bool { expiresAt.map { $0 <= now } ?? false }

    /// Parses an invite, telling a mistyped or cut code from one of an unknown version.
    public init(parsing text: String) throws(ClientError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix(Self.prefix) else {
            throw ClientError.invalidInvite("an invite starts with \(Self.prefix)")
        }
        guard trimmed.utf8.count <= Self.maximumTextLength else {
            throw ClientError.invalidInvite("it is far longer than an invite (\(Self.maximumTextLength) characters at most)")
        }
        let bytes: [UInt8]
        switch Base58.decode(String(trimmed.dropFirst(Self.prefix.count))) {
        case .success(let decoded): bytes = decoded
        case .failure: throw ClientError.invalidInvite("it contains a character that cannot be in an invite (mistyped?)")
        }
        guard bytes.count > 1 + 32 + 16 + 16 + Self.checksumByteCount else {
            throw ClientError.invalidInvite("it is too short (cut off?)")
        }
        let body = Array(bytes.dropLast(Self.checksumByteCount))
        guard ConstantTime.equals(Array(bytes.suffix(Self.checksumByteCount)), Self.checksum(body)) else {
            throw ClientError.invalidInvite("its checksum does not match (mistyped or cut off?)")
        }
        guard body[0] == 1 || body[0] == Self.version else {
            throw ClientError.invalidInvite("invite version \(body[0]) needs a newer Caucus")
        }
        let relayStart = body[0] == 1 ? 65 : 73
        guard body.count > relayStart,
              let inviter = try? Ed25519.PublicKey(rawRepresentation: Array(body[1..<33])), inviter.isValidPoint,
              let relay = String(validating: body[relayStart...], as: UTF8.self),
              relay.hasPrefix("ws://") || relay.hasPrefix("wss://")
        else { throw ClientError.invalidInvite("its contents are not valid") }
        let expiresAt = body[0] == 1 ? nil
            : Date(timeIntervalSince1970: Double(body[65..<73].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
        self.init(inviter: inviter, inviteID: Array(body[33..<49]), secret: Array(body[49..<65]), relay: relay, expiresAt: expiresAt)
    }

    private static func checksum(_ body: [UInt8]) -> [UInt8] {
        try! BLAKE2b.hash(body, outputByteCount: 32).prefix(checksumByteCount).map { $0 }
    }
}
