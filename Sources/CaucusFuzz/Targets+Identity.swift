import CaucusClient
import CaucusCrypto

extension FuzzTargets {
    /// `DID(parsing:)`: any text parses or throws `DIDError`; an accepted DID prints back exactly
    /// as it was given (one text per key) and parses again to the same key.
    static let did = FuzzTarget(
        name: "did",
        summary: "DID(parsing:) on any text; an accepted DID is its own canonical text",
        seeds: {
            [Fixtures.founder, Fixtures.member, Fixtures.cardKey].map { Array(DID(publicKey: $0.publicKey).description.utf8) }
                + [Array("did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F".utf8)]
        },
        check: { input throws(FuzzFailure) in
            let text = String(decoding: input, as: UTF8.self)
            guard let did = try? DID(parsing: text) else { return }
            try require(did.description == text, "DID \(text) was accepted but prints as \(did.description)")
            try require(DID(did.description) == did, "DID \(text) does not parse back to the same key")
            try require(did.publicKey.isValidPoint, "DID \(text) was accepted with an invalid key")
        })

    /// `InviteCode(parsing:)`: any text parses or throws `ClientError`; an accepted code is its own
    /// canonical text (after trimming) and parses back to the same invite.
    static let invite = FuzzTarget(
        name: "invite",
        summary: "InviteCode(parsing:) on any text; an accepted code round-trips through .text",
        seeds: {
            [
                InviteCode(inviter: Fixtures.founder.publicKey, inviteID: [UInt8](repeating: 7, count: 16),
                           secret: [UInt8](repeating: 9, count: 16), relay: "wss://relay.example.org"),
                InviteCode(inviter: Fixtures.member.publicKey, inviteID: Array(0..<16), secret: Array(16..<32),
                           relay: "ws://127.0.0.1:8080"),
            ].map { Array($0.text.utf8) }
        },
        check: { input throws(FuzzFailure) in
            let text = String(decoding: input, as: UTF8.self)
            guard let code = try? InviteCode(parsing: text) else { return }
            let again = try? InviteCode(parsing: code.text)
            try require(again == code, "invite \(text) does not round-trip through its text")
            try require(code.inviteID.count == 16 && code.secret.count == 16 && code.relay.hasPrefix("ws"),
                        "invite \(text) was accepted with malformed parts")
        })

    /// The keystore file format: any bytes are refused with a `KeystoreError` or open. Inputs of
    /// the right size are also tried with a correct checksum, so mutations reach the checks behind
    /// it; a file opens only to the identity sealed in the seeds, under the seeds' passphrase.
    static let keystore = FuzzTarget(
        name: "keystore",
        summary: "KeystoreFormat.parameters(of:) and open() on any bytes (also with a repaired checksum)",
        seeds: {
            let cheap = try! Argon2id.Parameters(iterations: 1, memoryKiB: 8)
            return [
                try! KeystoreFormat.seal(Fixtures.founder, passphrase: KeystoreFixture.passphrase, parameters: cheap),
                try! KeystoreFormat.seal(Fixtures.founder, passphrase: KeystoreFixture.passphrase,
                                         parameters: try! Argon2id.Parameters(iterations: 2, memoryKiB: 16)),
            ]
        },
        check: { input throws(FuzzFailure) in
            try KeystoreFixture.check(input)
            if input.count == KeystoreFormat.fileByteCount {
                let body = Array(input.dropLast(32))
                try KeystoreFixture.check(body + (try! BLAKE2b.hash(body, outputByteCount: 32)))
            }
        })
}

enum KeystoreFixture {
    static let passphrase = Passphrase("correct horse battery staple")
    /// Argon2id costs above these are not run while fuzzing (a file may ask for 1 GiB by design).
    static let cheapIterations: UInt32 = 3, cheapMemoryKiB: UInt32 = 64

    static func check(_ file: [UInt8]) throws(FuzzFailure) {
        let parameters: Argon2id.Parameters
        do { parameters = try KeystoreFormat.parameters(of: file) } catch { return }
        try require(parameters.iterations <= KeystoreFormat.maximumIterations && parameters.memoryKiB <= KeystoreFormat.maximumMemoryKiB,
                    "the keystore accepted costs above its limits: \(parameters)")
        guard parameters.iterations <= cheapIterations, parameters.memoryKiB <= cheapMemoryKiB else { return }
        let identity: Ed25519.PrivateKey
        do { identity = try KeystoreFormat.open(file, passphrase: passphrase) } catch { return }
        try require(identity.publicKey == Fixtures.founder.publicKey, "a keystore opened to an identity nobody sealed")
    }
}
