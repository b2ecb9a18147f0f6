/// The bit stream of a symbol: segment, terminator and padding, then error correction blocks interleaved.
extension QRCode {
    /// The final codeword sequence of `bytes` in a symbol of `version` at `correction`.
    static func codewords(for bytes: [UInt8], version: Int, correction: Correction) -> [UInt8] {
        let capacity = dataCodewordCount(version: version, correction: correction)
        var writer = BitWriter()
        writer.append(0b0100, count: 4)  // byte mode
        writer.append(bytes.count, count: countIndicatorBits(version: version))
        for byte in bytes {
            writer.append(Int(byte), count: 8)
        }
        writer.append(0, count: min(4, capacity * 8 - writer.bits.count))
        var data = writer.bytes
        for index in 0..<(capacity - data.count) {
            data.append(index % 2 == 0 ? 0xEC : 0x11)
        }
        return interleave(data, version: version, correction: correction)
    }

    /// Splits `data` into the blocks of `version` at `correction` (the shorter blocks first), adds each
    /// block's error correction, and interleaves data codewords and then error correction codewords by column.
    static func interleave(_ data: [UInt8], version: Int, correction: Correction) -> [UInt8] {
        let blockCount = blockCounts[correction.tableRow][version - 1]
        let correctionLength = correctionCodewordsPerBlock[correction.tableRow][version - 1]
        let total = codewordCount(version: version)
        let longBlocks = total % blockCount
        let shortDataLength = total / blockCount - correctionLength
        let encoder = ReedSolomon(degree: correctionLength)

        var blocks: [[UInt8]] = []
        var start = 0
        for index in 0..<blockCount {
            let length = shortDataLength + (index >= blockCount - longBlocks ? 1 : 0)
            blocks.append(Array(data[start..<(start + length)]))
            start += length
        }
        var result: [UInt8] = []
        result.reserveCapacity(total)
        for column in 0...shortDataLength {
            for block in blocks where column < block.count {
                result.append(block[column])
            }
        }
        let corrections = blocks.map(encoder.remainder(of:))
        for column in 0..<correctionLength {
            for block in corrections {
                result.append(block[column])
            }
        }
        return result
    }
}
