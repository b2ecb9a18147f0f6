import Foundation
import Testing

/// Protocol.md is the contract: §7.11's schema and §7.10's error table must say what
/// `caucus_relay.proto` (from which the code is generated) says, message by message and field by
/// field, and §3.1's registry must list the signing contexts the code uses. A field added,
/// renumbered, retyped or renamed in one and not the other fails here.
@Suite("Protocol.md agrees with caucus_relay.proto and the code")
struct SchemaProseTests {
    /// One field as both texts give it.
    struct Field: Hashable, CustomStringConvertible {
        let name: String
        let number: Int
        let type: String
        let repeated: Bool
        /// The `oneof` it is in, if any.
        let oneof: String?

        var description: String {
            "\(oneof.map { "oneof \($0): " } ?? "")\(repeated ? "repeated " : "")\(type) \(name) = \(number)"
        }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every message of the .proto file with its fields, and every enum with its values.
    static func proto() throws -> (messages: [String: Set<Field>], enums: [String: [Int: String]]) {
        let text = try read("Sources/CaucusProtocol/caucus_relay.proto").split(separator: "\n").map { line in
            String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        }.joined(separator: "\n")
        var messages: [String: Set<Field>] = [:], enums: [String: [Int: String]] = [:]
        var stack: [(kind: String, name: String)] = []
        let opening = /^\s*(message|enum|oneof)\s+(\w+)\s*\{\s*$/
        let oneLine = /^\s*message\s+(\w+)\s*\{(.*)\}\s*$/
        let field = /^\s*(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;\s*$/
        let value = /^\s*(\w+)\s*=\s*(\d+)\s*;\s*$/
        for line in text.split(separator: "\n").map(String.init) {
            if let match = line.wholeMatch(of: oneLine) {
                // `message Ping { bytes data = 1; }`
                var fields = Set<Field>()
                for part in match.2.split(separator: ";") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
                    let field = try #require((part + ";").wholeMatch(of: field), "cannot read \"\(part)\" in the .proto")
                    fields.insert(Field(name: String(field.3), number: Int(field.4)!, type: String(field.2),
                                        repeated: field.1 != nil, oneof: nil))
                }
                messages[String(match.1)] = fields
            } else if let match = line.wholeMatch(of: opening) {
                stack.append((String(match.1), String(match.2)))
                if match.1 == "message" { messages[String(match.2)] = [] }
                if match.1 == "enum" { enums[String(match.2)] = [:] }
            } else if line.trimmingCharacters(in: .whitespaces) == "}" {
                stack.removeLast()
            } else if let top = stack.last, top.kind == "enum", let match = line.wholeMatch(of: value) {
                enums[top.name]![Int(match.2)!] = String(match.1)
            } else if let match = line.wholeMatch(of: field) {
                let oneof = stack.last?.kind == "oneof" ? stack.last!.name : nil
                let message = stack.last(where: { $0.kind == "message" })!.name
                messages[message]!.insert(Field(name: String(match.3), number: Int(match.4)!, type: String(match.2),
                                                repeated: match.1 != nil, oneof: oneof))
            }
        }
        return (messages, enums)
    }

    /// The messages of §7.11's schema block, with their fields. `bytes[32]`, `bytes[≤1024]` and
    /// the like are `bytes` (the bracket is a length rule the wire does not carry).
    static func prose() throws -> [String: Set<Field>] {
        let document = try read("Protocol.md")
        let section = try #require(document.firstRange(of: "### 7.11 Schema").map { document[$0.upperBound...] })
        let block = try #require(section.firstRange(of: "```\n").map { section[$0.upperBound...] })
        let body = block[..<(try #require(block.firstRange(of: "```")).lowerBound)]
        // An entry starts at the left margin; indented lines continue the entry above.
        var entries: [String] = []
        for line in body.split(separator: "\n") {
            if line.first == " ", !entries.isEmpty { entries[entries.count - 1] += " " + line.trimmingCharacters(in: .whitespaces) }
            else { entries.append(String(line)) }
        }
        var messages: [String: Set<Field>] = [:]
        let plain = /^(\w+)\s+(repeated\s+)?(\w+)(\[[^\]]*\])?\s+\((\d+)(,\s*optional)?\)$/
        let choice = /^(\w+)\s+(\w+)\s+\((\d+)\)$/
        for entry in entries {
            var rest = Substring(entry)
            var names = [String(rest.prefix { $0.isLetter || $0.isNumber })]
            rest = rest.dropFirst(names[0].count)
            while rest.hasPrefix(", ") {
                rest = rest.dropFirst(2)
                let next = String(rest.prefix { $0.isLetter || $0.isNumber })
                names.append(next)
                rest = rest.dropFirst(next.count)
            }
            let fieldsText = rest.trimmingCharacters(in: .whitespaces)
            // The enum is compared with §7.10's table instead.
            if fieldsText.hasPrefix("enum") { continue }
            var fields = Set<Field>()
            for part in fieldsText.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                if part.hasPrefix("oneof ") {
                    let colon = try #require(part.firstIndex(of: ":"))
                    let oneof = String(part[part.index(part.startIndex, offsetBy: 6)..<colon])
                    for option in part[part.index(after: colon)...].split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                        let match = try #require(option.wholeMatch(of: choice), "cannot read \"\(option)\" in §7.11")
                        fields.insert(Field(name: String(match.1), number: Int(match.3)!, type: String(match.2), repeated: false, oneof: oneof))
                    }
                } else {
                    let match = try #require(part.wholeMatch(of: plain), "cannot read \"\(part)\" in §7.11")
                    fields.insert(Field(name: String(match.1), number: Int(match.5)!, type: String(match.3),
                                        repeated: match.2 != nil, oneof: nil))
                }
            }
            for name in names { messages[name] = fields }
        }
        return messages
    }

