import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

@Suite("Keystore format")
struct KeystoreFormatTests {
    /// Cheap Argon2id costs so the suite stays fast; the format records whatever was used.
    static let fast = try! Argon2id.Parameters(iterations: 1, memoryKiB: 8 * 1024)
    let identity = Ed25519.PrivateKey()
    let passphrase = Passphrase("correct horse battery staple")

    func sealed() throws -> [UInt8] {
        try KeystoreFormat.seal(identity, passphrase: passphrase, parameters: Self.fast)
    }

    @Test("round trip gives back the same identity and records its parameters")
    func roundTrip() throws {
        let file = try sealed()
        #expect(file.count == KeystoreFormat.fileByteCount)
        #expect(Array(file[0..<8]) == Array("CAUCUSKS".utf8))
        #expect(try KeystoreFormat.open(file, passphrase: passphrase).publicKey == identity.publicKey)
        #expect(try KeystoreFormat.parameters(of: file) == Self.fast)
    }

    @Test("the file does not contain the public key (a seized disk does not name the DID)")
    func noPublicKey() throws {
        let file = try sealed()
        let pk = identity.publicKey.rawRepresentation
        for offset in 0...(file.count - 8) {
            #expect(Array(file[offset..<(offset + 8)]) != Array(pk[0..<8]))
        }
    }

    @Test("wrong passphrase is reported as such")
    func wrongPassphrase() throws {
        let file = try sealed()
        #expect(throws: KeystoreError.wrongPassphrase) { try KeystoreFormat.open(file, passphrase: Passphrase("correct horse battery stapl")) }
        #expect(throws: KeystoreError.wrongPassphrase) { try KeystoreFormat.open(file, passphrase: Passphrase("")) }
    }

    @Test("every single bit flip is caught as damage, never as a crash or a wrong key")
    func bitFlips() throws {
        let file = try sealed()
        for byte in 0..<file.count {
            var bad = file
            bad[byte] ^= 1 << UInt8(byte % 8)
            #expect(throws: KeystoreError.self) { try KeystoreFormat.open(bad, passphrase: passphrase) }
            if byte >= 8 {
                #expect(throws: KeystoreError.damaged) { try KeystoreFormat.parameters(of: bad) }
            }
        }
    }

    @Test("truncated and extended files are reported by size")
    func truncated() throws {
        let file = try sealed()
        for length in [9, 57, 105, file.count - 1] {
            #expect(throws: KeystoreError.wrongSize(actual: length, expected: file.count)) {
                try KeystoreFormat.open(Array(file.prefix(length)), passphrase: passphrase)
            }
        }
        #expect(throws: KeystoreError.wrongSize(actual: file.count + 1, expected: file.count)) {
            try KeystoreFormat.open(file + [0], passphrase: passphrase)
        }
        for length in [0, 3, 8] {
            #expect(throws: KeystoreError.notAKeystore) { try KeystoreFormat.open(Array(file.prefix(length)), passphrase: passphrase) }
        }
        #expect(throws: KeystoreError.notAKeystore) { try KeystoreFormat.open(Array("hello, world".utf8), passphrase: passphrase) }
    }

    /// Rewrites header fields and recomputes the checksum, as a hostile file would.
    func forged(_ file: [UInt8], _ change: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var body = Array(file[0..<106])
        change(&body)
        return body + (try BLAKE2b.hash(body, outputByteCount: 32))
    }

    @Test("intact files with unknown versions, KDFs or hostile costs are refused before any work")
    func hostileHeaders() throws {
        let file = try sealed()
        #expect(throws: KeystoreError.unsupportedVersion(2)) { try KeystoreFormat.open(try forged(file) { $0[8] = 2 }, passphrase: passphrase) }
        var longer = file
        longer[8] = 2
        #expect(throws: KeystoreError.unsupportedVersion(2)) { try KeystoreFormat.open(longer + [0, 0], passphrase: passphrase) }
        #expect(throws: KeystoreError.unsupportedKDF(7)) { try KeystoreFormat.open(try forged(file) { $0[9] = 7 }, passphrase: passphrase) }
        let greedy = try forged(file) { $0.replaceSubrange(14..<18, with: [0xff, 0xff, 0xff, 0xff]) }
        #expect(throws: KeystoreError.unreasonableParameters(iterations: 1, memoryKiB: 0xffff_ffff)) {
            try KeystoreFormat.open(greedy, passphrase: passphrase)
        }
        let slow = try forged(file) { $0.replaceSubrange(10..<14, with: [0, 0, 1, 0]) }
        #expect(throws: KeystoreError.unreasonableParameters(iterations: 256, memoryKiB: 8192)) {
            try KeystoreFormat.open(slow, passphrase: passphrase)
        }
        let zero = try forged(file) { $0.replaceSubrange(10..<14, with: [0, 0, 0, 0]) }
        #expect(throws: KeystoreError.unreasonableParameters(iterations: 0, memoryKiB: 8192)) {
            try KeystoreFormat.open(zero, passphrase: passphrase)
        }
        // A forged salt with a fixed checksum still fails: the header is bound to the ciphertext.
        let salted = try forged(file) { $0[20] ^= 1 }
        #expect(throws: KeystoreError.wrongPassphrase) { try KeystoreFormat.open(salted, passphrase: passphrase) }
    }

    @Test("sealing refuses an empty passphrase and costs the reader would refuse")
    func sealRefuses() throws {
        #expect(throws: CryptoError.self) { try KeystoreFormat.seal(identity, passphrase: Passphrase(""), parameters: Self.fast) }
        let tooMuch = try Argon2id.Parameters(iterations: 33, memoryKiB: 8 * 1024)
        #expect(throws: CryptoError.self) { try KeystoreFormat.seal(identity, passphrase: passphrase, parameters: tooMuch) }
    }

    @Test("the file format is pinned: a file made by an independent Python implementation opens")
    func independentFile() throws {
        let file = Hex.decode(KeystoreFormatTests.pythonFile)!
        let opened = try KeystoreFormat.open(file, passphrase: Passphrase("labor omnia vincit"))
        #expect(DID(publicKey: opened.publicKey).description == KeystoreFormatTests.pythonDID)
    }

    /// `python3 scripts/interop/keystore_vector.py "labor omnia vincit" <RFC 8032 test 2 seed>`.
    static let pythonFile = "4341554355534b53010100000001000020000bc2f834e1572a8043c282e5151076e76d83a1bd36162d31c1ad34d1706a068b62b378bb3936b2d609b3653ca09ed78d4cea3902349ea7b148ec02809a9372e15330055ab937ce3bfb288745a1eab9ec1f3ec6773def9e028c8edfc3b3925df942d638b40bcc126410d1351bc7e3bd0c81f9cb9a61fa3389"
    static let pythonDID = "did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT"
}
