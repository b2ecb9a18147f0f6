/// Reads big-endian fields from untrusted bytes; every read past the end throws.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Bytes not yet read.
    var remaining: Int { bytes.count - offset }

    mutating func read(_ count: Int) throws(SessionError) -> [UInt8] { Array(try slice(count)) }

    /// The next `count` bytes, as a slice of the input (no copy).
    mutating func slice(_ count: Int) throws(SessionError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw SessionError.malformed("truncated") }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func u8() throws(SessionError) -> UInt8 { try slice(1).first! }

    mutating func u32() throws(SessionError) -> UInt32 {
        try slice(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws(SessionError) -> UInt64 {
        try slice(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func x25519() throws(SessionError) -> X25519.PublicKey {
        X25519.PublicKey(unchecked: try read(32))
    }

    mutating func ed25519() throws(SessionError) -> Ed25519.PublicKey {
        Ed25519.PublicKey(unchecked: try read(32))
    }

    /// The unread rest.
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

/// Appends big-endian fields.
extension Array where Element == UInt8 {
    mutating func appendU32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    mutating func appendU64(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
