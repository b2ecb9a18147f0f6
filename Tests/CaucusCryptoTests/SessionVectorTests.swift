@testable import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import Foundation
import Testing

/// `vectors/sessions.json` (Protocol.md §4, §6, §7.3, §9.2): safety numbers, the relay
/// authentication statement, prekeys and the bundle, X3DH with and without a one-time prekey, and
/// two conversations with every header, chain key, message key, root step and skipped key, from
/// fixed seeds and key pairs. Message bodies and the envelope's sealed box hold random nonces
/// (§1.1), so they differ on every run: this test requires the rest of the file to match the code
/// and the stored bodies to open, with the real code, to the plaintexts the file names.
/// `scripts/regen-vectors` rewrites the file (CAUCUS_REGEN_VECTORS=1), keeping it as it is when only
/// those random fields would change. `scripts/check-session-vectors.py` checks it from Protocol.md alone.
@Suite("Sessions: the test vectors in vectors/sessions.json match the code, and the independent Python checker accepts them")
struct SessionVectorTests {
    static let file = EvidenceBundleTests.repository.appendingPathComponent("vectors/sessions.json")
    /// Fields that hold random bytes (AEAD nonces, sealed boxes), left out when comparing with the code.
    static let randomFields: Set<String> = ["body", "encoded"]

    private static func filled(_ byte: UInt8) -> SecureBytes { SecureBytes(copying: [UInt8](repeating: byte, count: 32)) }
    private static func identity(_ byte: UInt8) -> Ed25519.PrivateKey { try! Ed25519.PrivateKey(seed: filled(byte)) }
    private static func agreementKey(_ byte: UInt8) -> X25519.PrivateKey { X25519.PrivateKey(scalar: filled(byte)) }
    private static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
    private static func hex(_ secret: SecureBytes) -> String { secret.withUnsafeBytes { Hex.encode($0) } }
    private static func keyPair(_ key: X25519.PrivateKey) -> [String: Any] {
        ["private_key": hex(key.scalar), "public_key": hex(key.publicKey.rawRepresentation)]
    }

