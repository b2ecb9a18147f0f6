import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

@Suite("AEAD, sealed boxes, KDFs, padding")
struct PrimitivesTests {
    @Test("XChaCha20-Poly1305 round trip; a new nonce every time; any change is refused")
    func aead() throws {
        let key = SymmetricKey()
        let message = Array("meet at the loading dock".utf8)
        let ad = Array("header".utf8)
        let sealed = XChaCha20Poly1305.seal(message, using: key, authenticating: ad)
        #expect(sealed.count == message.count + XChaCha20Poly1305.overhead)
        #expect(try XChaCha20Poly1305.open(sealed, using: key, authenticating: ad) == message)
        #expect(XChaCha20Poly1305.seal(message, using: key, authenticating: ad)[0..<24] != sealed[0..<24])
        for index in [0, 23, 24, sealed.count - 1] {
            var bad = sealed
            bad[index] ^= 0x80
            #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(bad, using: key, authenticating: ad) }
        }
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed, using: key, authenticating: []) }
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed, using: SymmetricKey(), authenticating: ad) }
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(Array(sealed.prefix(39)), using: key) }
        #expect(try XChaCha20Poly1305.open(XChaCha20Poly1305.seal([], using: key), using: key) == [])
    }

    @Test("sealed boxes open only with the recipient's key, for keys derived from an identity too")
    func sealedBox() throws {
        let identity = Ed25519.PrivateKey()
        let recipient = X25519.PrivateKey(converting: identity)
        #expect(try X25519.PublicKey(converting: identity.publicKey) == recipient.publicKey)
        let card = Array("signed card".utf8)
        let sealed = SealedBox.seal(card, to: recipient.publicKey)
        #expect(sealed.count == card.count + SealedBox.overhead)
        #expect(try SealedBox.open(sealed, with: recipient) == card)
        #expect(throws: CryptoError.authenticationFailed) { try SealedBox.open(sealed, with: X25519.PrivateKey()) }
        var bad = sealed
        bad[40] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try SealedBox.open(bad, with: recipient) }
        #expect(throws: CryptoError.authenticationFailed) { try SealedBox.open([1, 2, 3], with: recipient) }
        #expect(try SealedBox.open(SealedBox.seal([], to: recipient.publicKey), with: recipient) == [])
    }

    @Test("X25519 agrees both ways and refuses low-order points")
    func agreement() throws {
        let a = X25519.PrivateKey(), b = X25519.PrivateKey()
        let ab = try a.sharedSecret(with: b.publicKey), ba = try b.sharedSecret(with: a.publicKey)
        #expect(ab.bytes.constantTimeEquals(ba.bytes))
        let zero = try X25519.PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))
        #expect(throws: CryptoError.lowOrderSharedSecret) { try a.sharedSecret(with: zero) }
        #expect(throws: CryptoError.invalidLength(what: "X25519 public key", expected: 32, actual: 33)) {
            try X25519.PublicKey(rawRepresentation: [UInt8](repeating: 1, count: 33))
        }
    }

    @Test("HMAC verification is exact; HKDF caps its output")
    func macAndKDF() throws {
        let key = SymmetricKey()
        let code = HMACSHA256.authenticationCode(for: [1, 2, 3], using: key)
        #expect(HMACSHA256.isValidAuthenticationCode(code, for: [1, 2, 3], using: key))
        #expect(!HMACSHA256.isValidAuthenticationCode(code, for: [1, 2, 4], using: key))
        #expect(!HMACSHA256.isValidAuthenticationCode(Array(code.prefix(16)), for: [1, 2, 3], using: key))
        let ikm = SecureBytes(randomCount: 32)
        #expect(try HKDF.deriveKey(inputKeyMaterial: ikm, salt: [], info: [], outputByteCount: HKDF.maximumOutputByteCount).count == 8160)
        #expect(throws: CryptoError.outputTooLong(requested: 8161, maximum: 8160)) {
            try HKDF.deriveKey(inputKeyMaterial: ikm, salt: [], info: [], outputByteCount: 8161)
        }
        let k1 = HKDF.deriveSymmetricKey(inputKeyMaterial: ikm, salt: [1], info: Array("a".utf8))
        let k2 = HKDF.deriveSymmetricKey(inputKeyMaterial: ikm, salt: [1], info: Array("b".utf8))
        #expect(!k1.bytes.constantTimeEquals(k2.bytes))
    }

    @Test("hashes have the published lengths; BLAKE2b refuses impossible sizes")
    func hashes() throws {
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA512.hash([]).count == 64)
        #expect(try BLAKE2b.hash([1], outputByteCount: 16).count == 16)
        #expect(throws: CryptoError.self) { try BLAKE2b.hash([1], outputByteCount: 65) }
        #expect(throws: CryptoError.self) { try BLAKE2b.hash([1], key: [UInt8](repeating: 0, count: 65)) }
        var hasher = try BLAKE2b.Hasher()
        hasher.update([1, 2])
        hasher.update([3])
        #expect(hasher.finalize() == (try BLAKE2b.hash([1, 2, 3])))
    }

    @Test("Argon2id depends on passphrase, salt and NFC-normalised text")
    func argon2id() throws {
        let params = try Argon2id.Parameters(iterations: 1, memoryKiB: 8 * 1024)
        let salt = Random.bytes(16)
        let composed = try Argon2id.deriveKey(from: Passphrase("caf\u{e9}"), salt: salt, parameters: params)
        let decomposed = try Argon2id.deriveKey(from: Passphrase("cafe\u{301}"), salt: salt, parameters: params)
        #expect(composed.bytes.constantTimeEquals(decomposed.bytes))
        let other = try Argon2id.deriveKey(from: Passphrase("cafe"), salt: salt, parameters: params)
        #expect(!composed.bytes.constantTimeEquals(other.bytes))
        #expect(throws: CryptoError.invalidLength(what: "Argon2id salt", expected: 16, actual: 8)) {
            try Argon2id.deriveKey(from: Passphrase("x"), salt: Random.bytes(8), parameters: params)
        }
        #expect(throws: CryptoError.self) { try Argon2id.Parameters(iterations: 0, memoryKiB: 8 * 1024) }
        #expect(throws: CryptoError.self) { try Argon2id.Parameters(iterations: 1, memoryKiB: 4) }
    }

    @Test("a secret whose filling fails gives its memory back once, never to two later secrets")
    func failedSecretIsReleasedOnce() {
        struct Refused: Error {}
        #expect(throws: Refused.self) { try SecureBytes(count: 32) { _ in throw Refused() } }
        let first = SecureBytes(copying: [UInt8](repeating: 1, count: 32))
        let second = SecureBytes(copying: [UInt8](repeating: 2, count: 32))
        #expect(first.constantTimeEquals(SecureBytes(copying: [UInt8](repeating: 1, count: 32))))
        #expect(!first.constantTimeEquals(second))
    }

    @Test("padding rounds up to the block and strips back exactly")
    func padding() throws {
        for count in [0, 1, 15, 16, 17, 255] {
            let bytes = [UInt8](repeating: 0x80, count: count)
            let padded = try Padding.pad(bytes, blockSize: 16)
            #expect(padded.count % 16 == 0 && padded.count > count && padded.count <= count + 16)
            #expect(try Padding.unpad(padded, blockSize: 16) == bytes)
        }
        #expect(throws: CryptoError.invalidPadding) { try Padding.unpad([UInt8](repeating: 0, count: 16), blockSize: 16) }
        #expect(throws: CryptoError.invalidPadding) { try Padding.unpad([1, 2, 3], blockSize: 16) }
        #expect(throws: CryptoError.invalidPadding) { try Padding.unpad([], blockSize: 16) }
        #expect(throws: CryptoError.self) { try Padding.pad([1], blockSize: 0) }
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([], []))
    }
}

