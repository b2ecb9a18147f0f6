import Foundation

/// A rough estimate of how hard a new passphrase is to guess, and the floor below which Caucus
/// refuses it (Protocol.md §9.11). It is deliberately simple and errs high for dictionary words:
/// it stops the passphrases people reach for first (`abc`, `password1`, `qwertyuiop`), not a
/// determined attacker's word lists.
public struct PassphraseStrength: Sendable, Equatable {
    /// The floor, in bits: about 13 random lower-case letters, or four random words.
    public static let floorBits = 60

    /// The estimate, in bits.
    public let bits: Int
    /// Why the passphrase is below the floor; nil when it is not.
    public let weakness: String?

    /// Estimates `passphrase`: each character is worth log2 of the size of the character classes
    /// used (lower case 26, upper case 26, digits 10, other ASCII 33, anything else 100), except
    /// that one repeating, continuing a sequence (`abc`, `321`) or next to the one before on a
    /// keyboard row (`qwe`, `asdf`) is worth 1 bit; a common password, alone or followed by digits
    /// and symbols, is worth 0.
    public init(_ passphrase: String) {
        let scalars = Array(passphrase.unicodeScalars)
        let lowered = passphrase.lowercased()
        let stem = String(lowered.reversed().drop { $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " " }.reversed())
        if Self.common.contains(lowered) || Self.common.contains(stem) {
            bits = 0
            weakness = "it is one of the most common passwords"
            return
        }
        var pool = 0
        if scalars.contains(where: { ("a"..."z").contains($0) }) { pool += 26 }
        if scalars.contains(where: { ("A"..."Z").contains($0) }) { pool += 26 }
        if scalars.contains(where: { ("0"..."9").contains($0) }) { pool += 10 }
        if scalars.contains(where: { $0.isASCII && !$0.properties.isAlphabetic && !("0"..."9").contains($0) }) { pool += 33 }
        if scalars.contains(where: { !$0.isASCII }) { pool += 100 }
        let perCharacter = log2(Double(max(pool, 1)))
        var total = 0.0
        for (index, scalar) in scalars.enumerated() {
            total += index > 0 && Self.follows(scalars[index - 1], scalar) ? 1 : perCharacter
        }
        bits = Int(total)
        weakness = bits < Self.floorBits
            ? "it would take about 2^\(bits) guesses, below the floor of 2^\(Self.floorBits): use four or more random words, or 13 or more random letters"
            : nil
    }

    /// Whether `next` repeats `previous`, continues a sequence from it, or sits beside it on a keyboard row.
    private static func follows(_ previous: Unicode.Scalar, _ next: Unicode.Scalar) -> Bool {
        let (a, b) = (Character(previous).lowercased(), Character(next).lowercased())
        if a == b { return true }
        if let x = a.unicodeScalars.first?.value, let y = b.unicodeScalars.first?.value, x.distance(to: y).magnitude == 1,
           (a.first?.isLetter == true && b.first?.isLetter == true) || (a.first?.isNumber == true && b.first?.isNumber == true) {
            return true
        }
        return keyboardRows.contains { row in
            guard let i = row.firstIndex(of: Character(a)), let j = row.firstIndex(of: Character(b)) else { return false }
            return row.distance(from: i, to: j).magnitude == 1
        }
    }

    private static let keyboardRows = ["`1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"]

    /// Passwords people choose first (from published breach lists), and a few an organizer would guess.
    private static let common: Set<String> = [
        "", "password", "passw0rd", "p@ssw0rd", "123456", "12345678", "123456789", "1234567890", "qwerty", "qwertyuiop",
        "asdfghjkl", "letmein", "iloveyou", "admin", "welcome", "monkey", "dragon", "football", "baseball", "sunshine",
        "princess", "trustno1", "abc123", "changeme", "secret", "master", "shadow", "superman", "whatever", "starwars",
        "solidarity", "solidarityforever", "union", "unionyes", "unionstrong", "strike", "organize", "caucus",
    ]
}
