/// A deterministic random generator (SplitMix64): the same seed gives the same inputs on every
/// machine, so a failure found by the seeded harness can be replayed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Mutates valid inputs the way decoders are attacked: bit flips, truncation, insertion and
/// deletion, splicing two inputs, and length or count fields set to boundary values.
public struct Mutator: Sendable {
    private var random: SeededGenerator
    private let seeds: [[UInt8]]

    /// Mutations of `seeds` (which must not be empty), reproducible from `seed`.
    public init(seeds: [[UInt8]], seed: UInt64) {
        precondition(!seeds.isEmpty, "a fuzz target needs at least one seed input")
        self.seeds = seeds
        random = SeededGenerator(seed: seed)
    }

    /// The next input: a seed with one to four mutations applied.
    public mutating func next() -> [UInt8] {
        var input = seeds.randomElement(using: &random)!
        for _ in 0...Int.random(in: 0..<4, using: &random) { mutate(&input) }
        return input
    }

    private static let interestingBytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff]

    private mutating func mutate(_ input: inout [UInt8]) {
        guard !input.isEmpty else {
            input = (0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            return
        }
        let at = Int.random(in: 0..<input.count, using: &random)
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            input[at] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1:
            input[at] = Self.interestingBytes.randomElement(using: &random)!
        case 2:
            input.removeSubrange(Int.random(in: 0...input.count, using: &random)...)
        case 3:
            let count = Int.random(in: 1...16, using: &random)
            input.insert(contentsOf: (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }, at: at)
        case 4:
            input.removeSubrange(at..<min(input.count, at + Int.random(in: 1...32, using: &random)))
        case 5:
            let end = min(input.count, at + Int.random(in: 1...64, using: &random))
            input.insert(contentsOf: input[at..<end], at: Int.random(in: 0...input.count, using: &random))
        case 6:
            // Splice: the front of this input and the back of another.
            let other = seeds.randomElement(using: &random)!
            input = Array(input[..<at]) + other[Int.random(in: 0...other.count, using: &random)...]
        case 7:
            overwriteBigEndian(&input, at: at, byteCount: 4, value: UInt64(boundaryLength(for: input, at: at)))
        case 8:
            let values: [UInt64] = [0, 1, UInt64(Int64.max), UInt64(Int64.max) + 1, .max, .max / 3 + 1, .max / 10 + 1]
            overwriteBigEndian(&input, at: at, byteCount: 8, value: values.randomElement(using: &random)!)
        default:
            replaceNumber(&input)
        }
    }

    /// A length or count that is off by one, zero, huge, or exactly what is left.
    private mutating func boundaryLength(for input: [UInt8], at offset: Int) -> UInt32 {
        let left = UInt32(clamping: input.count - offset - 4)
        return [0, 1, left &- 1, left, left &+ 1, 0x7fff_ffff, 0xffff_ffff, 1 << 16, (1 << 16) + 1]
            .randomElement(using: &random)!
    }

    private func overwriteBigEndian(_ input: inout [UInt8], at offset: Int, byteCount: Int, value: UInt64) {
        for index in 0..<byteCount where offset + index < input.count {
            input[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byteCount - 1 - index)))
        }
    }

    /// Replaces a run of ASCII digits (a number in text such as JSON) with an extreme one.
    private mutating func replaceNumber(_ input: inout [UInt8]) {
        let digits = input.indices.filter { input[$0] >= 0x30 && input[$0] <= 0x39 }
        guard let start = digits.randomElement(using: &random) else {
            input[Int.random(in: 0..<input.count, using: &random)] ^= 0xff
            return
        }
        var end = start
        while end < input.count, input[end] >= 0x30, input[end] <= 0x39 { end += 1 }
        let numbers = ["0", "-1", "18446744073709551615", "18446744073709551616", "6148914691236517206",
                       "1844674407370955162", "9223372036854775808", "1e400", "0.5", "4294967296"]
        input.replaceSubrange(start..<end, with: Array(numbers.randomElement(using: &random)!.utf8))
    }
}
