/// The grid of one QR symbol while it is built: which modules are dark and which belong to function patterns.
struct QRMatrix {
    /// Modules along one side.
    let side: Int
    /// Dark modules, row by row.
    private(set) var dark: [Bool]
    /// Modules of finder, separator, timing, alignment, format and version areas, which data and masks skip.
    private var reserved: [Bool]

    /// A symbol of `version` with every function pattern drawn and the format areas reserved.
    init(version: Int) {
        side = QRCode.sideLength(version: version)
        dark = [Bool](repeating: false, count: side * side)
        reserved = dark
        drawTimingPatterns()
        drawFinderPattern(x: 0, y: 0)
        drawFinderPattern(x: side - 7, y: 0)
        drawFinderPattern(x: 0, y: side - 7)
        drawAlignmentPatterns(version: version)
        drawFormatBits(0)  // reserves both format areas and draws the dark module; the real bits come with the mask
        if version >= 7 {
            drawVersionInformation(version: version)
        }
    }

    /// Whether the module at column `x`, row `y` is dark.
    func isDark(x: Int, y: Int) -> Bool {
        dark[y * side + x]
    }

    private mutating func set(x: Int, y: Int, dark isDark: Bool) {
        dark[y * side + x] = isDark
        reserved[y * side + x] = true
    }

    private mutating func drawTimingPatterns() {
        for index in 0..<side {
            set(x: index, y: 6, dark: index % 2 == 0)
            set(x: 6, y: index, dark: index % 2 == 0)
        }
    }

    /// Draws the 7×7 finder whose top-left corner is at (`x`, `y`) with its light separator around it.
    private mutating func drawFinderPattern(x: Int, y: Int) {
        for dy in -1...7 {
            for dx in -1...7 {
                let column = x + dx
                let row = y + dy
                guard (0..<side).contains(column), (0..<side).contains(row) else { continue }
                let ring = max(abs(dx - 3), abs(dy - 3))
                set(x: column, y: row, dark: ring != 2 && ring != 4)
            }
        }
    }

    private mutating func drawAlignmentPatterns(version: Int) {
        let centres = QRCode.alignmentCentres(version: version)
        for row in centres {
            for column in centres {
                let overlapsFinder = (row == 6 && column == 6)
                    || (row == 6 && column == centres.last)
                    || (row == centres.last && column == 6)
                guard !overlapsFinder else { continue }
                for dy in -2...2 {
                    for dx in -2...2 {
                        set(x: column + dx, y: row + dy, dark: max(abs(dx), abs(dy)) != 1)
                    }
                }
            }
        }
    }

    /// Draws the 15 format bits in both copies (ISO/IEC 18004 figure 25); bit 14 is the most significant.
    private mutating func drawFormatBits(_ bits: Int) {
        func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
        for index in 0..<6 {
            set(x: 8, y: index, dark: bit(index))
        }
        set(x: 8, y: 7, dark: bit(6))
        set(x: 8, y: 8, dark: bit(7))
        set(x: 7, y: 8, dark: bit(8))
        for index in 9..<15 {
            set(x: 14 - index, y: 8, dark: bit(index))
        }
        for index in 0..<8 {
            set(x: side - 1 - index, y: 8, dark: bit(index))
        }
        for index in 8..<15 {
            set(x: 8, y: side - 15 + index, dark: bit(index))
        }
        set(x: 8, y: side - 8, dark: true)
    }

    /// Draws the 18 version bits in both 6×3 blocks next to the top-right and bottom-left finders.
    private mutating func drawVersionInformation(version: Int) {
        let bits = version << 12 | BCH.remainder(of: version, dataBits: 6, generator: 0x1F25, checkBits: 12)
        for index in 0..<18 {
            let isDark = (bits >> index) & 1 == 1
            let near = index / 3
            let far = side - 11 + index % 3
            set(x: far, y: near, dark: isDark)
            set(x: near, y: far, dark: isDark)
        }
    }

    /// Places `codewords` in the two-column zigzag from the bottom-right corner, skipping reserved modules.
    mutating func place(_ codewords: [UInt8]) {
        var bitIndex = 0
        let bitCount = codewords.count * 8
        var right = side - 1
        while right >= 1 {
            if right == 6 {
                right = 5  // the vertical timing pattern takes a whole column
            }
            let upward = (right + 1) & 2 == 0
            for step in 0..<side {
                let y = upward ? side - 1 - step : step
                for x in [right, right - 1] where !reserved[y * side + x] {
                    if bitIndex < bitCount {
                        dark[y * side + x] = (codewords[bitIndex / 8] >> (7 - bitIndex % 8)) & 1 == 1
                        bitIndex += 1
                    }
                }
            }
            right -= 2
        }
    }

    /// Flips every data module that mask pattern `mask` (0...7, ISO/IEC 18004 table 10) selects.
    mutating func applyMask(_ mask: Int) {
        for y in 0..<side {
            for x in 0..<side where !reserved[y * side + x] && Self.mask(mask, x: x, y: y) {
                dark[y * side + x].toggle()
            }
        }
    }

    private static func mask(_ mask: Int, x: Int, y: Int) -> Bool {
        switch mask {
        case 0: return (y + x) % 2 == 0
        case 1: return y % 2 == 0
        case 2: return x % 3 == 0
        case 3: return (y + x) % 3 == 0
        case 4: return (y / 2 + x / 3) % 2 == 0
        case 5: return (y * x) % 2 + (y * x) % 3 == 0
        case 6: return ((y * x) % 2 + (y * x) % 3) % 2 == 0
        default: return ((y + x) % 2 + (y * x) % 3) % 2 == 0
        }
    }

    /// Writes the format information for `correction` and `mask`, BCH-protected and XOR-masked with 0x5412.
    mutating func drawFormatInformation(correction: QRCode.Correction, mask: Int) {
        let data = correction.formatBits << 3 | mask
        let bits = (data << 10 | BCH.remainder(of: data, dataBits: 5, generator: 0x537, checkBits: 10)) ^ 0x5412
        drawFormatBits(bits)
    }
}
