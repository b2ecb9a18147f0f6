/// The mask evaluation rules of ISO/IEC 18004 section 7.8.3: lower scores scan more reliably.
extension QRMatrix {
    /// The sum of the four penalty scores (N1 = 3, N2 = 3, N3 = 40, N4 = 10) of the symbol as it stands.
    func penalty() -> Int {
        var score = 0
        for index in 0..<side {
            let row = (0..<side).map { isDark(x: $0, y: index) }
            let column = (0..<side).map { isDark(x: index, y: $0) }
            score += Self.runPenalty(row) + Self.finderLikePenalty(row)
            score += Self.runPenalty(column) + Self.finderLikePenalty(column)
        }
        score += blockPenalty() + balancePenalty()
        return score
    }

    /// Rule 1: 3 for each run of five same-coloured modules, plus 1 for each module beyond five.
    static func runPenalty(_ line: [Bool]) -> Int {
        var score = 0
        var runLength = 0
        for (index, module) in line.enumerated() {
            runLength = index > 0 && line[index - 1] == module ? runLength + 1 : 1
            if runLength == 5 {
                score += 3
            } else if runLength > 5 {
                score += 1
            }
        }
        return score
    }

    /// Rule 3: 40 for each dark-light-dark-dark-dark-light-dark stretch with four light modules on one side,
    /// counting the quiet zone beyond the symbol's edge as light.
    static func finderLikePenalty(_ line: [Bool]) -> Int {
        let core: [Bool] = [true, false, true, true, true, false, true]
        let light = [Bool](repeating: false, count: 4)
        let padded = light + line + light
        var score = 0
        for start in 0...(padded.count - 11) {
            let window = Array(padded[start..<(start + 11)])
            if window == light + core || window == core + light {
                score += 40
            }
        }
        return score
    }

    /// Rule 2: 3 for each 2×2 square of one colour.
    private func blockPenalty() -> Int {
        var score = 0
        for y in 0..<(side - 1) {
            for x in 0..<(side - 1) {
                let colour = isDark(x: x, y: y)
                if isDark(x: x + 1, y: y) == colour, isDark(x: x, y: y + 1) == colour, isDark(x: x + 1, y: y + 1) == colour {
                    score += 3
                }
            }
        }
        return score
    }

    /// Rule 4: 10 for each full 5 % by which the share of dark modules strays from 50 %.
    private func balancePenalty() -> Int {
        let total = side * side
        let darkCount = dark.lazy.filter { $0 }.count
        return abs(darkCount * 20 - total * 10) / total * 10
    }
}
