import Foundation

extension CardFields {
    /// Words that name a social security number or a date of birth.
    static let forbiddenWords = ["social security", "ssn", "date of birth", "birth date", "birthdate", "dob", "born"]

    /// What `value` holds that a card must never carry, if anything; dates count unless `datesAllowed`.
    ///
    /// Plain ASCII text (nearly every value) is scanned as bytes, which finds exactly what the
    /// character-by-character scan finds there: in ASCII every character is one byte, except CR LF,
    /// which no word, number or separator looked for can contain or match.
    static func forbiddenContent(in value: String, datesAllowed: Bool) -> String? {
        var text = value
        text.makeContiguousUTF8()
        if text.utf8.allSatisfy({ $0 < 0x80 }),
           let verdict = text.utf8.withContiguousStorageIfAvailable({ ASCII.forbiddenContent(in: $0, datesAllowed: datesAllowed) }) {
            return verdict
        }
        return Unicode.forbiddenContent(in: value, datesAllowed: datesAllowed)
    }

    /// The scan of any text, character by character.
    enum Unicode {
        static func forbiddenContent(in value: String, datesAllowed: Bool) -> String? {
            let lowered = value.lowercased()
            if forbiddenWords.contains(where: { containsWord(lowered, $0) }) { return "a social security number or date of birth" }
            if containsSSN(value) { return "a social security number" }
            if !datesAllowed, containsDateLike(value) { return "a date (of birth?)" }
            return nil
        }

        private static func containsWord(_ text: String, _ word: String) -> Bool {
            var rest = text[...]
            while let range = rest.range(of: word) {
                let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
                let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
                if !(before?.isLetter ?? false) && !(after?.isLetter ?? false) { return true }
                rest = text[range.upperBound...]
            }
            return false
        }

        /// `ddd-dd-dddd` or `ddd dd dddd`, not part of a longer number.
        private static func containsSSN(_ text: String) -> Bool {
            let chars = Array(text)
            let shape = "ddd-dd-dddd"
            guard chars.count >= shape.count else { return false }
            for start in 0...(chars.count - shape.count) {
                var matches = true
                for (offset, expected) in shape.enumerated() {
                    let char = chars[start + offset]
                    if expected == "d" ? !char.isASCII || !char.isNumber : !(char == "-" || char == " ") { matches = false; break }
                }
                let beforeDigit = start > 0 && chars[start - 1].isNumber
                let afterDigit = start + shape.count < chars.count && chars[start + shape.count].isNumber
                if matches && !beforeDigit && !afterDigit { return true }
            }
            return false
        }

        /// A date such as `1990-04-12`, `12/04/1990` or `4.12.90` in a name or contact.
        private static func containsDateLike(_ text: String) -> Bool {
            let groups = text.split(whereSeparator: { !$0.isNumber && $0 != "/" && $0 != "-" && $0 != "." })
            return groups.contains { group in
                let numbers = group.split(whereSeparator: { $0 == "/" || $0 == "-" || $0 == "." })
                return numbers.count == 3 && numbers.allSatisfy { !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isNumber) }
                    && group.contains(where: { $0 == "/" || $0 == "-" || $0 == "." })
            }
        }
    }

    /// The same scan over the bytes of ASCII text.
    enum ASCII {
        static let words = forbiddenWords.map { Array($0.utf8) }

        static func forbiddenContent(in text: UnsafeBufferPointer<UInt8>, datesAllowed: Bool) -> String? {
            if words.contains(where: { containsWord(text, $0) }) { return "a social security number or date of birth" }
            if containsSSN(text) { return "a social security number" }
            if !datesAllowed, containsDateLike(text) { return "a date (of birth?)" }
            return nil
        }

        private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
        private static func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
        private static func isDateSeparator(_ byte: UInt8) -> Bool { byte == 0x2F || byte == 0x2D || byte == 0x2E }
        private static func lowered(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }

        /// `word` (lower case) in `text`, any case, with no letter right before or after it;
        /// occurrences are tried left to right, each search resuming after the last match.
        private static func containsWord(_ text: UnsafeBufferPointer<UInt8>, _ word: [UInt8]) -> Bool {
            var from = 0
            while from + word.count <= text.count {
                guard let match = (from...(text.count - word.count)).first(where: { at in
                    word.indices.allSatisfy { lowered(text[at + $0]) == word[$0] }
                }) else { return false }
                let end = match + word.count
                let letterBefore = match > 0 && isLetter(text[match - 1]), letterAfter = end < text.count && isLetter(text[end])
                if !letterBefore && !letterAfter { return true }
                from = end
            }
            return false
        }

        /// `ddd-dd-dddd` or `ddd dd dddd`, not part of a longer number.
        private static func containsSSN(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
            let shape = Array("ddd-dd-dddd".utf8)
            guard text.count >= shape.count else { return false }
            for start in 0...(text.count - shape.count) {
                let matches = shape.indices.allSatisfy { offset in
                    let byte = text[start + offset]
                    return shape[offset] == UInt8(ascii: "d") ? isDigit(byte) : byte == UInt8(ascii: "-") || byte == UInt8(ascii: " ")
                }
                let beforeDigit = start > 0 && isDigit(text[start - 1])
                let afterDigit = start + shape.count < text.count && isDigit(text[start + shape.count])
                if matches && !beforeDigit && !afterDigit { return true }
            }
            return false
        }

        /// A run of digits and `/`, `-`, `.` holding exactly three numbers of at most four digits
        /// and at least one separator.
        private static func containsDateLike(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
            var index = 0
            while index < text.count {
                var numbers = 0, digits = 0, longest = 0, separated = false
                while index < text.count, isDigit(text[index]) || isDateSeparator(text[index]) {
                    if isDigit(text[index]) {
                        digits += 1
                    } else {
                        separated = true
                        if digits > 0 { numbers += 1; longest = max(longest, digits) }
                        digits = 0
                    }
                    index += 1
                }
                if digits > 0 { numbers += 1; longest = max(longest, digits) }
                if numbers == 3 && longest <= 4 && separated { return true }
                index += 1
            }
            return false
        }
    }
}
