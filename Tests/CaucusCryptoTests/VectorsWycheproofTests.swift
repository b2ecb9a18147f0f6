import Foundation
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// The Wycheproof files for the primitives the core wraps: what libsodium must accept and refuse.
@Suite("Vectors: Wycheproof")
struct VectorsWycheproofTests {
    @Test("Ed25519 verification")
    func ed25519() throws {
        guard let file = try Vectors.decode(WycheproofFile<EdDSAGroup>.self, from: "ed25519_test.json") else { return }
        var failures = [String]()
        for (group, test) in file.cases {
            let key = try Ed25519.PublicKey(rawRepresentation: group.publicKey.pk)
            // A signature of the wrong length cannot even be built: that counts as rejected.
            let verified = (try? Ed25519.Signature(rawRepresentation: test.sig))
                .map { key.isValidSignature($0, forRaw: test.msg) } ?? false
            if verified != (test.result == .valid) { failures.append("tcId \(test.tcId)") }
        }
        file.report("Wycheproof Ed25519", failures: failures)
    }

    @Test("X25519 shared secrets; low-order peers refused as libsodium does")
    func x25519() throws {
        guard let file = try Vectors.decode(WycheproofFile<XDHGroup>.self, from: "x25519_test.json") else { return }
        var failures = [String](), refusedLowOrder = 0
        for (_, test) in file.cases {
            let key = X25519.PrivateKey(scalar: SecureBytes(copying: test.privateKey))
            let peer = try X25519.PublicKey(rawRepresentation: test.publicKey)
            let outcome = Result { () throws(CryptoError) in
                try key.sharedSecret(with: peer).bytes.withUnsafeBytes { Array($0) }
            }
            let matched: Bool
            switch test.result {
            case .valid:
                matched = outcome == .success(test.shared)
            case .acceptable where test.flags.contains("ZeroSharedSecret"):
                matched = outcome == .failure(.lowOrderSharedSecret)
                if matched { refusedLowOrder += 1 }
            case .acceptable:
                matched = outcome == .success(test.shared)
            case .invalid:
                matched = outcome != .success(test.shared)
            }
            if !matched { failures.append("tcId \(test.tcId)") }
        }
        file.report("Wycheproof X25519", failures: failures,
                    note: "\(refusedLowOrder) low-order cases refused with lowOrderSharedSecret as libsodium does")
    }

    @Test("XChaCha20-Poly1305 encryption and decryption")
    func xchacha20Poly1305() throws {
        guard let file = try Vectors.decode(WycheproofFile<AEADGroup>.self, from: "xchacha20_poly1305_test.json")
        else { return }
        var failures = [String](), refusedLength = 0, refusedTag = 0
        for (group, test) in file.cases {
            let sealed = test.ct + test.tag
            let opened = sealed.withUnsafeBufferPointer { ciphertext in
                test.iv.withUnsafeBufferPointer { nonce in
                    test.key.withUnsafeBytes { key in
                        Result { () throws(CryptoError) in
                            try XChaCha20Poly1305.open(
                                nonce: nonce, ciphertextAndTag: ciphertext, associatedData: test.aad, key: key)
                        }
                    }
                }
            }
            let matched: Bool
            switch (test.result, opened) {
            case (.valid, _):
                // The sizes must be ones the API takes before encryption is even tried.
                let sizesFit = group.tagSize == XChaCha20Poly1305.tagByteCount * 8
                    && test.tag.count == XChaCha20Poly1305.tagByteCount
                    && test.iv.count == XChaCha20Poly1305.nonceByteCount && test.key.count == SymmetricKey.byteCount
                matched = sizesFit && opened == .success(test.msg)
                    && XChaCha20Poly1305.seal(test.msg, nonce: test.iv, associatedData: test.aad, key: test.key) == sealed
            case (_, .failure(.invalidLength)):
                refusedLength += 1
                matched = true
            case (_, .failure(.authenticationFailed)):
                refusedTag += 1
                matched = true
            case (_, .failure), (_, .success):
                matched = false
            }
            if !matched { failures.append("tcId \(test.tcId)") }
        }
        file.report("Wycheproof XChaCha20-Poly1305", failures: failures,
                    note: "invalid: \(refusedTag) failed authentication, \(refusedLength) refused with invalidLength (nonce size)")
    }

    @Test("HKDF-SHA-256")
    func hkdf() throws {
        guard let file = try Vectors.decode(WycheproofFile<HKDFGroup>.self, from: "hkdf_sha256_test.json") else { return }
        var failures = [String]()
        for (_, test) in file.cases {
            let outcome = Result { () throws(CryptoError) in
                try HKDF.deriveKey(inputKeyMaterial: SecureBytes(copying: test.ikm), salt: test.salt,
                                   info: test.info, outputByteCount: test.size).withUnsafeBytes { Array($0) }
            }
            let expected: Result<[UInt8], CryptoError> = test.result == .valid
                ? .success(test.okm)
                : .failure(.outputTooLong(requested: test.size, maximum: HKDF.maximumOutputByteCount))
            if outcome != expected { failures.append("tcId \(test.tcId)") }
        }
        file.report("Wycheproof HKDF-SHA-256", failures: failures)
    }

