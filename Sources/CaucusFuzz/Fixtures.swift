import CaucusCrypto

/// Fixed keys, so that seed inputs and the properties that name a key are the same on every run.
enum Fixtures {
    /// The identity made from the 32-byte seed `n, n, …`.
    static func identity(_ n: UInt8) -> Ed25519.PrivateKey {
        try! Ed25519.PrivateKey(seed: SecureBytes(copying: [UInt8](repeating: n, count: 32)))
    }

    static let founder = identity(1), member = identity(2), outsider = identity(3), organizer = identity(4), cardKey = identity(5)

    /// Big-endian bytes of `value`.
    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian, Array.init)
    }

    /// The input cut into pieces, each preceded by a u16 big-endian length (how a fuzz input
    /// carries several records, frames or entries); a short last piece takes what is left.
    static func pieces(_ input: [UInt8]) -> [[UInt8]] {
        var pieces: [[UInt8]] = [], offset = 0
        while offset + 2 <= input.count {
            let length = Int(input[offset]) << 8 | Int(input[offset + 1])
            offset += 2
            let end = min(input.count, offset + length)
            pieces.append(Array(input[offset..<end]))
            offset = end
        }
        return pieces
    }

    /// The inverse of `pieces`.
    static func joined(_ pieces: [[UInt8]]) -> [UInt8] {
        pieces.flatMap { bigEndian(UInt16(clamping: $0.count)) + $0.prefix(Int(UInt16.max)) }
    }
}