@Suite("Secrets stay secret")
struct RedactionTests {
    @Test("no printing path shows secret bytes")
    func redacted() throws {
        let seed = SecureBytes(copying: [UInt8](repeating: 0xab, count: 32))
        let identity = try Ed25519.PrivateKey(seed: seed)
        let secretHex = "abababababab"
        let secrets: [Any] = [
            identity, identity.seed, X25519.PrivateKey(converting: identity),
            try X25519.PrivateKey().sharedSecret(with: X25519.PrivateKey().publicKey),
            try SymmetricKey(bytes: SecureBytes(copying: [UInt8](repeating: 0xab, count: 32))),
            Passphrase("hunter2-abababababab"),
        ]
        for secret in secrets {
            var dumped = ""
            dump(secret, to: &dumped)
            for text in [String(describing: secret), String(reflecting: secret), "\(secret)", dumped] {
                #expect(!text.contains(secretHex), "leaked: \(type(of: secret))")
                #expect(!text.contains("171, 171"), "leaked bytes: \(type(of: secret))")
                #expect(!text.contains("hunter2"), "leaked passphrase")
                #expect(text.contains("redacted"), "\(type(of: secret)) printed \(text)")
            }
        }
        // Errors carry no secrets either: a wrong-length seed error names only lengths.
        let error = CryptoError.invalidLength(what: "Ed25519 seed", expected: 32, actual: 3)
        #expect(error.description == "Ed25519 seed must be 32 bytes, got 3")
    }
}

@Suite("AEAD into reused buffers")
struct ReusedBufferTests {
    @Test("seal and open into a buffer of any prior size; a failed open leaves it wiped")
    func reuse() throws {
        let key = SymmetricKey()
        var sealed = [UInt8](repeating: 7, count: 5000), opened = [UInt8](repeating: 9, count: 3)
        for message in [Array("short".utf8), [UInt8](repeating: 1, count: 2000), []] {
            XChaCha20Poly1305.seal(message, using: key, authenticating: [1], into: &sealed)
            #expect(sealed.count == message.count + XChaCha20Poly1305.overhead)
            #expect(try XChaCha20Poly1305.open(sealed, using: key, authenticating: [1]) == message)
            try XChaCha20Poly1305.open(sealed, using: key, authenticating: [1], into: &opened)
            #expect(opened == message)
        }
        XChaCha20Poly1305.seal([5, 5, 5], using: key, into: &sealed)
        sealed[30] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(sealed, using: key, into: &opened) }
        #expect(opened.allSatisfy { $0 == 0 })
    }
}
