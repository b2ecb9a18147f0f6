import Foundation
import Testing
@testable import CaucusCrypto

@Suite("Third-party test vectors")
struct VectorTests {
    @Test("Wycheproof Ed25519 verification")
    func ed25519() throws {
        guard let (tests, declared) = try Vectors.wycheproof("ed25519_test.json") else { return }
        var matched = 0
        for (group, test) in tests {
            let key = try Ed25519.PublicKey(rawRepresentation: (group["publicKey"] as! [String: Any]).hex("pk"))
            let verified = (try? Ed25519.Signature(rawRepresentation: test.hex("sig")))
                .map { key.isValidSignature($0, forRaw: test.hex("msg")) } ?? false
            if verified == (test.result == "valid") { matched += 1 }
        }
        Vectors.report("Wycheproof Ed25519", run: tests.count, matched: matched, expected: declared)
    }

    @Test("Wycheproof X25519 (low-order points refused, as libsodium does)")
    func x25519() throws {
        guard let (tests, declared) = try Vectors.wycheproof("x25519_test.json") else { return }
        var matched = 0, refusedLowOrder = 0
        for (_, test) in tests {
            let key = X25519.PrivateKey(scalar: SecureBytes(copying: test.hex("private")))
            let peer = try X25519.PublicKey(rawRepresentation: test.hex("public"))
            let outcome = Result { try key.sharedSecret(with: peer).bytes.withUnsafeBytes { Array($0) } }
            switch (test.result, outcome) {
            case (_, .failure(CryptoError.lowOrderSharedSecret)) where test.flags.contains("ZeroSharedSecret"):
                refusedLowOrder += 1
                matched += 1
            case ("valid", .success(let shared)), ("acceptable", .success(let shared)):
                if shared == test.hex("shared") { matched += 1 }
            case ("invalid", .failure), ("invalid", .success):
                if (try? outcome.get()) != test.hex("shared") { matched += 1 }
            default:
                break
            }
        }
        Vectors.report("Wycheproof X25519", run: tests.count, matched: matched, expected: declared,
                       note: "\(refusedLowOrder) low-order (ZeroSharedSecret) cases refused with lowOrderSharedSecret")
        #expect(refusedLowOrder > 0)
    }

    @Test("Wycheproof XChaCha20-Poly1305")
    func xchacha() throws {
        guard let (tests, declared) = try Vectors.wycheproof("xchacha20_poly1305_test.json") else { return }
        var matched = 0
        for (group, test) in tests {
            let key = test.hex("key"), nonce = test.hex("iv"), aad = test.hex("aad"), msg = test.hex("msg")
            let sealed = test.hex("ct") + test.hex("tag")
            let tagBits = group["tagSize"] as! Int
            let opened: [UInt8]? = sealed.withUnsafeBufferPointer { c in
                nonce.withUnsafeBufferPointer { n in
                    key.withUnsafeBytes { k in
                        try? XChaCha20Poly1305.open(nonce: n, ciphertextAndTag: c, associatedData: aad, key: k)
                    }
                }
            }
            if test.result == "valid" {
                let encrypted = XChaCha20Poly1305.seal(msg, nonce: nonce, associatedData: aad, key: key)
                if tagBits == 128, opened == msg, encrypted == sealed { matched += 1 }
            } else if opened == nil || tagBits != 128 {
                matched += 1
            }
        }
        Vectors.report("Wycheproof XChaCha20-Poly1305", run: tests.count, matched: matched, expected: declared)
    }

    @Test("Wycheproof HKDF-SHA-256")
    func hkdf() throws {
        guard let (tests, declared) = try Vectors.wycheproof("hkdf_sha256_test.json") else { return }
        var matched = 0
        for (_, test) in tests {
            let outcome = Result {
                try HKDF.deriveKey(inputKeyMaterial: SecureBytes(copying: test.hex("ikm")), salt: test.hex("salt"),
                                   info: test.hex("info"), outputByteCount: test["size"] as! Int).withUnsafeBytes { Array($0) }
            }
            switch (test.result, outcome) {
            case ("valid", .success(let okm)) where okm == test.hex("okm"): matched += 1
            case ("invalid", .failure(CryptoError.outputTooLong)): matched += 1
            default: break
            }
        }
        Vectors.report("Wycheproof HKDF-SHA-256", run: tests.count, matched: matched, expected: declared)
    }

    @Test("Wycheproof HMAC-SHA-256 (full and truncated tags)")
    func hmac() throws {
        guard let (tests, declared) = try Vectors.wycheproof("hmac_sha256_test.json") else { return }
        var matched = 0
        for (group, test) in tests {
            let tagBytes = (group["tagSize"] as! Int) / 8
            let mac = test.hex("key").withUnsafeBytes { key in
                let state = HMACSHA256.State(key: key)
                state.update(test.hex("msg"))
                return state.finalize()
            }
            let equal = ConstantTime.equals(Array(mac.prefix(tagBytes)), test.hex("tag"))
            if equal == (test.result == "valid") { matched += 1 }
        }
        Vectors.report("Wycheproof HMAC-SHA-256", run: tests.count, matched: matched, expected: declared)
    }

