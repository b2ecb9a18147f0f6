import Foundation
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// Finds and loads the third-party vectors in `$CAUCUS_VECTORS`, else `<package root>/../shared/vectors`.
enum Vectors {
    /// Where the vectors folder should be (it may be missing).
    static let folder: URL = {
        if let path = ProcessInfo.processInfo.environment["CAUCUS_VECTORS"] {
            return URL(fileURLWithPath: path, isDirectory: true)
        }
        // This file is <root>/Tests/CaucusCryptoTests/VectorsSupport.swift.
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent("../shared/vectors", isDirectory: true).standardizedFileURL
    }()

    /// The bytes of vector file `name`; nil, after failing the test under CI=true or printing a SKIP
    /// line elsewhere, when the folder is missing. A missing file inside the folder throws.
    static func data(named name: String) throws -> Data? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            let message = "vectors folder not found at \(folder.path); set CAUCUS_VECTORS to its path"
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("\(message) (needed for \(name))")
            } else {
                print("SKIP vectors (\(name)): \(message)")
            }
            return nil
        }
        return try Data(contentsOf: folder.appendingPathComponent(name))
    }

    /// Vector file `name` decoded as `type`; nil when the folder is missing (see `data(named:)`).
    static func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T? {
        guard let data = try data(named: name) else { return nil }
        return try JSONDecoder().decode(type, from: data)
    }

    /// Prints the summary line, then checks that every expected case ran and every case matched;
    /// `failures` names the cases that did not match.
    static func report(
        _ suite: String, run: Int, matched: Int, expected: Int, note: String = "", failures: [String] = []
    ) {
        print("\(suite): \(run) cases run, \(matched) matched\(note.isEmpty ? "" : "; " + note)")
        #expect(run == expected, "\(suite): ran \(run) of \(expected)")
        #expect(matched == run, "\(suite): \(run - matched) mismatches \(failures.joined(separator: ", "))")
    }

    /// The bytes of unpadded base64url text (JWK key fields), or nil if it is not base64url.
    static func base64URL(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }
}

/// A byte string written as hex in a vector file, decoded with the core's `Hex.decode`.
@propertyWrapper
struct HexEncoded: Decodable {
    var wrappedValue: [UInt8]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let bytes = Hex.decode(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not hex: \(text.prefix(40))")
        }
        wrappedValue = bytes
    }
}
