extension LineEditor {
    /// One keystroke, decoded from the bytes a terminal sends.
    enum Key: Equatable {
        /// Text to insert: one or more characters typed or pasted.
        case text(String)
        /// A control character (0x00–0x1F or 0x7F).
        case control(UInt8)
        case left, right, up, down, home, end, delete
        /// A sequence the editor has no use for.
        case ignored
    }

    /// The result of decoding at one position of the input.
    enum Decoded {
        /// `key`, decoded from `length` bytes.
        case key(Key, length: Int)
        /// The bytes so far start a sequence that has not ended yet; wait for more.
        case incomplete
    }

    /// The longest escape sequence waited for; a longer one is garbage and is dropped.
    static let maximumSequenceLength = 32

    /// Decodes the keystroke that starts at `start` in `bytes`.
    static func decode(_ bytes: [UInt8], at start: Int) -> Decoded {
        let byte = bytes[start]
        switch byte {
        case 0x1B:
            return decodeEscape(bytes, at: start)
        case 0x00..<0x20, 0x7F:
            return .key(.control(byte), length: 1)
        default:
            return decodeText(bytes, at: start)
        }
    }

    /// A run of printable ASCII and complete UTF-8 sequences; a malformed sequence becomes U+FFFD.
    private static func decodeText(_ bytes: [UInt8], at start: Int) -> Decoded {
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            guard byte >= 0x20, byte != 0x7F else { break }
            let expected = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            var length = 1
            while length < expected, end + length < bytes.count, bytes[end + length] & 0xC0 == 0x80 {
                length += 1
            }
            if length < expected, end + length == bytes.count {
                break  // a character split across reads
            }
            end += length
        }
        guard end > start else { return .incomplete }
        return .key(.text(String(decoding: bytes[start..<end], as: UTF8.self)), length: end - start)
    }

    /// CSI (ESC [ parameters final) and SS3 (ESC O letter) sequences; ESC before anything else is dropped
    /// together with the key it modifies.
    private static func decodeEscape(_ bytes: [UInt8], at start: Int) -> Decoded {
        guard start + 1 < bytes.count else { return .incomplete }
        switch bytes[start + 1] {
        case UInt8(ascii: "["):
            var end = start + 2
            while end < bytes.count, (0x20...0x3F).contains(bytes[end]) {
                end += 1
            }
            guard end - start <= maximumSequenceLength else { return .key(.ignored, length: end - start) }
            guard end < bytes.count else { return .incomplete }
            guard (0x40...0x7E).contains(bytes[end]) else { return .key(.ignored, length: end - start) }
            let parameters = String(decoding: bytes[(start + 2)..<end], as: UTF8.self)
            return .key(csiKey(final: bytes[end], parameters: parameters), length: end - start + 1)
        case UInt8(ascii: "O"):
            guard start + 2 < bytes.count else { return .incomplete }
            return .key(letterKey(bytes[start + 2]), length: 3)
        case 0x20..<0x7F:
            return .key(.ignored, length: 2)
        default:
            return .key(.ignored, length: 1)
        }
    }

    private static func csiKey(final: UInt8, parameters: String) -> Key {
        guard final == UInt8(ascii: "~") else { return letterKey(final) }
        switch parameters.split(separator: ";").first {
        case "1", "7": return .home
        case "4", "8": return .end
        case "3": return .delete
        default: return .ignored
        }
    }

    private static func letterKey(_ letter: UInt8) -> Key {
        switch letter {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return .right
        case UInt8(ascii: "D"): return .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        default: return .ignored
        }
    }
}
