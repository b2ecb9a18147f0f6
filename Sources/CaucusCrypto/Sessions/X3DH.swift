/// X3DH key agreement (Signal's specification), with Ed25519 identity keys converted to X25519
/// for the Diffie-Hellman steps; with a KEM prekey in the bundle, the hybrid of PQXDH (Signal's
/// specification): an ML-KEM-768 shared secret joins the DH outputs (Protocol.md §6.2).
enum X3DH {
    /// HKDF info for the shared key of a classical start.
    static let info = Array("caucus/x3dh/v1".utf8)
    /// HKDF info for the shared key of a hybrid start.
    static let hybridInfo = Array("caucus/pqxdh/v1".utf8)
    /// 32 bytes of 0xFF put before the DH outputs, as the specification does for X25519.
    static let filler = [UInt8](repeating: 0xff, count: 32)

    /// The initiator's side, with a fresh `ephemeral` key pair: the shared key, the ephemeral
    /// public key to send and, when the bundle has a KEM prekey, the KEM start to send.
    /// `encapsulate` makes the KEM secret (the test vectors fix it). `asBeforeKEM` behaves as a
    /// client from before KEM prekeys did: it ignores them and the signed prekey id's bit, and
    /// starts classically (interoperability tests play such a peer with it).
    static func initiate(
        identity: Ed25519.PrivateKey, bundle: PrekeyBundle, ephemeral: X25519.PrivateKey,
        encapsulate: (MLKEM.PublicKey) -> (ciphertext: [UInt8], sharedSecret: SecureBytes) = { $0.encapsulate() },
        asBeforeKEM: Bool = false
    ) throws(SessionError) -> (sharedKey: SecureBytes, ephemeral: X25519.PublicKey, kem: KEMStart?) {
        guard bundle.hasValidSignature else { throw SessionError.invalidPrekeySignature }
        guard asBeforeKEM || !bundle.isStripped else { throw SessionError.strippedKEMPrekey }
        let ourIdentity = X25519.PrivateKey(converting: identity)
        let theirIdentity: X25519.PublicKey
        do { theirIdentity = try X25519.PublicKey(converting: bundle.identity) } catch { throw .invalidKey }
        var secrets = [
            try dh(ourIdentity, bundle.signedPrekey),
            try dh(ephemeral, theirIdentity),
            try dh(ephemeral, bundle.signedPrekey),
        ]
        if let oneTime = bundle.oneTimePrekey { secrets.append(try dh(ephemeral, oneTime.key)) }
        guard let kem = bundle.kemPrekey, !asBeforeKEM else { return (derive(secrets, kemSecret: nil), ephemeral.publicKey, nil) }
        let (ciphertext, kemSecret) = encapsulate(kem.key)
        return (derive(secrets, kemSecret: kemSecret), ephemeral.publicKey, KEMStart(prekeyID: kem.id, ciphertext: ciphertext))
    }

    /// The responder's side, from the prekeys the initiator named; `kemSecret` is what the KEM
    /// prekey it named decapsulated from the start's ciphertext (hybrid starts only).
    static func respond(
        identity: Ed25519.PrivateKey, signedPrekey: X25519.PrivateKey, oneTimePrekey: X25519.PrivateKey?,
        initiator: Ed25519.PublicKey, ephemeral: X25519.PublicKey, kemSecret: SecureBytes?
    ) throws(SessionError) -> SecureBytes {
        let ourIdentity = X25519.PrivateKey(converting: identity)
        let theirIdentity: X25519.PublicKey
        do { theirIdentity = try X25519.PublicKey(converting: initiator) } catch { throw .invalidKey }
        var secrets = [
            try dh(signedPrekey, theirIdentity),
            try dh(ourIdentity, ephemeral),
            try dh(signedPrekey, ephemeral),
        ]
        if let oneTimePrekey { secrets.append(try dh(oneTimePrekey, ephemeral)) }
        return derive(secrets, kemSecret: kemSecret)
    }

    /// SK = HKDF(salt = 32 zero bytes, IKM = F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] [‖ SS], info, 32 bytes),
    /// with the hybrid info when there is a KEM secret SS.
    private static func derive(_ secrets: [X25519.SharedSecret], kemSecret: SecureBytes?) -> SecureBytes {
        let ikm = SecureBytes(count: filler.count + 32 * secrets.count + (kemSecret?.count ?? 0)) { out in
            var offset = 0
            func append(_ bytes: UnsafeRawBufferPointer) {
                for byte in bytes { out[offset] = byte; offset += 1 }
            }
            filler.withUnsafeBytes(append)
            for secret in secrets { secret.bytes.withUnsafeBytes(append) }
            kemSecret?.withUnsafeBytes(append)
        }
        return HKDF.deriveSymmetricKey(inputKeyMaterial: ikm, salt: [], info: kemSecret == nil ? info : hybridInfo).bytes
    }

    /// X25519 with the all-zero (low-order) result reported as `invalidKey`; the ratchet uses it too.
    static func dh(_ ours: X25519.PrivateKey, _ theirs: X25519.PublicKey) throws(SessionError) -> X25519.SharedSecret {
        do { return try ours.sharedSecret(with: theirs) } catch { throw .invalidKey }
    }
}