    static let alice = identity(0x01), bob = identity(0x02)
    /// RFC 8032 test 1, whose fingerprint Protocol.md §4 gives.
    static let rfc8032 = try! Ed25519.PrivateKey(seed: SecureBytes(copying: Hex.decode(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!))
    /// bob's signed prekey, id 2, built from fixed bytes as the client's store keeps it.
    static let signedPrekey: SignedPrekey = {
        let key = agreementKey(0x50)
        let signature = bob.signature(for: SignedPrekey.statement(identity: bob.publicKey, id: 2, key: key.publicKey))
        return try! SignedPrekey(serialized: SecureBytes(copying: [0, 0, 0, 2] + key.scalar.withUnsafeBytes { Array($0) }
            + signature.rawRepresentation))
    }()
    /// bob's signed prekey after he started publishing KEM prekeys: id 3 with the high bit that
    /// announces them (0x80000003), private key of 32 bytes 0x4f.
    static let hybridSignedPrekey: SignedPrekey = {
        let key = agreementKey(0x4f), id = SignedPrekey.announcesKEMPrekeys | 3
        let signature = bob.signature(for: SignedPrekey.statement(identity: bob.publicKey, id: id, key: key.publicKey))
        return try! SignedPrekey(serialized: SecureBytes(copying: withUnsafeBytes(of: id.bigEndian, Array.init)
            + key.scalar.withUnsafeBytes { Array($0) } + signature.rawRepresentation))
    }()
    /// bob's ML-KEM-768 prekey, id 7, from the 64-byte seed 0x70 0x71 … 0xaf.
    static let kemPrekey: KEMPrekey = {
        let seed = (0..<64).map { UInt8(0x70 + $0) }
        let key = try! MLKEM.PrivateKey(seed: SecureBytes(copying: seed))
        let signature = bob.signature(for: KEMPrekey.statement(identity: bob.publicKey, id: 7, key: key.publicKey))
        return try! KEMPrekey(serialized: SecureBytes(copying: [0, 0, 0, 7] + seed + signature.rawRepresentation))
    }()
    /// bob's one-time prekeys 51–53 (private keys of 32 bytes 0x51, 0x52, 0x53).
    static let oneTimePrekeys = [51, 52, 53].map { try! OneTimePrekey(serialized: SecureBytes(
        copying: [0, 0, 0, UInt8($0)] + [UInt8](repeating: UInt8($0 + 30), count: 32))) }

    /// One line of a conversation: a party sends a message (named by an id) or receives one.
    enum Step {
        case send(Party, String, String)
        case receive(Party, String)
    }

    enum Party: String { case alice, bob }

    /// A→B start, replies, and messages delivered out of order within a chain, across a ratchet
    /// step (an old chain's skipped key) and through a header's previous-chain length.
    static let conversation: [Step] = [
        .send(.alice, "A0", "Hello Bob, this starts our session."),
        .send(.alice, "A1", "A second start message: same X3DH fields, next N."),
        .send(.alice, "A2", "Sixty-four bytes exactly, so the padding adds one whole block..."),
        .receive(.bob, "A0"), .receive(.bob, "A2"), .receive(.bob, "A1"),
        .send(.bob, "B0", "Hi Alice."), .send(.bob, "B1", "B1"), .send(.bob, "B2", ""),
        .receive(.alice, "B1"), .receive(.alice, "B2"), .receive(.alice, "B0"),
        .send(.alice, "A3", "Now a normal message."), .send(.alice, "A4", "A4 arrives last of all."), .send(.alice, "A5", "A5"),
        .receive(.bob, "A5"), .receive(.bob, "A3"),
        .send(.bob, "B3", "B3, on Bob's second ratchet key."),
        .receive(.alice, "B3"),
        .send(.alice, "A6", "A6"), .send(.alice, "A7", "A7 is skipped through the next header's PN."),
        .receive(.bob, "A6"), .receive(.bob, "A4"),
        .send(.bob, "B4", "B4"),
        .receive(.alice, "B4"),
        .send(.alice, "A8", "A8"),
        .receive(.bob, "A8"), .receive(.bob, "A7"),
    ]

    /// A hybrid start (X3DH with ML-KEM) and replies both ways.
    static let hybridConversation: [Step] = [
        .send(.alice, "H0", "This start also carries an ML-KEM-768 ciphertext."), .send(.alice, "H1", "H1 repeats it."),
        .receive(.bob, "H1"), .receive(.bob, "H0"),
        .send(.bob, "K0", "A recording of this stays closed if X25519 falls."), .receive(.alice, "K0"),
        .send(.alice, "H2", "A normal message now."), .receive(.bob, "H2"),
    ]

    /// A start without a one-time prekey and its reply.
    static let shortConversation: [Step] = [
        .send(.alice, "C0", "No one-time prekey was left."), .receive(.bob, "C0"),
        .send(.bob, "D0", "Still a session."), .receive(.alice, "D0"),
    ]

    /// The vectors as a JSON object, built by the reference code. `stored` is the file as it is:
    /// its message bodies and envelope are delivered instead of fresh ones, so building from it
    /// decrypts and opens them with the real code.
    static func vectors(stored: [String: Any]? = nil) throws -> [String: Any] {
        let storedConversations = stored?["conversations"] as? [[String: Any]]
        func bodies(_ index: Int) -> [String: [UInt8]] {
            var out: [String: [UInt8]] = [:]
            let stored = storedConversations.flatMap { index < $0.count ? $0[index] : nil }
            for event in stored?["events"] as? [[String: Any]] ?? [] {
                if let id = event["message"] as? String, let body = event["body"] as? String { out[id] = Hex.decode(body) }
            }
            return out
        }
        let safetyKeys = [alice.publicKey, bob.publicKey, rfc8032.publicKey]
        let first = try run(conversation, oneTime: oneTimePrekeys[0], ephemeral: 0xE0, aliceRatchets: [0xA0, 0xA1, 0xA2, 0xA3],
                            bobRatchets: [0xB0, 0xB1, 0xB2, 0xB3], bodies: bodies(0))
        let second = try run(shortConversation, oneTime: nil, ephemeral: 0xE1, aliceRatchets: [0xA8, 0xA9], bobRatchets: [0xB8], bodies: bodies(1))
        let storedCiphertext = ((stored?["x3dh"] as? [[String: Any]])?.dropFirst(2).first?["kem_ciphertext"] as? String).flatMap(Hex.decode)
        let third = try run(hybridConversation, signed: hybridSignedPrekey, oneTime: oneTimePrekeys[1], kem: (kemPrekey, storedCiphertext),
                            ephemeral: 0xE2, aliceRatchets: [0xC0, 0xC1], bobRatchets: [0xD0, 0xD1], bodies: bodies(2))
        let storedEnvelope = (stored?["envelope"] as? [String: Any])?["encoded"] as? String
        return [
            "description": "Protocol.md sections 2.2, 2.3, 4, 6, 7.3 and 9.2 from fixed keys: Ed25519 seeds of 32 bytes 0x01 (alice) and 0x02 (bob), "
                + "0x03 and 0x04 (alice's laptop and paper key, in her device chain), "
                + "X25519 private keys of 32 equal bytes, bob's ML-KEM-768 prekey from the seed 70..af; paper keys from the secrets 00..0f and ff..ff, their words from "
                + "vectors/paper-words.txt. Message bodies and the envelope hold random nonces, and the hybrid start's ML-KEM "
                + "ciphertext random coins: check them by opening (decapsulating). "
                + "Regenerate with scripts/regen-vectors; checked by swift test and scripts/check-session-vectors.py.",
            "identities": ["alice": identityRecord(alice, seed: 0x01), "bob": identityRecord(bob, seed: 0x02)],
            "safety_numbers": [
                "fingerprints": safetyKeys.map { ["public_key": hex($0.rawRepresentation), "fingerprint": SafetyNumber.fingerprint($0)] },
                "pairs": [(0, 1), (2, 1)].map { pair -> [String: Any] in
                    let number = SafetyNumber(safetyKeys[pair.0], safetyKeys[pair.1])
                    return ["a": hex(safetyKeys[pair.0].rawRepresentation), "b": hex(safetyKeys[pair.1].rawRepresentation),
                            "digits": number.digits, "shown": number.description]
                },
            ] as [String: Any],
            "relay_auth": ["wss://relay.example.org", "WS://Relay.Example.org:80/"].map { address -> [String: Any] in
                let challenge = Data((0..<32).map { UInt8(0x20 + $0) })
                let statement = RelayProtocol.authenticationStatement(
                    relayAddress: address, challenge: challenge, deviceKey: Data(alice.publicKey.rawRepresentation))
                return ["relay_address": address, "challenge": hex(Array(challenge)), "device_key": hex(alice.publicKey.rawRepresentation),
                        "signed_bytes": hex(statement.bytes), "signature": hex(alice.signature(for: statement).rawRepresentation)]
            },
            "device_chain": try deviceChainRecord(),
            "paper_keys": try paperKeyRecords(),
            "prekeys": prekeyRecord(),
            "x3dh": [first.x3dh, second.x3dh, third.x3dh],
            "conversations": [first.record, second.record, third.record],
            "envelope": try envelope(message: first.messages["A0"]!, stored: storedEnvelope.flatMap(Hex.decode)),
        ]
    }

    /// Paper keys (§2.3) from two fixed secrets: the phrase's words and their 11-bit values, the
    /// checksum, the derived seed and public key. The word list is vectors/paper-words.txt.
    private static func paperKeyRecords() throws -> [[String: Any]] {
        try [[UInt8](0x00..<0x10), [UInt8](repeating: 0xff, count: 16)].map { secret in
            let key = try PaperKey(secret: SecureBytes(copying: secret))
            let signing = key.signingKey
            return ["secret": hex(secret), "words": key.words, "phrase": key.phrase,
                    "values": key.words.map { PaperKey.value(of: $0)! },
                    "checksum": Int(try BLAKE2b.hash(secret, outputByteCount: 32)[0] >> 4),
                    "seed": hex(signing.seed.withUnsafeBytes { Array($0) }), "public_key": hex(signing.publicKey.rawRepresentation)]
        }
    }

    /// Alice's device chain (§2.2): her first device (her identity key), a laptop, a paper key,
    /// then the first device revoked.
    private static func deviceChainRecord() throws -> [String: Any] {
        let laptop = identity(0x03), paper = identity(0x04)
        func proof(_ device: Ed25519.PrivateKey) -> Ed25519.Signature {
            device.signature(for: DeviceEntry.deviceStatement(identity: alice.publicKey, device: device.publicKey))
        }
        var chain = DeviceChain(identity: alice, signedAt: 1_780_000_000)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: alice, signedAt: 1_780_000_100)
        _ = try chain.add(paper.publicKey, kind: .paper, deviceSignature: proof(paper), by: alice, signedAt: 1_780_000_200)
        _ = try chain.revoke(alice.publicKey, by: alice, signedAt: 1_780_000_300)
        let names = [alice.publicKey: "alice", laptop.publicKey: "laptop", paper.publicKey: "paper"]
        let entries: [[String: Any]] = chain.entries.map { entry in
            var record: [String: Any] = [
                "sequence": entry.sequence, "action": Int(entry.action.rawValue), "device": names[entry.device]!,
                "kind": Int(entry.kind.rawValue), "signed_at_s": entry.signedAt, "previous": hex(entry.previous),
                "signed_bytes": hex(entry.statement.bytes), "signature": hex(entry.signature.rawRepresentation),
                "encoded": hex(entry.encoded()), "hash": hex(entry.hash),
            ]
            if let deviceSignature = entry.deviceSignature {
                record["device_signed_bytes"] = hex(DeviceEntry.deviceStatement(identity: alice.publicKey, device: entry.device).bytes)
                record["device_signature"] = hex(deviceSignature.rawRepresentation)
            }
            return record
        }
        return [
            "identity": "alice",
            "devices": ["alice": hex(alice.publicKey.rawRepresentation), "laptop": hex(laptop.publicKey.rawRepresentation),
                        "paper": hex(paper.publicKey.rawRepresentation)],
            "seeds": ["laptop": hex([UInt8](repeating: 0x03, count: 32)), "paper": hex([UInt8](repeating: 0x04, count: 32))],
            "entries": entries,
            "active": chain.activeDevices().map { names[$0.key]! },
        ]
    }

