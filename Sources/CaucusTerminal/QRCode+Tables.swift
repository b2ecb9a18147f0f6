/// The per-version figures of ISO/IEC 18004 that the encoder needs.
extension QRCode {
    /// Error correction codewords in each block, by correction level (L, M, Q, H) and then version 1...40.
    static let correctionCodewordsPerBlock: [[Int]] = [
        [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
         28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
         26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
         28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
         30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]

    /// Number of error correction blocks, by correction level (L, M, Q, H) and then version 1...40.
    static let blockCounts: [[Int]] = [
        [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
         8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
        [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
         17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
         23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
         25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]

    /// The smallest and largest version.
    static let versions = 1...40

    /// Modules along one side of a symbol of `version`.
    static func sideLength(version: Int) -> Int {
        17 + 4 * version
    }

    /// Modules left for codewords once every function pattern of `version` is drawn (remainder bits included).
    static func dataModuleCount(version: Int) -> Int {
        let side = sideLength(version: version)
        var count = side * side
        count -= 3 * 64 + 2 * (side - 16) + 31  // finders with separators, timing patterns, format areas, dark module
        let alignment = alignmentCentres(version: version).count
        if alignment > 0 {
            let patterns = alignment * alignment - 3
            let onTiming = 2 * (alignment - 2)
            count -= 25 * patterns - 5 * onTiming
        }
        if version >= 7 {
            count -= 2 * 18
        }
        return count
    }

    /// All codewords (data and error correction) a symbol of `version` carries.
    static func codewordCount(version: Int) -> Int {
        dataModuleCount(version: version) / 8
    }

    /// Data codewords a symbol of `version` carries at `correction`.
    static func dataCodewordCount(version: Int, correction: Correction) -> Int {
        let row = correction.tableRow
        let correctionCodewords = correctionCodewordsPerBlock[row][version - 1] * blockCounts[row][version - 1]
        return codewordCount(version: version) - correctionCodewords
    }

    /// Bits of the byte-mode character count indicator in `version`.
    static func countIndicatorBits(version: Int) -> Int {
        version <= 9 ? 8 : 16
    }

    /// The most bytes a symbol of `version` holds in byte mode at `correction`.
    static func byteCapacity(version: Int, correction: Correction) -> Int {
        let bits = dataCodewordCount(version: version, correction: correction) * 8 - 4 - countIndicatorBits(version: version)
        return min(bits / 8, (1 << countIndicatorBits(version: version)) - 1)
    }

    /// Row and column coordinates of the alignment pattern centres of `version` (ISO/IEC 18004 annex E).
    ///
    /// The centres run from 6 to `side - 7`, evenly spaced by an even step, the first gap taking the slack;
    /// version 32 is the one version whose step the even-spacing rule does not give.
    static func alignmentCentres(version: Int) -> [Int] {
        guard version >= 2 else { return [] }
        let count = version / 7 + 2
        let last = sideLength(version: version) - 7
        let step = version == 32 ? 26 : (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
        return [6] + (0..<(count - 1)).map { last - step * $0 }.reversed()
    }
}
