/// The BCH codes that protect a QR symbol's format and version information.
enum BCH {
    /// The check bits of `value` (`dataBits` long): the remainder of `value` · x^checkBits divided by `generator`.
    static func remainder(of value: Int, dataBits: Int, generator: Int, checkBits: Int) -> Int {
        var remainder = value << checkBits
        for shift in stride(from: dataBits - 1, through: 0, by: -1) where (remainder >> (shift + checkBits)) & 1 == 1 {
            remainder ^= generator << shift
        }
        return remainder
    }
}