    private static func identityRecord(_ key: Ed25519.PrivateKey, seed: UInt8) -> [String: Any] {
        ["seed": hex([UInt8](repeating: seed, count: 32)), "public_key": hex(key.publicKey.rawRepresentation),
         "x25519": keyPair(X25519.PrivateKey(converting: key))]
    }

    private static func prekeyRecord() -> [String: Any] {
        let statement = SignedPrekey.statement(identity: bob.publicKey, id: signedPrekey.id, key: signedPrekey.privateKey.publicKey)
        let published = signedPrekey.publishedBytes
        return [
            "owner": "bob",
            "signed_prekey": keyPair(signedPrekey.privateKey).merging([
                "id": Int(signedPrekey.id), "signed_bytes": hex(statement.bytes), "signature": hex(signedPrekey.signature.rawRepresentation),
                "published": hex(published),
            ] as [String: Any]) { $1 },
            "one_time_prekeys": oneTimePrekeys.map { keyPair($0.privateKey).merging(["id": Int($0.id)]) { $1 } },
            "bundle": ["owner": hex(bob.publicKey.rawRepresentation), "signed_prekey": hex(published),
                       "one_time_prekey": ["id": Int(oneTimePrekeys[0].id),
                                           "public_key": hex(oneTimePrekeys[0].privateKey.publicKey.rawRepresentation)]]
                as [String: Any],
            "hybrid_signed_prekey": keyPair(hybridSignedPrekey.privateKey).merging([
                "id": Int(hybridSignedPrekey.id), "signature": hex(hybridSignedPrekey.signature.rawRepresentation),
                "published": hex(hybridSignedPrekey.publishedBytes),
            ] as [String: Any]) { $1 },
            "kem_prekey": [
                "id": Int(kemPrekey.id), "seed": hex(kemPrekey.privateKey.seed), "public_key": hex(kemPrekey.privateKey.publicKey.rawRepresentation),
                "signed_bytes": hex(KEMPrekey.statement(identity: bob.publicKey, id: kemPrekey.id, key: kemPrekey.privateKey.publicKey).bytes),
                "signature": hex(kemPrekey.signature.rawRepresentation), "published": hex(kemPrekey.publishedBytes),
            ] as [String: Any],
        ]
    }

