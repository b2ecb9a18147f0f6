import CaucusCrypto

/// Appends the big-endian, length-prefixed fields of client payloads (Protocol.md §9.1).
package struct PayloadWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func u8(_ value: UInt8) { bytes.append(value) }

    package mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }

    package mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }

    /// Fixed-length bytes (ids, keys): written as they are.
    package mutating func fixed(_ value: [UInt8]) { bytes += value }

    /// Variable-length bytes: `u32 length ‖ bytes`.
    package mutating func data(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes += value
    }

    /// UTF-8 text: `u32 length ‖ bytes`.
    package mutating func text(_ value: String) { data(Array(value.utf8)) }

    /// Overwrites what was written (the payload held a secret).
    package mutating func wipe() { CaucusCrypto.wipe(&bytes) }
}

/// Reads the fields `PayloadWriter` writes from untrusted bytes; a read past the end throws.
package struct PayloadReader {
    private let bytes: [UInt8]
    private var offset = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var remaining: Int { bytes.count - offset }

    package mutating func fixed(_ count: Int) throws(PayloadError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw PayloadError.truncated }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    package mutating func u8() throws(PayloadError) -> UInt8 { try fixed(1)[0] }

    package mutating func u32() throws(PayloadError) -> UInt32 {
        try fixed(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    package mutating func u64() throws(PayloadError) -> UInt64 {
        try fixed(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    package mutating func data(limit: Int = 1 << 20) throws(PayloadError) -> [UInt8] {
        let count = Int(try u32())
        guard count <= limit else { throw PayloadError.fieldTooLong(count) }
        return try fixed(count)
    }

    package mutating func text(limit: Int = 1 << 16) throws(PayloadError) -> String {
        let raw = try data(limit: limit)
        guard let text = String(validating: raw, as: UTF8.self) else { throw PayloadError.invalidText }
        return text
    }

    package mutating func publicKey() throws(PayloadError) -> Ed25519.PublicKey {
        do { return try Ed25519.PublicKey(rawRepresentation: try fixed(32)) } catch { throw PayloadError.truncated }
    }

    /// `LP(bytes)` parsed by `parse`, whose errors become `invalid(what: …)`.
    package mutating func record<T>(_ what: String, limit: Int, _ parse: ([UInt8]) throws -> T) throws(PayloadError) -> T {
        let bytes = try data(limit: limit)
        do { return try parse(bytes) } catch { throw PayloadError.invalid("\(what): \(error)") }
    }

    package func finish() throws(PayloadError) {
        guard remaining == 0 else { throw PayloadError.trailingBytes(remaining) }
    }
}

/// Why a decrypted payload could not be understood. It came from an authenticated peer, so this
/// means a newer or broken client, never a forgery.
public enum PayloadError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case trailingBytes(Int)
    case fieldTooLong(Int)
    case invalidText
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case invalid(String)

    public var description: String {
        switch self {
        case .truncated: "payload is truncated"
        case .trailingBytes(let n): "payload has \(n) unexpected bytes at its end"
        case .fieldTooLong(let n): "payload field of \(n) bytes is longer than allowed"
        case .invalidText: "payload text is not valid UTF-8"
        case .unsupportedVersion(let v): "payload version \(v) is newer than this client"
        case .unknownKind(let k): "payload kind \(k) is unknown to this client"
        case .invalid(let why): "invalid payload: \(why)"
        }
    }
}
