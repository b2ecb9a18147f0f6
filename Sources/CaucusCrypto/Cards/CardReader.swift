/// Reads card records from untrusted bytes; every read past the end is `malformed`.
struct CardReader {
    private var inner: ByteReader

    init(_ bytes: [UInt8]) { inner = ByteReader(bytes) }

    mutating func read(_ count: Int) throws(CardError) -> [UInt8] {
        do { return try inner.read(count) } catch { throw CardError.malformed("truncated") }
    }

    mutating func u8() throws(CardError) -> UInt8 { try read(1)[0] }

    mutating func u64() throws(CardError) -> UInt64 {
        try read(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func key() throws(CardError) -> Ed25519.PublicKey { Ed25519.PublicKey(unchecked: try read(32)) }

    /// `LP(text)`, at most 64 KiB, valid UTF-8.
    mutating func text() throws(CardError) -> String {
        let length = try read(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard length <= 1 << 16 else { throw CardError.malformed("a text field is longer than 64 KiB") }
        guard let text = String(validating: try read(Int(length)), as: UTF8.self) else {
            throw CardError.malformed("a text field is not valid UTF-8")
        }
        return text
    }

    func finish() throws(CardError) {
        guard inner.remaining == 0 else { throw CardError.malformed("trailing bytes") }
    }
}

extension Array where Element == UInt8 {
    /// Appends `LP(text)`: u32 length ‖ UTF-8 bytes.
    mutating func appendLP(_ text: String) {
        let bytes = Array(text.utf8)
        appendU32(UInt32(bytes.count))
        append(contentsOf: bytes)
    }
}