    /// Runs `steps` between alice and bob with fixed ephemeral and ratchet keys, delivering the
    /// stored `bodies` where given, and records every value §6.2–§6.4 derives.
    /// With `kem`, the start is hybrid, and its ciphertext is the stored one when given.
    private static func run(
        _ steps: [Step], signed signedPrekey: SignedPrekey = SessionVectorTests.signedPrekey, oneTime: OneTimePrekey?,
        kem: (prekey: KEMPrekey, storedCiphertext: [UInt8]?)? = nil,
        ephemeral ephemeralByte: UInt8, aliceRatchets: [UInt8], bobRatchets: [UInt8], bodies: [String: [UInt8]]
    ) throws -> (x3dh: [String: Any], record: [String: Any], messages: [String: [UInt8]]) {
        let ephemeral = agreementKey(ephemeralByte)
        var aliceKeys = aliceRatchets.map(agreementKey), bobKeys = bobRatchets.map(agreementKey)
        let bundle = PrekeyBundle(identity: bob.publicKey, signedPrekey: signedPrekey, oneTimePrekey: oneTime, kemPrekey: kem?.prekey)
        let first = aliceKeys.removeFirst()
        var aliceSession = try Session.initiate(identity: alice, bundle: bundle, ephemeral: ephemeral, ratchet: first, encapsulate: { key in
            guard let kem, let stored = kem.storedCiphertext else { return key.encapsulate() }
            return (stored, try! kem.prekey.privateKey.decapsulate(stored))
        })
        var bobSession: Session?

        let kemStart = aliceSession.start.kem
        let kemSecret = try kemStart.map { try kem!.prekey.privateKey.decapsulate($0.ciphertext) }
        let sharedKey = try X3DH.respond(identity: bob, signedPrekey: signedPrekey.privateKey, oneTimePrekey: oneTime?.privateKey,
                                         initiator: alice.publicKey, ephemeral: ephemeral.publicKey, kemSecret: kemSecret)
        var x3dh = try x3dhRecord(signed: signedPrekey, ephemeral: ephemeral, oneTime: oneTime, kemSecret: kemSecret,
                                  sharedKey: sharedKey, associatedData: aliceSession.associatedData)
        if let kemStart, let kemSecret {
            x3dh["kem_prekey_id"] = Int(kemStart.prekeyID)
            x3dh["kem_ciphertext"] = hex(kemStart.ciphertext)
            x3dh["kem_shared_secret"] = hex(kemSecret)
        }
        let firstDH = try X3DH.dh(first, signedPrekey.privateKey.publicKey)
        let (root, chain) = try Session.kdfRoot(sharedKey, firstDH)
        #expect(hex(root) == hex(aliceSession.rootKey) && hex(chain) == hex(aliceSession.sendingChain))

        var messages: [String: [UInt8]] = [:]
        var events: [[String: Any]] = []
        for step in steps {
            switch step {
            case .send(let party, let id, let text):
                var session = party == .alice ? aliceSession : bobSession!
                let chainKey = session.sendingChain
                let (messageKey, next) = Session.chainStep(chainKey)
                let made = session.encrypt(Array(text.utf8))
                let length = try WireMessage.Prefix(parsing: made).length
                let header = Array(made[..<length])
                messages[id] = header + (bodies[id] ?? Array(made[length...]))
                #expect(hex(next) == hex(session.sendingChain))
                events.append([
                    "send": party.rawValue, "message": id, "plaintext": text, "header": hex(header), "body": hex(Array(messages[id]![length...])),
                    "chain_key": hex(chainKey), "message_key": hex(messageKey), "next_chain_key": hex(next),
                ])
                if party == .alice { aliceSession = session } else { bobSession = session }
            case .receive(let party, let id):
                let message = messages[id]!
                let before: (root: SecureBytes, ratchet: X25519.PrivateKey)
                let after: Session, decrypted: DecryptedMessage
                if party == .bob, let session = bobSession {
                    before = (session.rootKey, session.sendingRatchet)
                    var next = session
                    decrypted = try next.decrypt(message, nextRatchet: { bobKeys.removeFirst() })
                    after = next
                } else if party == .bob {
                    before = (sharedKey, signedPrekey.privateKey)
                    (after, decrypted) = try Session.respond(
                        to: message, identity: bob, signedPrekey: { $0 == signedPrekey.id ? signedPrekey : nil },
                        oneTimePrekey: { id in oneTime.flatMap { $0.id == id ? $0 : nil } },
                        kemPrekey: { id in kem.flatMap { $0.prekey.id == id ? $0.prekey : nil } }, nextRatchet: { bobKeys.removeFirst() })
                } else {
                    before = (aliceSession.rootKey, aliceSession.sendingRatchet)
                    var next = aliceSession
                    decrypted = try next.decrypt(message, nextRatchet: { aliceKeys.removeFirst() })
                    after = next
                }
                var record: [String: Any] = [
                    "receive": party.rawValue, "message": id, "plaintext": String(decoding: decrypted.plaintext, as: UTF8.self),
                    "events": decrypted.events.map { event -> String in
                        switch event {
                        case .gap(let missing): return "gap \(missing)"
                        case .lateArrival: return "late arrival"
                        }
                    },
                    "receiving_chain_key": after.receivingChain.map(hex) ?? NSNull(),
                    "skipped_keys": after.skipped.order.map { key -> [String: Any] in
                        ["ratchet_key": hex(key.ratchet.rawRepresentation), "n": Int(key.number), "message_key": hex(after.skipped.keys[key]!)]
                    },
                ]
                if after.sendingRatchet.publicKey != before.ratchet.publicKey {
                    record["ratchet_step"] = try ratchetStep(
                        root: before.root, ours: before.ratchet, theirs: after.receivingRatchet!, next: after.sendingRatchet, after: after)
                }
                events.append(record)
                if party == .alice { aliceSession = after } else { bobSession = after }
            }
        }
        return (x3dh, [
            "x3dh": kem != nil ? 2 : oneTime == nil ? 1 : 0,
            "ratchet_keys": ["alice": aliceRatchets.map { keyPair(agreementKey($0)) }, "bob": bobRatchets.map { keyPair(agreementKey($0)) }],
            "initiator_start": ["dh": hex(firstDH.bytes), "root_key": hex(root), "sending_chain_key": hex(chain)],
            "events": events,
        ], messages)
    }

