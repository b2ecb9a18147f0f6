import Foundation
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// The w3c-ccg did:key vectors: identity DIDs from seeds, their X25519 keys, and bare X25519 DIDs.
@Suite("Vectors: did:key")
struct VectorsDIDKeyTests {
    @Test("Ed25519 seeds give the listed DIDs and X25519 key-agreement keys")
    func ed25519Seeds() throws {
        guard let entries = try Vectors.decode([String: SeedEntry].self, from: "didkey-ed25519-x25519.json")
        else { return }
        var failures = [String](), jwkEntries = 0
        for (text, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let identity = try Ed25519.PrivateKey(seed: SecureBytes(copying: entry.seed))
            let did = DID(publicKey: identity.publicKey)
            let agreement = X25519.PrivateKey(converting: identity)
            let verification = entry.verificationKeyPair, keyAgreement = entry.keyAgreementKeyPair
            if verification.publicKeyJwk != nil { jwkEntries += 1 }
            let checks: KeyValuePairs<String, Bool> = try [
                "DID": did.description == text,
                "parse round trip": (try? DID(parsing: text)) == did,
                "verification id": verification.fragment(of: did) == did.identifier,
                "verification public key": verification.publicKey() == identity.publicKey.rawRepresentation,
                // Only the JWK entry lists the Ed25519 private key (`d`), which is the seed itself.
                "verification private key": verification.privateKey().map { $0 == entry.seed } ?? true,
                "key-agreement id": keyAgreement.fragment(of: did) == did.keyAgreementIdentifier(),
                "key agreement from the public key": did.keyAgreementKey() == agreement.publicKey,
                "X25519 public key": keyAgreement.publicKey() == agreement.publicKey.rawRepresentation,
                "X25519 private key": keyAgreement.privateKey() == agreement.scalar.withUnsafeBytes { Array($0) },
            ]
            let failed = checks.filter { !$0.value }.map(\.key)
            if !failed.isEmpty { failures.append("\(text) (\(failed.joined(separator: ", ")))") }
        }
        Vectors.report(
            "did:key Ed25519 -> X25519", run: entries.count, matched: entries.count - failures.count, expected: 5,
            note: "\(entries.count - jwkEntries) entries with base58 keys, \(jwkEntries) with JWK keys (base64url x and d); "
                + "each checked: DID, parse round trip, both ids, both public keys, X25519 private key", failures: failures)
    }

    @Test("bare X25519 DIDs decode to their keys and are refused as identities")
    func x25519Documents() throws {
        guard let file = try Vectors.decode(X25519DocumentsFile.self, from: "didkey-x25519.json") else { return }
        var failures = [String]()
        for (text, document) in file.didDocument.sorted(by: { $0.key < $1.key }) {
            let decoded = try Base58.decode(String(text.dropFirst("did:key:z".count))).get()
            let parsed = Result { () throws(DIDError) in try DID(parsing: text) }
            let matched = try text.hasPrefix("did:key:z6LS") && document.id == text
                && document.verificationMethod.count == 1
                && decoded == DID.x25519Codec + document.verificationMethod[0].publicKey()
                && decoded.count == DID.x25519Codec.count + 32
                && parsed == .failure(.unknownCodec(0xec))
            if !matched { failures.append(text) }
        }
        let run = file.didDocument.count
        Vectors.report("did:key X25519", run: run, matched: run - failures.count, expected: 4,
                       note: "each is 0xec 0x01 + its 32-byte key, and DID(parsing:) refuses it with unknownCodec(0xec)",
                       failures: failures)
    }
}

/// One entry of didkey-ed25519-x25519.json, keyed by its DID.
private struct SeedEntry: Decodable {
    @HexEncoded var seed: [UInt8]
    let verificationKeyPair: VerificationMethod
    let keyAgreementKeyPair: VerificationMethod
}

/// didkey-x25519.json: DID documents keyed by their DID.
private struct X25519DocumentsFile: Decodable {
    struct Document: Decodable {
        let id: String
        let verificationMethod: [VerificationMethod]
    }

    let didDocument: [String: Document]
}

/// A verification method or key pair, with its keys in base58 or as JWK.
private struct VerificationMethod: Decodable {
    /// An OKP JSON Web Key: public `x`, private `d`, both base64url.
    struct JWK: Decodable {
        let x: String
        let d: String?
    }

    let id: String
    let publicKeyBase58: String?
    let privateKeyBase58: String?
    let publicKeyJwk: JWK?
    let privateKeyJwk: JWK?

    /// The public key, from publicKeyBase58 or the JWK's `x`.
    func publicKey() throws -> [UInt8] {
        if let base58 = publicKeyBase58 { return try Base58.decode(base58).get() }
        let jwk = try #require(publicKeyJwk, "\(id) has no public key")
        return try #require(Vectors.base64URL(jwk.x), "\(id): bad base64url")
    }

    /// The private key, from privateKeyBase58 or the JWK's `d`; nil when none is listed.
    func privateKey() throws -> [UInt8]? {
        if let base58 = privateKeyBase58 { return try Base58.decode(base58).get() }
        guard let d = privateKeyJwk?.d else { return nil }
        let bytes: [UInt8] = try #require(Vectors.base64URL(d), "\(id): bad base64url")
        return bytes
    }

    /// The `z…` fragment of the id, written `#z…` or `<did>#z…`; nil when the id names another DID.
    func fragment(of did: DID) -> String? {
        guard let hash = id.firstIndex(of: "#") else { return nil }
        let owner = id[..<hash]
        guard owner.isEmpty || owner == did.description else { return nil }
        return String(id[id.index(after: hash)...])
    }
}
