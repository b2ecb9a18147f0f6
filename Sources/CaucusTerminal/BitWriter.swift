/// Appends values bit by bit, most significant bit first, and packs them into bytes.
struct BitWriter {
    /// The bits written so far.
    private(set) var bits: [Bool] = []

    /// Appends the low `count` bits of `value`.
    mutating func append(_ value: Int, count: Int) {
        for shift in stride(from: count - 1, through: 0, by: -1) {
            bits.append((value >> shift) & 1 == 1)
        }
    }

    /// The bits packed eight to a byte; a partial last byte is padded with zero bits.
    var bytes: [UInt8] {
        stride(from: 0, to: bits.count, by: 8).map { start in
            (0..<8).reduce(UInt8(0)) { byte, offset in
                let index = start + offset
                return byte << 1 | (index < bits.count && bits[index] ? 1 : 0)
            }
        }
    }
}