    @Test("HMAC-SHA-256, full and truncated tags")
    func hmac() throws {
        guard let file = try Vectors.decode(WycheproofFile<MACGroup>.self, from: "hmac_sha256_test.json") else { return }
        var failures = [String]()
        for (group, test) in file.cases {
            let mac = test.key.withUnsafeBytes { key in
                let state = HMACSHA256.State(key: key)
                state.update(test.msg)
                return state.finalize()
            }
            let equal = ConstantTime.equals(Array(mac.prefix(group.tagSize / 8)), test.tag)
            if equal != (test.result == .valid) { failures.append("tcId \(test.tcId)") }
        }
        file.report("Wycheproof HMAC-SHA-256", failures: failures)
    }
}

/// A Wycheproof test file (schema v1): its declared test count and its groups of tests.
private struct WycheproofFile<Group: WycheproofGroup>: Decodable {
    let numberOfTests: Int
    let testGroups: [Group]

    /// Every test, with the group that holds its shared parameters.
    var cases: [(group: Group, test: Group.Test)] {
        testGroups.flatMap { group in group.tests.map { (group, $0) } }
    }

    /// Prints the summary line and checks that all `numberOfTests` cases ran and matched.
    func report(_ suite: String, failures: [String], note: String = "") {
        let run = cases.count
        Vectors.report(suite, run: run, matched: run - failures.count, expected: numberOfTests,
                       note: note, failures: failures)
    }
}

/// A group of Wycheproof tests that share parameters.
private protocol WycheproofGroup: Decodable {
    associatedtype Test: Decodable
    var tests: [Test] { get }
}

/// What Wycheproof says an implementation should do with a test.
private enum WycheproofResult: String, Decodable {
    case valid, invalid, acceptable
}

/// eddsa_verify_schema_v1: one public key, many signatures.
private struct EdDSAGroup: WycheproofGroup {
    struct PublicKey: Decodable {
        @HexEncoded var pk: [UInt8]
    }

    struct Test: Decodable {
        let tcId: Int
        @HexEncoded var msg: [UInt8]
        @HexEncoded var sig: [UInt8]
        let result: WycheproofResult
    }

    let publicKey: PublicKey
    let tests: [Test]
}

/// xdh_comp_schema_v1: raw private and public keys and the expected shared secret.
private struct XDHGroup: WycheproofGroup {
    struct Test: Decodable {
        let tcId: Int
        let flags: [String]
        @HexEncoded var publicKey: [UInt8]
        @HexEncoded var privateKey: [UInt8]
        @HexEncoded var shared: [UInt8]
        let result: WycheproofResult

        enum CodingKeys: String, CodingKey {
            case tcId, flags, shared, result
            case publicKey = "public", privateKey = "private"
        }
    }

    let tests: [Test]
}

/// aead_test_schema_v1: key, nonce ("iv"), associated data, plaintext, ciphertext and tag.
private struct AEADGroup: WycheproofGroup {
    struct Test: Decodable {
        let tcId: Int
        @HexEncoded var key: [UInt8]
        @HexEncoded var iv: [UInt8]
        @HexEncoded var aad: [UInt8]
        @HexEncoded var msg: [UInt8]
        @HexEncoded var ct: [UInt8]
        @HexEncoded var tag: [UInt8]
        let result: WycheproofResult
    }

    /// Tag length in bits.
    let tagSize: Int
    let tests: [Test]
}

/// hkdf_test_schema_v1: input keying material, salt, info, output length and output.
private struct HKDFGroup: WycheproofGroup {
    struct Test: Decodable {
        let tcId: Int
        @HexEncoded var ikm: [UInt8]
        @HexEncoded var salt: [UInt8]
        @HexEncoded var info: [UInt8]
        let size: Int
        @HexEncoded var okm: [UInt8]
        let result: WycheproofResult
    }

    let tests: [Test]
}

/// mac_test_schema_v1: key, message and a tag that may be truncated to the group's tag size.
private struct MACGroup: WycheproofGroup {
    struct Test: Decodable {
        let tcId: Int
        @HexEncoded var key: [UInt8]
        @HexEncoded var msg: [UInt8]
        @HexEncoded var tag: [UInt8]
        let result: WycheproofResult
    }

    /// Tag length in bits.
    let tagSize: Int
    let tests: [Test]
}
