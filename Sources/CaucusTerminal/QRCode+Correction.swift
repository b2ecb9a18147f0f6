extension QRCode {
    /// How much of a damaged symbol can be recovered: about 7 %, 15 %, 25 % or 30 % of its codewords.
    public enum Correction: Sendable, CaseIterable, Equatable {
        /// Level L, about 7 %.
        case low
        /// Level M, about 15 %.
        case medium
        /// Level Q, about 25 %.
        case quartile
        /// Level H, about 30 %.
        case high

        /// The two bits that name the level in the format information (ISO/IEC 18004 table 12).
        var formatBits: Int {
            switch self {
            case .low: return 0b01
            case .medium: return 0b00
            case .quartile: return 0b11
            case .high: return 0b10
            }
        }

        /// The row of the block tables in `QRCode+Tables.swift`.
        var tableRow: Int {
            switch self {
            case .low: return 0
            case .medium: return 1
            case .quartile: return 2
            case .high: return 3
            }
        }
    }
}
