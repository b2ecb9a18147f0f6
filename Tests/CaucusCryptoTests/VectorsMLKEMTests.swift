import Foundation
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// The Wycheproof ML-KEM-768 files (../shared/vectors, README "ML-KEM-768 and X-Wing") run against
/// `MLKEM`, the wrapper over swift-crypto that sessions use. What the wrapper cannot be asked, and
/// so is not run: a derandomised encapsulation (the `m` of the encaps file's valid cases; their
/// `ek` is still checked to be accepted) and an expanded 2,400-byte decapsulation key (the
/// semi-expanded file), since Caucus keeps and imports only 64-byte seeds.
@Suite("Vectors: Wycheproof ML-KEM-768")
struct VectorsMLKEMTests {
    struct File<Test: Decodable>: Decodable {
        struct Group: Decodable { let tests: [Test] }
        let testGroups: [Group]
        var tests: [Test] { testGroups.flatMap(\.tests) }
    }

    struct KeyGenTest: Decodable {
        let tcId: Int
        @HexEncoded var seed: [UInt8]
        @HexEncoded var ek: [UInt8]
    }

    struct DecapsTest: Decodable {
        let tcId: Int
        let seed: String
        let ek: String?
        let c: String
        let K: String
        let result: String
    }

    struct EncapsTest: Decodable {
        let tcId: Int
        let ek: String
        let result: String
        let flags: [String]
    }

    @Test("key generation from a seed: every encapsulation key matches")
    func keyGeneration() throws {
        guard let file = try Vectors.decode(File<KeyGenTest>.self, from: "mlkem_768_keygen_seed_test.json") else { return }
        var failures = [String]()
        for test in file.tests {
            let key = try MLKEM.PrivateKey(seed: SecureBytes(copying: test.seed))
            if key.publicKey.rawRepresentation != test.ek { failures.append("tcId \(test.tcId)") }
        }
        Vectors.report("Wycheproof ML-KEM-768 keygen", run: file.tests.count, matched: file.tests.count - failures.count,
                       expected: 100, failures: failures)
    }

    @Test("decapsulation: valid cases (implicit rejection included) give K, invalid seeds and ciphertext lengths are refused")
    func decapsulation() throws {
        guard let file = try Vectors.decode(File<DecapsTest>.self, from: "mlkem_768_test.json") else { return }
        var failures = [String]()
        for test in file.tests {
            let seed = try #require(Hex.decode(test.seed)), ciphertext = try #require(Hex.decode(test.c))
            let outcome = Result { () throws(CryptoError) -> (MLKEM.PublicKey, [UInt8]) in
                let key = try MLKEM.PrivateKey(seed: SecureBytes(copying: seed))
                return (key.publicKey, try key.decapsulate(ciphertext).withUnsafeBytes { Array($0) })
            }
            let matched: Bool
            switch (test.result, outcome) {
            case ("valid", .success(let (publicKey, secret))):
                // "Random ciphertext", "Bit flipped ciphertext" and Strcmp are valid: K is then the
                // implicit-rejection key, and decapsulation must give it, not fail.
                matched = secret == Hex.decode(test.K) && publicKey.rawRepresentation == test.ek.flatMap(Hex.decode)
            case ("invalid", .failure):
                matched = true
            default:
                matched = false
            }
            if !matched { failures.append("tcId \(test.tcId)") }
        }
        Vectors.report("Wycheproof ML-KEM-768 decaps", run: file.tests.count, matched: file.tests.count - failures.count,
                       expected: 193, failures: failures)
    }

    @Test("encapsulation keys: the invalid ones (not reduced mod q, wrong length) are refused, the valid ones accepted")
    func encapsulationKeys() throws {
        guard let file = try Vectors.decode(File<EncapsTest>.self, from: "mlkem_768_encaps_test.json") else { return }
        var failures = [String](), refused = 0
        for test in file.tests {
            let bytes = try #require(Hex.decode(test.ek))
            let key = try? MLKEM.PublicKey(rawRepresentation: bytes)
            switch test.result {
            case "valid":
                // An accepted key encapsulates a secret its owner could open; the seed is not in this file.
                if key == nil || key!.encapsulate().ciphertext.count != MLKEM.ciphertextByteCount { failures.append("tcId \(test.tcId)") }
            default:
                if key == nil { refused += 1 } else { failures.append("tcId \(test.tcId)") }
            }
        }
        Vectors.report("Wycheproof ML-KEM-768 encaps keys", run: file.tests.count, matched: file.tests.count - failures.count,
                       expected: 265, note: "\(refused) invalid keys refused", failures: failures)
    }
}
