/// Reads card records from untrusted bytes; every read past the end is `malformed`.
struct CardReader {
    private var inner: ByteReader

    init(_ bytes: [UInt8]) { inner = ByteReader(bytes) }

    /// Runs one read of the inner reader, whose only failure is running out of bytes.
    private mutating func reading<T>(_ body: (inout ByteReader) throws(SessionError) -> T) throws(CardError) -> T {
        do { return try body(&inner) } catch { throw CardError.malformed("truncated") }
    }

    mutating func read(_ count: Int) throws(CardError) -> [UInt8] { try reading { reader throws(SessionError) in try reader.read(count) } }

    mutating func u8() throws(CardError) -> UInt8 { try reading { reader throws(SessionError) in try reader.u8() } }

    mutating func u64() throws(CardError) -> UInt64 { try reading { reader throws(SessionError) in try reader.u64() } }

    mutating func key() throws(CardError) -> Ed25519.PublicKey { Ed25519.PublicKey(unchecked: try read(32)) }

    /// `LP(text)`, at most 64 KiB, valid UTF-8.
    mutating func text() throws(CardError) -> String {
        let length = try reading { reader throws(SessionError) in try reader.u32() }
        guard length <= 1 << 16 else { throw CardError.malformed("a text field is longer than 64 KiB") }
        let bytes = try reading { reader throws(SessionError) in try reader.slice(Int(length)) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CardError.malformed("a text field is not valid UTF-8") }
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