    /// The DH outputs, KDF input and results of X3DH (§6.2) for alice starting with bob's bundle.
    private static func x3dhRecord(
        signed signedPrekey: SignedPrekey, ephemeral: X25519.PrivateKey, oneTime: OneTimePrekey?, kemSecret: SecureBytes?,
        sharedKey: SecureBytes, associatedData: [UInt8]
    ) throws -> [String: Any] {
        let aliceAgreement = X25519.PrivateKey(converting: alice), bobAgreement = X25519.PrivateKey(converting: bob)
        var outputs = [
            try X3DH.dh(aliceAgreement, signedPrekey.privateKey.publicKey),
            try X3DH.dh(ephemeral, bobAgreement.publicKey),
            try X3DH.dh(ephemeral, signedPrekey.privateKey.publicKey),
        ]
        if let oneTime { outputs.append(try X3DH.dh(ephemeral, oneTime.privateKey.publicKey)) }
        let ikm = X3DH.filler + outputs.flatMap { $0.bytes.withUnsafeBytes { Array($0) } } + (kemSecret?.withUnsafeBytes { Array($0) } ?? [])
        let info = kemSecret == nil ? X3DH.info : X3DH.hybridInfo
        #expect(hex(HKDF.deriveSymmetricKey(inputKeyMaterial: SecureBytes(copying: ikm), salt: [], info: info).bytes) == hex(sharedKey))
        return [
            "ephemeral": keyPair(ephemeral), "signed_prekey_id": Int(signedPrekey.id),
            "one_time_prekey_id": oneTime.map { Int($0.id) as Any } ?? NSNull(),
            "dh": outputs.map { hex($0.bytes) }, "ikm": hex(ikm), "shared_key": hex(sharedKey), "associated_data": hex(associatedData),
        ]
    }