    @Test("RFC 8032 Ed25519: deterministic keys and signatures")
    func rfc8032() throws {
        guard let cases = try Vectors.load("rfc8032-ed25519.json") as? [[String: Any]] else { return }
        var matched = 0
        for test in cases {
            let key = try Ed25519.PrivateKey(seed: SecureBytes(copying: test.hex("secretKey")))
            let signature = key.signature(forRaw: test.hex("message"))
            if key.publicKey.rawRepresentation == test.hex("publicKey"), signature.rawRepresentation == test.hex("signature"),
               key.publicKey.isValidSignature(signature, forRaw: test.hex("message")) { matched += 1 }
        }
        Vectors.report("RFC 8032 Ed25519", run: cases.count, matched: matched, expected: 5)
    }

    @Test("did:key for Ed25519 seeds, and the derived X25519 key-agreement keys")
    func didKey() throws {
        guard let entries = try Vectors.load("didkey-ed25519-x25519.json") as? [String: [String: Any]] else { return }
        var matched = 0
        for (expectedDID, entry) in entries {
            let identity = try Ed25519.PrivateKey(seed: SecureBytes(copying: entry.hex("seed")))
            let did = DID(publicKey: identity.publicKey)
            let agreement = X25519.PrivateKey(converting: identity)
            let pair = entry["keyAgreementKeyPair"] as! [String: Any]
            let verification = entry["verificationKeyPair"] as! [String: Any]
            var ok = did.description == expectedDID && (try? DID(parsing: expectedDID)) == did
            let kaID = try did.keyAgreementIdentifier(), kaKey = try did.keyAgreementKey()
            // The id is "#z6LS…" or "did:key:z6Mk…#z6LS…": the fragment is the key-agreement id.
            let fragment = (pair["id"] as! String).split(separator: "#").last.map(String.init)
            ok = ok && kaID == fragment && kaKey == agreement.publicKey
            if let base58 = verification["publicKeyBase58"] as? String {
                let decoded = try Base58.decode(base58).get()
                ok = ok && decoded == identity.publicKey.rawRepresentation
            } else {
                let jwk = verification["publicKeyJwk"] as! [String: Any]
                ok = ok && base64url(jwk["x"] as! String) == identity.publicKey.rawRepresentation
            }
            if let publicBase58 = pair["publicKeyBase58"] as? String, let privateBase58 = pair["privateKeyBase58"] as? String {
                let publicKey = try Base58.decode(publicBase58).get(), privateKey = try Base58.decode(privateBase58).get()
                ok = ok && publicKey == agreement.publicKey.rawRepresentation
                ok = ok && privateKey == agreement.scalar.withUnsafeBytes { Array($0) }
            } else {
                let jwk = pair["publicKeyJwk"] as! [String: Any], secret = pair["privateKeyJwk"] as! [String: Any]
                ok = ok && base64url(jwk["x"] as! String) == agreement.publicKey.rawRepresentation
                ok = ok && base64url(secret["d"] as! String) == agreement.scalar.withUnsafeBytes { Array($0) }
            }
            if ok { matched += 1 }
        }
        Vectors.report("did:key Ed25519 + X25519", run: entries.count, matched: matched, expected: 5)
    }

    @Test("did:key for bare X25519 keys is not an identity")
    func didKeyX25519() throws {
        guard let file = try Vectors.load("didkey-x25519.json") as? [String: [String: [String: Any]]],
              let entries = file["didDocument"] else { return }
        var matched = 0
        for (didText, document) in entries {
            let method = document["verificationMethod"] as? [[String: Any]] ?? []
            let key: [UInt8]? = method.first.flatMap { m in
                (m["publicKeyBase58"] as? String).flatMap { try? Base58.decode($0).get() }
                    ?? (m["publicKeyJwk"] as? [String: Any]).map { base64url($0["x"] as! String) }
            }
            let decoded = try Base58.decode(String(didText.dropFirst("did:key:z".count))).get()
            let refused = (try? DID(parsing: didText)) == nil
            var error: DIDError?
            do { _ = try DID(parsing: didText) } catch let e { error = e }
            if decoded.prefix(2) == [0xec, 0x01], decoded.count == 34, key != nil, Array(decoded.dropFirst(2)) == key,
               refused, error == .unknownCodec(0xec) { matched += 1 }
        }
        Vectors.report("did:key X25519", run: entries.count, matched: matched, expected: 4)
    }

    @Test("BLAKE2b known answers (unkeyed and keyed)")
    func blake2b() throws {
        guard let all = try Vectors.load("blake2-kat.json") as? [[String: Any]] else { return }
        let cases = all.filter { $0["hash"] as? String == "blake2b" }
        var matched = 0
        for test in cases where (try BLAKE2b.hash(test.hex("in"), outputByteCount: 64, key: test.hex("key"))) == test.hex("out") {
            matched += 1
        }
        Vectors.report("BLAKE2b KAT", run: cases.count, matched: matched, expected: 512)
    }
}

/// Bytes of unpadded base64url text (JWK key fields).
func base64url(_ text: String) -> [UInt8] {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return [UInt8](Data(base64Encoded: base64)!)
}
