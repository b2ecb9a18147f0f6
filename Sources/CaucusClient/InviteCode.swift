import CaucusCrypto
import Foundation

/// A one-time group invite as text (Protocol.md §9.4): who invites, which invite, its secret and
/// the relay to meet on. The invite is redeemed by a join request to the inviter, who admits the
/// joiner once and only before the invite expires.
public struct InviteCode: Sendable, Equatable {
    /// Text every invite starts with.
    public static let prefix = "caucus-invite:"
    static let version: UInt8 = 1
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

    /// What `caucus invite list` and `caucus invite withdraw` call it: hex of the invite id's first 4 bytes.
    public var shortID: String { Account.shortID(invite: inviteID) }

    /// An invite with the given parts.
    public init(inviter: Ed25519.PublicKey, inviteID: [UInt8], secret: [UInt8], relay: String) {
        self.inviter = inviter
        self.inviteID = inviteID
        self.secret = secret
        self.relay = relay
    }

    /// `caucus-invite:` + base58btc(`u8 version ‖ inviter (32) ‖ invite id (16) ‖ secret (16) ‖
    /// relay URL (UTF-8) ‖ BLAKE2b-32 checksum of all before it (4)`).
    public var text: String {
        let body = [Self.version] + inviter.rawRepresentation + inviteID + secret + Array(relay.utf8)
        return Self.prefix + Base58.encode(body + Self.checksum(body))
    }

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
        guard body[0] == Self.version else {
            throw ClientError.invalidInvite("invite version \(body[0]) needs a newer Caucus")
        }
        guard let inviter = try? Ed25519.PublicKey(rawRepresentation: Array(body[1..<33])), inviter.isValidPoint,
              let relay = String(validating: body[65...], as: UTF8.self), relay.hasPrefix("ws")
        else { throw ClientError.invalidInvite("its contents are not valid") }
        self.init(inviter: inviter, inviteID: Array(body[33..<49]), secret: Array(body[49..<65]), relay: relay)
    }

    private static func checksum(_ body: [UInt8]) -> [UInt8] {
        try! BLAKE2b.hash(body, outputByteCount: 32).prefix(checksumByteCount).map { $0 }
    }
}
