import Foundation
import Testing
@testable import CaucusCrypto

/// Finds and loads the third-party vectors in `../shared/vectors` (or `$CAUCUS_VECTORS`).
enum Vectors {
    /// The vectors folder, if it exists.
    static let folder: URL? = {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["CAUCUS_VECTORS"] ?? URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors").path
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? URL(fileURLWithPath: path) : nil
    }()

    /// The JSON of `name`, or nil after failing the test under CI or printing a skip notice elsewhere.
    static func load(_ name: String) throws -> Any? {
        guard let folder else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("test vectors not found: put them in ../shared/vectors or set CAUCUS_VECTORS")
            } else {
                print("SKIP \(name): test vectors not found (../shared/vectors or CAUCUS_VECTORS)")
            }
            return nil
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// Every test of a Wycheproof file, with the fields of its group, and the file's declared count.
    static func wycheproof(_ name: String) throws -> (tests: [(group: [String: Any], test: [String: Any])], declared: Int)? {
        guard let json = try load(name) as? [String: Any] else { return nil }
        var tests = [(group: [String: Any], test: [String: Any])]()
        for group in json["testGroups"] as! [[String: Any]] {
            for test in group["tests"] as! [[String: Any]] { tests.append((group, test)) }
        }
        return (tests, json["numberOfTests"] as! Int)
    }

    /// Prints the summary line and checks that every case ran and matched.
    static func report(_ suite: String, run: Int, matched: Int, expected: Int, note: String = "") {
        print("\(suite): \(run) cases run, \(matched) matched\(note.isEmpty ? "" : "; " + note)")
        #expect(run == expected, "\(suite): ran \(run) of \(expected)")
        #expect(matched == run, "\(suite): \(run - matched) mismatches")
    }
}

extension Dictionary where Key == String, Value == Any {
    /// The hex field `key` as bytes.
    func hex(_ key: String) -> [UInt8] { Hex.decode(self[key] as! String)! }
    /// The Wycheproof result: "valid", "invalid" or "acceptable".
    var result: String { self["result"] as! String }
    var flags: [String] { self["flags"] as? [String] ?? [] }
}
