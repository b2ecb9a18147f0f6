import CaucusIdentity
import Foundation

/// Keys and ids as an operator types them to `caucus-relay` (`ban`, `unban`, `prune --card-inbox`).
public enum OperatorKeyText {
    /// Text that names no key of the kind asked for, with the forms that are accepted.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// A device key (Protocol.md §7.3): 64 hex digits as the protocol spells it, the device's DID
    /// as `caucus whoami` shows it (`did:key:z6Mk…`; a device key is its identity key), or the
    /// 44-character base64 the PostgreSQL store's notices use. It must be a valid Ed25519 key.
    public static func deviceKey(_ text: String) throws(Invalid) -> Data {
        let forms = "give the device key as 64 hex digits, as a DID (did:key:z6Mk…, what `caucus whoami` shows), or in base64"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix(DID.prefix) {
            do {
                return Data(try DID(parsing: trimmed).publicKey.rawRepresentation)
            } catch {
                throw Invalid(description: "\(text) is not a device's DID: \(error)")
            }
        }
        let bytes: Data
        if let hex = Hex.decode(trimmed), hex.count == 32 {
            bytes = Data(hex)
        } else if trimmed.count == 44, let decoded = Data(base64Encoded: trimmed), decoded.count == 32 {
            bytes = decoded
        } else {
            throw Invalid(description: "\(text) is not a device key: \(forms)")
        }
        guard let key = try? Ed25519.PublicKey(rawRepresentation: Array(bytes)), key.isValidPoint else {
            throw Invalid(description: "\(text) is 32 bytes but not an Ed25519 public key, so no device has it (a typo?)")
        }
        return bytes
    }

    /// A device key as `caucus-relay bans` shows it: hex, and the DID its owner sees (nil when the
    /// bytes are no Ed25519 key).
    public static func show(deviceKey: Data) -> (hex: String, did: String?) {
        let did = (try? Ed25519.PublicKey(rawRepresentation: Array(deviceKey))).map { DID(publicKey: $0).description }
        return (Hex.encode(deviceKey), did)
    }

    /// Bytes as lower-case hex.
    public static func hex(_ bytes: Data) -> String { Hex.encode(bytes) }

    /// A card inbox's key (`inbox_key`, Protocol.md §7.7): 64 hex digits.
    public static func cardInbox(_ text: String) throws(Invalid) -> Data {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let hex = Hex.decode(trimmed), hex.count == 32 else {
            throw Invalid(description: "\(text) is not a card inbox id: give the inbox key as 64 hex digits")
        }
        return Data(hex)
    }
}
