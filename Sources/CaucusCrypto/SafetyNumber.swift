/// A 60-digit number two people read to each other (or compare on screen) to check that each
/// has the other's real identity key. Both sides compute the same number.
///
/// Each key gives 30 digits from 5,200 chained SHA-512 hashes; the two halves are ordered
/// numerically and joined. Shown as 12 groups of 5 digits.
public struct SafetyNumber: Hashable, Sendable, CustomStringConvertible {
    /// The version byte hashed into every fingerprint.
    static let version: UInt16 = 1
    /// Domain-separation label hashed into every fingerprint.
    static let label = Array("caucus/safety-number".utf8)
    /// Chained hash iterations per key: makes a targeted match ~2^12 times costlier.
    static let iterations = 5200
    /// Digits contributed by each key.
    static let digitsPerKey = 30

    /// The 60 digits, without spaces.
    public let digits: String

    /// The safety number shared by the owners of `a` and `b` (order does not matter).
    public init(_ a: Ed25519.PublicKey, _ b: Ed25519.PublicKey) {
        let first = Self.fingerprint(a)
        let second = Self.fingerprint(b)
        digits = first < second ? first + second : second + first
    }

    /// The safety number shared by the holders of two DIDs.
    public init(_ a: DID, _ b: DID) {
        self.init(a.publicKey, b.publicKey)
    }

    /// 30 decimal digits for one key.
    static func fingerprint(_ key: Ed25519.PublicKey) -> String {
        let pk = key.rawRepresentation
        var hash = SHA512.hash(withUnsafeBytes(of: version.bigEndian, Array.init) + label + pk)
        for _ in 1..<iterations {
            hash = SHA512.hash(hash + pk)
        }
        var out = ""
        for chunk in 0..<(digitsPerKey / 5) {
            // Five bytes as a big-endian 40-bit number, reduced to five digits.
            let value = hash[(chunk * 5)..<(chunk * 5 + 5)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let text = String(value % 100_000)
            out += String(repeating: "0", count: 5 - text.count) + text
        }
        return out
    }

    /// Twelve groups of five digits, separated by spaces.
    public var description: String {
        stride(from: 0, to: digits.count, by: 5).map { offset -> String in
            let start = digits.index(digits.startIndex, offsetBy: offset)
            return String(digits[start..<digits.index(start, offsetBy: 5)])
        }.joined(separator: " ")
    }
}
