import Foundation
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// Known-answer tests from the algorithms' own specifications: RFC 8032 Ed25519 and BLAKE2b.
@Suite("Vectors: known answers")
struct VectorsKnownAnswerTests {
    @Test("RFC 8032 Ed25519: keys and signatures are deterministic")
    func rfc8032() throws {
        guard let cases = try Vectors.decode([RFC8032Case].self, from: "rfc8032-ed25519.json") else { return }
        var failures = [String]()
        for test in cases {
            let key = try Ed25519.PrivateKey(seed: SecureBytes(copying: test.secretKey))
            let signature = key.signature(forRaw: test.message)
            let matched = key.publicKey.rawRepresentation == test.publicKey
                && signature.rawRepresentation == test.signature
                && key.publicKey.isValidSignature(signature, forRaw: test.message)
            if !matched { failures.append("test \(test.name)") }
        }
        // Section 7.1 gives five tests: "1", "2", "3", "1024" and "SHA(abc)".
        Vectors.report("RFC 8032 Ed25519", run: cases.count, matched: cases.count - failures.count, expected: 5,
                       failures: failures)
    }

    @Test("BLAKE2b known answers, unkeyed and keyed")
    func blake2b() throws {
        guard let all = try Vectors.decode([BLAKE2Case].self, from: "blake2-kat.json") else { return }
        let cases = all.filter { $0.hash == "blake2b" }
        var failures = [String]()
        for test in cases where try BLAKE2b.hash(test.input, outputByteCount: 64, key: test.key) != test.out {
            failures.append("\(test.input.count)-byte input, \(test.key.isEmpty ? "unkeyed" : "keyed")")
        }
        let keyed = cases.filter { !$0.key.isEmpty }.count
        // 256 inputs of 0...255 bytes, each without a key and with a 64-byte key.
        Vectors.report("BLAKE2b KAT", run: cases.count, matched: cases.count - failures.count, expected: 512,
                       note: "\(cases.count - keyed) unkeyed, \(keyed) keyed", failures: failures)
    }
}

/// One RFC 8032 test: the 32-byte seed ("secretKey"), its public key, a message and its signature.
private struct RFC8032Case: Decodable {
    let name: String
    @HexEncoded var secretKey: [UInt8]
    @HexEncoded var publicKey: [UInt8]
    @HexEncoded var message: [UInt8]
    @HexEncoded var signature: [UInt8]
}

/// One BLAKE2 known answer; `hash` names the variant (only "blake2b" is run).
private struct BLAKE2Case: Decodable {
    let hash: String
    @HexEncoded var input: [UInt8]
    @HexEncoded var key: [UInt8]
    @HexEncoded var out: [UInt8]

    enum CodingKeys: String, CodingKey {
        case hash, key, out
        case input = "in"
    }
}