    /// The two root steps of a DH ratchet step (§6.4), which must give the session's new state.
    private static func ratchetStep(
        root: SecureBytes, ours: X25519.PrivateKey, theirs: X25519.PublicKey, next: X25519.PrivateKey, after: Session
    ) throws -> [String: Any] {
        let receiving = try X3DH.dh(ours, theirs)
        let (middle, receivingChain) = try Session.kdfRoot(root, receiving)
        let sending = try X3DH.dh(next, theirs)
        let (newRoot, sendingChain) = try Session.kdfRoot(middle, sending)
        #expect(hex(newRoot) == hex(after.rootKey) && hex(sendingChain) == hex(after.sendingChain))
        return [
            "their_ratchet_key": hex(theirs.rawRepresentation), "dh_receiving": hex(receiving.bytes), "root_key_after_receiving": hex(middle),
            "receiving_chain_key": hex(receivingChain), "new_ratchet_key": hex(next.publicKey.rawRepresentation),
            "dh_sending": hex(sending.bytes), "root_key": hex(newRoot), "sending_chain_key": hex(sendingChain),
        ]
    }

    /// The pairwise envelope (§9.2) of alice's first start message to bob, opened with bob's identity.
    private static func envelope(message: [UInt8], stored: [UInt8]?) throws -> [String: Any] {
        let envelope = try stored.map { try PairwiseEnvelope(parsing: $0) }
            ?? PairwiseEnvelope(sessionMessage: message, from: alice.publicKey, to: bob.publicKey)
        #expect(envelope.sessionMessage == message && envelope.isSessionStart)
        return ["sender": hex(try envelope.sender(openedWith: bob).identity.rawRepresentation), "recipient": hex(bob.publicKey.rawRepresentation),
                "message": "A0", "encoded": hex(envelope.encoded())]
    }

