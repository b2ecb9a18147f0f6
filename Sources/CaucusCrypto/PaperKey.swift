/// A paper key (Protocol.md §2.3): 16 random bytes, written down once as a recovery phrase of 12
/// words, that make an Ed25519 key the identity's device chain lists as a device of kind paper.
/// Whoever holds the phrase can act as that device: fetch the identity's recovery box from the
/// relay and, with what it holds, certify a new computer when every other device is gone.
public struct PaperKey: Sendable {
    /// Words in a phrase.
    public static let wordCount = 12
    /// Bytes of secret the phrase carries.
    public static let secretByteCount = 16
    /// Label of the derivation of the paper key's Ed25519 seed.
    static let seedLabel = Array("caucus/paper-key/v1".utf8)

    /// The 16 secret bytes.
    public let secret: SecureBytes

    /// A new paper key from the system CSPRNG.
    public init() {
        secret = SecureBytes(randomCount: Self.secretByteCount)
    }

    /// The paper key of `secret` (16 bytes).
    public init(secret: SecureBytes) throws(PaperKeyError) {
        guard secret.count == Self.secretByteCount else { throw PaperKeyError.wrongLength }
        self.secret = secret
    }

    /// Reads a phrase as a person typed it: 12 words separated by spaces (or any white space, or
    /// hyphens), in any case; each word may be cut to its first 4 letters, which name it alone.
    public init(phrase: String) throws(PaperKeyError) {
        let typed = phrase.lowercased().split { $0.isWhitespace || $0 == "-" }.map(String.init)
        guard typed.count == Self.wordCount else { throw PaperKeyError.wordCount(typed.count) }
        var values: [Int] = []
        for (position, word) in typed.enumerated() {
            guard let value = Self.value(of: word) else { throw PaperKeyError.unknownWord(position: position + 1, word) }
            values.append(value)
        }
        // 12 × 11 bits: the 128-bit secret, then the first 4 bits of BLAKE2b-256(secret).
        var bits = [Bool]()
        for value in values { for shift in (0..<11).reversed() { bits.append(value >> shift & 1 == 1) } }
        var bytes = [UInt8](repeating: 0, count: Self.secretByteCount)
        for index in 0..<128 where bits[index] { bytes[index / 8] |= 0x80 >> UInt8(index % 8) }
        defer { wipe(&bytes) }
        let checksum = bits[128..<132].reduce(UInt8(0)) { $0 << 1 | ($1 ? 1 : 0) }
        guard checksum == Self.checksum(bytes) else { throw PaperKeyError.checksum }
        secret = SecureBytes(copying: bytes)
    }

    /// The phrase's 12 words.
    public var words: [String] {
        var bits = [Bool]()
        secret.withUnsafeBytes { bytes in
            for byte in bytes { for shift in (0..<8).reversed() { bits.append(byte >> UInt8(shift) & 1 == 1) } }
            let checksum = Self.checksum(Array(bytes))
            for shift in (0..<4).reversed() { bits.append(checksum >> UInt8(shift) & 1 == 1) }
        }
        return (0..<Self.wordCount).map { word in
            paperWords[bits[word * 11..<(word + 1) * 11].reduce(0) { $0 << 1 | ($1 ? 1 : 0) }]
        }
    }

    /// The words joined by single spaces.
    public var phrase: String { words.joined(separator: " ") }

    /// The paper key's Ed25519 key: its seed is HKDF(salt = 32 zero bytes, IKM = secret,
    /// info = "caucus/paper-key/v1", 32).
    public var signingKey: Ed25519.PrivateKey {
        let seed = try! HKDF.deriveKey(inputKeyMaterial: secret, salt: [UInt8](repeating: 0, count: 32), info: Self.seedLabel,
                                       outputByteCount: 32)
        return try! Ed25519.PrivateKey(seed: seed)
    }

    /// The first 4 bits of BLAKE2b-256 of the secret.
    private static func checksum(_ secret: [UInt8]) -> UInt8 {
        try! BLAKE2b.hash(secret, outputByteCount: 32)[0] >> 4
    }

    /// A word's value: its place in the list, found by the word or any start of it of at least
    /// 4 letters.
    static func value(of word: String) -> Int? {
        guard word.count >= 4, let index = wordIndex[String(word.prefix(4))], paperWords[index].hasPrefix(word) else { return nil }
        return index
    }

    /// Each word's first 4 letters, which no other word shares, to its place.
    private static let wordIndex: [String: Int] = Dictionary(uniqueKeysWithValues: paperWords.enumerated().map { (String($1.prefix(4)), $0) })
}

/// Why a recovery phrase was not read.
public enum PaperKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case wrongLength
    case wordCount(Int)
    case unknownWord(position: Int, String)
    case checksum

    public var description: String {
        switch self {
        case .wrongLength: "a paper key's secret is 16 bytes"
        case .wordCount(let count): "a recovery phrase has \(PaperKey.wordCount) words, not \(count)"
        case let .unknownWord(position, word): "word \(position) (\(word)) is not a word of recovery phrases: check its spelling"
        case .checksum: "the words do not fit together (one is wrong, or two are swapped): check each against your paper"
        }
    }
}
