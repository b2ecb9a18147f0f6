/// JSON (RFC 8259) read strictly, for formats whose every byte someone may dispute in front of a
/// labor board (Protocol.md §10.5). A name written twice, a number with a fraction or exponent
/// where an integer belongs, a field nobody defined and anything after the document are refused,
/// naming where, so that no two readers can take one file to say different things. Errors are
/// `CardError.malformed("PATH: what is wrong")` with paths such as `cards[3].signed_at_ms`.
public enum StrictJSON {
    public indirect enum Value: Sendable {
        /// Members in document order (names are unique: the parser refuses repeats).
        case object([(name: String, value: Value)])
        case array([Value])
        case string(String)
        /// A number as written.
        case number(String)
        case bool(Bool)
        case null
    }

    /// Nesting deeper than this is refused (no format here nests more than three levels).
    static let maximumDepth = 64

    /// Parses a whole document: one value, whitespace around it, nothing else.
    public static func parse(_ bytes: [UInt8]) throws(CardError) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(path: "", depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.failure("", "trailing data after the JSON document") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        func failure(_ path: String, _ reason: String) -> CardError {
            .malformed("\(path.isEmpty ? "the document" : path): \(reason) (byte \(position))")
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func value(path: String, depth: Int) throws(CardError) -> Value {
            guard depth < StrictJSON.maximumDepth else { throw failure(path, "nested too deeply") }
            guard position < bytes.count else { throw failure(path, "the document ends where a value belongs") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(path: path, depth: depth)
            case UInt8(ascii: "["): return try array(path: path, depth: depth)
            case UInt8(ascii: "\""): return .string(try string(path: path))
            case UInt8(ascii: "t"): try literal("true", path: path); return .bool(true)
            case UInt8(ascii: "f"): try literal("false", path: path); return .bool(false)
            case UInt8(ascii: "n"): try literal("null", path: path); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number(path: path))
            default: throw failure(path, "not a JSON value")
            }
        }

        mutating func literal(_ word: String, path: String) throws(CardError) {
            let expected = Array(word.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position..<position + expected.count]) == expected
            else { throw failure(path, "not a JSON value") }
            position += expected.count
        }

        mutating func object(path: String, depth: Int) throws(CardError) -> Value {
            position += 1
            var members: [(name: String, value: Value)] = []
            var names: Set<String> = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure(path, "a member name must be a string") }
                let name = try string(path: path)
                let memberPath = path.isEmpty ? name : "\(path).\(name)"
                guard names.insert(name).inserted else { throw failure(memberPath, "the name appears twice") }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure(memberPath, "':' expected") }
                position += 1
                skipWhitespace()
                members.append((name, try value(path: memberPath, depth: depth + 1)))
                skipWhitespace()
                guard position < bytes.count else { throw failure(path, "the document ends inside an object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                throw failure(path, "',' or '}' expected")
            }
        }

        mutating func array(path: String, depth: Int) throws(CardError) -> Value {
            position += 1
            var elements: [Value] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(path: "\(path)[\(elements.count)]", depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw failure(path, "the document ends inside an array") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                throw failure(path, "',' or ']' expected")
            }
        }

        /// A string: valid UTF-8, no unescaped control characters, escapes as RFC 8259 §7 with
        /// surrogate pairs only in pairs.
        mutating func string(path: String) throws(CardError) -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw failure(path, "the document ends inside a string") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw failure(path, "a string is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw failure(path, "the document ends inside a string") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4(path: path)
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                            else { throw failure(path, "a lone surrogate escape") }
                            position += 2
                            let low = try hex4(path: path)
                            guard (0xDC00...0xDFFF).contains(low) else { throw failure(path, "a lone surrogate escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw failure(path, "a lone surrogate escape")
                        }
                        out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                    default: throw failure(path, "an unknown escape in a string")
                    }
                case 0x00..<0x20: throw failure(path, "a control character in a string")
                default: out.append(byte)
                }
            }
        }

        mutating func hex4(path: String) throws(CardError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw failure(path, "a \\u escape needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw failure(path, "a \\u escape needs four hex digits")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        /// A number as RFC 8259 §6 writes one: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number(path: String) throws(CardError) -> String {
            let start = position
            func digits() -> Int {
                let from = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                return position - from
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count else { throw failure(path, "not a number") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else if digits() == 0 {
                throw failure(path, "not a number")
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw failure(path, "not a number") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw failure(path, "not a number") }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
    }

    /// Reads the members of one object by name, each once; `finish` refuses names nobody read.
    public struct Object {
        private let members: [(name: String, value: Value)]
        private var read: Set<String> = []
        /// Where the object is (`""` for the document).
        public let path: String

        public init(_ value: Value, path: String) throws(CardError) {
            guard case .object(let members) = value else { throw CardError.malformed("\(Self.describe(path)): must be an object") }
            self.members = members
            self.path = path
        }

        static func describe(_ path: String) -> String { path.isEmpty ? "the document" : path }

        func at(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

        public mutating func value(_ name: String) throws(CardError) -> Value {
            guard let member = members.first(where: { $0.name == name }) else { throw CardError.malformed("\(at(name)): missing") }
            read.insert(name)
            return member.value
        }

        public mutating func string(_ name: String) throws(CardError) -> String {
            guard case .string(let text) = try value(name) else { throw CardError.malformed("\(at(name)): must be a string") }
            return text
        }

        /// An unsigned 64-bit integer written as plain digits without leading zeros.
        public mutating func uint64(_ name: String) throws(CardError) -> UInt64 {
            guard case .number(let text) = try value(name), text == "0" || (text.first != "0" && text.allSatisfy(\.isASCIIDigit)),
                  let number = UInt64(text)
            else { throw CardError.malformed("\(at(name)): must be an integer from 0 to 18446744073709551615, in plain digits") }
            return number
        }

        /// `count` bytes as exactly `2 × count` lower-case hex digits.
        public mutating func hex(_ name: String, bytes count: Int) throws(CardError) -> String {
            let text = try string(name)
            guard text.utf8.count == 2 * count, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { throw CardError.malformed("\(at(name)): must be \(2 * count) lower-case hex digits") }
            return text
        }

        public mutating func array(_ name: String) throws(CardError) -> [Value] {
            guard case .array(let elements) = try value(name) else { throw CardError.malformed("\(at(name)): must be an array") }
            return elements
        }

        /// Refuses a member that was not read: a field the format does not define.
        public func finish() throws(CardError) {
            if let unknown = members.first(where: { !read.contains($0.name) }) {
                throw CardError.malformed("\(at(unknown.name)): not a field of this format")
            }
        }
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