    static func text(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The object without its random fields.
    static func masked(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return object.filter { !randomFields.contains($0.key) }.mapValues(masked)
        }
        if let array = value as? [Any] { return array.map(masked) }
        return value
    }

    static func stored() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
    }

    @Test("The file holds what the code makes, but for random nonces (scripts/regen-vectors rewrites it)")
    func fileMatchesCode() throws {
        // The stored bodies are delivered again where they still open, so that a regeneration
        // changes only what the code now makes differently.
        let existing = try? Self.stored()
        let made = try (try? Self.vectors(stored: existing)) ?? Self.vectors()
        if ProcessInfo.processInfo.environment["CAUCUS_REGEN_VECTORS"] == "1",
           try existing.map({ try Self.text(Self.masked($0)) }) != (try Self.text(Self.masked(made))) {
            try Self.text(made).write(to: Self.file, atomically: true, encoding: .utf8)
        }
        let stored = try Self.stored()
        #expect(try Self.text(Self.masked(stored)) == (try Self.text(Self.masked(made))),
                "vectors/sessions.json differs from what the code makes: run scripts/regen-vectors and review the diff")
    }

    @Test("Every stored message body and the envelope open with the code, to what the file says")
    func fileParses() throws {
        let stored = try Self.stored()
        let replayed = try Self.vectors(stored: stored)
        #expect(try Self.text(replayed) == (try Self.text(stored)))
        func object(_ value: Any?) throws -> [String: Any] { try #require(value as? [String: Any]) }
        func bytes(_ value: [String: Any], _ key: String) throws -> [UInt8] {
            let text = try #require(value[key] as? String)
            return try #require(Hex.decode(text))
        }
        let bundle = try object(try object(stored["prekeys"])["bundle"])
        let oneTime = try object(bundle["one_time_prekey"])
        let id = try #require(oneTime["id"] as? Int)
        let parsed = try PrekeyBundle(identity: try bytes(bundle, "owner"), publishedSignedPrekey: try bytes(bundle, "signed_prekey"),
                                      oneTimePrekey: (UInt32(id), try bytes(oneTime, "public_key")))
        #expect(parsed.hasValidSignature)
        let chainRecord = try object(stored["device_chain"])
        let entries = try #require(chainRecord["entries"] as? [[String: Any]]).map { try bytes($0, "encoded") }
        let chain = try DeviceChain.verify(encoded: entries)
        #expect(chain.identity == Self.alice.publicKey && chain.activeDevices().count == 2)
        #expect(chain.entries.map { Hex.encode($0.hash) } == (chainRecord["entries"] as? [[String: Any]])?.map { $0["hash"] as? String ?? "" })
        for record in try #require(stored["relay_auth"] as? [[String: Any]]) {
            let key = try Ed25519.PublicKey(rawRepresentation: try bytes(record, "device_key"))
            let address = try #require(record["relay_address"] as? String)
            let statement = RelayProtocol.authenticationStatement(
                relayAddress: address, challenge: Data(try bytes(record, "challenge")), deviceKey: Data(key.rawRepresentation))
            #expect(key.isValidSignature(try Ed25519.Signature(rawRepresentation: try bytes(record, "signature")), for: statement))
        }
    }

    @Test("scripts/check-session-vectors.py, written from Protocol.md with PyNaCl, accepts the file")
    func pythonAccepts() async throws {
        let outcome = try await VectorScript.run("check-session-vectors.py", on: Self.file)
        #expect(outcome.status == 0 && outcome.stdout.contains("all session vectors check"), "\(outcome)")
    }
}
