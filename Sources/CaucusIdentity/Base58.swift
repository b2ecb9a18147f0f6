/// Base58 with the Bitcoin alphabet ("base58btc" in multibase), as did:key uses.
package enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// `bytes` as base58btc text; leading zero bytes become leading "1"s.
    package static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix(while: { $0 == 0 }).count
        // Little-endian base-58 digits of the big-endian number in `bytes`.
        var digits = [UInt8]()
        digits.reserveCapacity(bytes.count * 138 / 100 + 1)
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        var text = [UInt8](repeating: alphabet[0], count: zeros)
        text.append(contentsOf: digits.reversed().map { alphabet[Int($0)] })
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of base58btc `text`, or the offset and character of the first invalid character.
    package static func decode(_ text: String) -> Result<[UInt8], InvalidCharacter> {
        let chars = Array(text.utf8)
        let ones = chars.prefix(while: { $0 == alphabet[0] }).count
        // Little-endian base-256 bytes of the number.
        var bytes = [UInt8]()
        bytes.reserveCapacity(chars.count * 733 / 1000 + 1)
        for (offset, char) in chars.enumerated().dropFirst(ones) {
            let value = values[Int(char)]
            guard value >= 0 else {
                // Every valid character is ASCII, so the first invalid byte starts a character.
                let index = text.utf8.index(text.utf8.startIndex, offsetBy: offset)
                return .failure(InvalidCharacter(offset: offset, character: text[index...].first ?? "?"))
            }
            var carry = Int(value)
            for i in bytes.indices {
                carry += Int(bytes[i]) * 58
                bytes[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return .success([UInt8](repeating: 0, count: ones) + bytes.reversed())
    }

    /// Where base58 text stopped being base58.
    package struct InvalidCharacter: Error, Equatable {
        let offset: Int
        let character: Character
    }
}
