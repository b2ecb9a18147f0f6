import Foundation

// The ids the relay routes by (Protocol.md §7), as types of their own, so that a message id, a
// device key and a group id cannot be passed one for another across a module boundary. They hold
// the bytes as the wire carries them: what a hostile peer sends may have any length, and is
// checked where it is used.

/// A message's relay id (`message_id`, §7.4): 16 bytes the sender picks at random; a resend
/// reuses them, and acknowledgements name them.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    /// The length of an id a client picks.
    public static let byteCount = 16
    public let data: Data

    public init(_ data: Data) { self.data = data }
    public init(_ bytes: [UInt8]) { data = Data(bytes) }

    /// A fresh random id.
    public static func random() -> MessageID { MessageID(Random.bytes(byteCount)) }

    public var bytes: [UInt8] { Array(data) }
    /// Its first 4 bytes in hex, for logs and messages.
    public var description: String { Hex.encode(Array(data.prefix(4))) }
}

/// A device's key as the relay routes by it (`recipients`, `owner`, route members, §7.3–§7.6):
/// the 32 bytes of its Ed25519 public key.
public struct DeviceKey: Hashable, Sendable, CustomStringConvertible {
    public let data: Data

    public init(_ key: Ed25519.PublicKey) { data = Data(key.rawRepresentation) }
    public init(_ data: Data) { self.data = data }

    /// Its first 4 bytes in hex, as the relay's logs name devices.
    public var description: String { Hex.encode(Array(data.prefix(4))) }
}

/// A group's id (`group_id`, §7.4 and §8.1): 32 bytes fixed when the group is founded.
public struct GroupID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ data: Data) { bytes = Array(data) }

    public var data: Data { Data(bytes) }
    /// Its first 4 bytes in hex.
    public var description: String { Hex.encode(Array(bytes.prefix(4))) }
}