    @Test("Every message and field of the .proto file is in §7.11 with the same number and type, and nothing else is")
    func messagesAgree() throws {
        let fromProto = try Self.proto().messages, fromProse = try Self.prose()
        #expect(Set(fromProse.keys) == Set(fromProto.keys), "only in §7.11: \(Set(fromProse.keys).subtracting(fromProto.keys)); only in the .proto: \(Set(fromProto.keys).subtracting(fromProse.keys))")
        for name in Set(fromProto.keys).intersection(fromProse.keys).sorted() {
            let proto = fromProto[name]!, prose = fromProse[name]!
            #expect(proto == prose, "\(name): only in the .proto \(proto.subtracting(prose).sorted { $0.number < $1.number }); only in §7.11 \(prose.subtracting(proto).sorted { $0.number < $1.number })")
        }
        #expect(fromProto.count >= 30, "the .proto parser found \(fromProto.count) messages")
    }

    @Test("§3.1's registry lists every signing context the code signs with, and only those")
    func signingContextsAgree() throws {
        var fromCode = Set<String>()
        let sources = Self.root.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /SigningContext\("([^"]+)"\)/) { fromCode.insert(String(match.1)) }
        }
        let document = try Self.read("Protocol.md")
        let section = try #require(document.firstRange(of: "### 3.1 Registry of context tags").map { document[$0.upperBound...] })
        let table = section[..<(try #require(section.firstRange(of: "\n## ")).lowerBound)]
        let fromProse = Set(table.matches(of: /\n\| `(caucus\/[^`]+)` \|/).map { String($0.1) })
        let inCode = fromCode.filter { !$0.hasPrefix("caucus/test-") }
        #expect(inCode == fromProse, "only in the code: \(inCode.subtracting(fromProse).sorted()); only in §3.1: \(fromProse.subtracting(inCode).sorted())")
        #expect(inCode.count >= 10, "found \(inCode.count) contexts in the sources")
    }

    @Test("§7.10's table names every error code of the .proto file with its number")
    func errorCodesAgree() throws {
        let codes = try #require(try Self.proto().enums["ErrorCode"])
        let document = try Self.read("Protocol.md")
        let section = try #require(document.firstRange(of: "### 7.10 Errors").map { document[$0.upperBound...] })
        let table = section[..<(try #require(section.firstRange(of: "\n### ")).lowerBound)]
        var fromProse: [Int: String] = [:]
        for match in table.matches(of: /\n\| (\d+) \| `(\w+)` \|/) { fromProse[Int(match.1)!] = String(match.2) }
        #expect(fromProse == codes.filter { $0.key != 0 }, "§7.10: \(fromProse.sorted { $0.key < $1.key }); .proto: \(codes.sorted { $0.key < $1.key })")
        #expect(codes[0] == "ERROR_CODE_UNSPECIFIED")
    }

    @Test("Every section from §2 on ends with a Receivers subsection (what a receiver does with input that breaks it), and §1.2 says so")
    func everySectionEndsWithItsReceivers() throws {
        let document = try Self.read("Protocol.md")
        #expect(document.contains("### 1.2 Requirement keywords, and what receivers do"))
        #expect(document.contains("BCP 14 (RFC 2119, RFC 8174)"))
        // Each top-level section's headings, in order: its number and its subsections' titles.
        var sections: [(number: Int, subsections: [String])] = []
        var inCode = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inCode.toggle() }
            if inCode { continue }
            if let match = line.wholeMatch(of: /## (\d+)\. .*/) {
                sections.append((Int(match.1)!, []))
            } else if line.hasPrefix("### "), !sections.isEmpty {
                sections[sections.count - 1].subsections.append(String(line.dropFirst(4)))
            }
        }
        #expect(sections.map(\.number) == Array(1...10), "\(sections.map(\.number))")
        for section in sections where section.number >= 2 {
            let last = section.subsections.last ?? "(none)"
            #expect(last.hasPrefix("\(section.number).") && last.hasSuffix(" Receivers"),
                    "§\(section.number)'s last subsection is \(last), not its Receivers")
        }
    }
}
