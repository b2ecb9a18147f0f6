import Foundation

/// `caucus-relay --config FILE`: the daemon's settings as `name = value` lines, one setting per
/// line, where `name` is the long option without its dashes (`port = 8080`, `data-dir = /var/lib/x`).
/// `#` starts a comment line; blank lines are ignored; a value may be quoted ("…") to keep
/// surrounding spaces or a `#`; an option that may be given several times (`public-address`) may
/// appear on several lines. A setting given on the command line or in the environment wins over
/// the file.
public struct RelayConfigFile: Sendable, Equatable {
    /// Where the file was read from, for errors.
    public let path: String
    /// Every value, by option name, in the order the file gives them.
    public private(set) var values: [String: [String]] = [:]

    /// A line the daemon cannot use, named by file and line number.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let line: Int
        public let reason: String
        public var description: String { line == 0 ? "\(path): \(reason)" : "\(path), line \(line): \(reason)" }
    }

    /// Reads `path`; fails naming the file and the reason when it cannot be read.
    public static func read(_ path: String, knownNames: Set<String>, repeatable: Set<String> = []) throws -> RelayConfigFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ParseError(path: path, line: 0, reason: "cannot read the configuration file: \(FileErrorReason.of(error))")
        }
        return try parse(text, path: path, knownNames: knownNames, repeatable: repeatable)
    }

    /// Parses `text`: every name must be one of `knownNames`, and only those in `repeatable` may
    /// appear more than once.
    public static func parse(_ text: String, path: String, knownNames: Set<String>,
                             repeatable: Set<String> = []) throws -> RelayConfigFile {
        var file = RelayConfigFile(path: path)
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ reason: String) -> ParseError { ParseError(path: path, line: lineNumber, reason: reason) }
            guard let equals = line.firstIndex(of: "=") else {
                throw fail("expected name = value, found \(shown(line))")
            }
            var name = line[..<equals].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("--") { name.removeFirst(2) }
            guard knownNames.contains(name) else {
                throw fail("unknown setting \(shown(name)) (the names are the long options of caucus-relay --help, without the dashes)")
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else { throw fail("\(name): the quoted value has no closing quote") }
                value = String(value.dropFirst().dropLast())
            }
            guard !value.isEmpty else { throw fail("\(name) has no value") }
            if file.values[name] != nil, !repeatable.contains(name) {
                throw fail("\(name) is set twice (it takes one value)")
            }
            file.values[name, default: []].append(value)
        }
        return file
    }

    /// The value of a setting given once, or nil.
    public func value(_ name: String) -> String? { values[name]?.last }

    /// A name or line as an error shows it: at most 60 characters, control characters escaped.
    private static func shown(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { scalar in
            scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }.joined()
        return "\"" + (escaped.count > 60 ? String(escaped.prefix(60)) + "…" : escaped) + "\""
    }

}

/// The operating system's words for a file error ("No such file or directory", "Permission
/// denied"): Foundation's own are about permissions even when the cause is another.
public enum FileErrorReason {
    public static func of(_ error: any Error) -> String {
        // Caucus's own errors say what they mean; Foundation's and the system's are read below.
        if !(error is CocoaError), !(error is POSIXError), !(type(of: error) is NSError.Type) {
            return String(describing: error)
        }
        let error = error as NSError
        let underlying = error.userInfo[NSUnderlyingErrorKey]
        if let posix = underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let underlying = underlying as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
        return "\(error)"
    }
}
