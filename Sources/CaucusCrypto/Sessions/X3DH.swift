/// X3DH key agreement (Signal's specification), with Ed25519 identity keys converted to X25519
/// for the Diffie-Hellman steps.
enum X3DH {
    /// HKDF info for the shared key.
    static let info = Array("caucus/x3dh/v1".utf8)
    /// 32 bytes of 0xFF put before the DH outputs, as the specification does for X25519.
    static let filler = [UInt8](repeating: 0xff, count: 32)

    /// The initiator's side, with a fresh `ephemeral` key pair: the shared key and the ephemeral
    /// public key to send.
    static func initiate(
        identity: Ed25519.PrivateKey, bundle: PrekeyBundle, ephemeral: X25519.PrivateKey
    ) throws(SessionError) -> (sharedKey: SecureBytes, ephemeral: X25519.PublicKey) {
        guard bundle.hasValidSignature else { throw SessionError.invalidPrekeySignature }
        let ourIdentity = X25519.PrivateKey(converting: identity)
        let theirIdentity: X25519.PublicKey
        do { theirIdentity = try X25519.PublicKey(converting: bundle.identity) } catch { throw .invalidKey }
        var secrets = [
            try dh(ourIdentity, bundle.signedPrekey),
            try dh(ephemeral, theirIdentity),
            try dh(ephemeral, bundle.signedPrekey),
        ]
        if let oneTime = bundle.oneTimePrekey { secrets.append(try dh(ephemeral, oneTime.key)) }
        return (derive(secrets), ephemeral.publicKey)
    }

    /// The responder's side, from the prekeys the initiator named.
    static func respond(
        identity: Ed25519.PrivateKey, signedPrekey: X25519.PrivateKey, oneTimePrekey: X25519.PrivateKey?,
        initiator: Ed25519.PublicKey, ephemeral: X25519.PublicKey
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
        return derive(secrets)
    }

    /// SK = HKDF(salt = 32 zero bytes, IKM = F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info, 32 bytes).
    private static func derive(_ secrets: [X25519.SharedSecret]) -> SecureBytes {
        let ikm = SecureBytes(count: filler.count + 32 * secrets.count) { out in
            var offset = 0
            for byte in filler { out[offset] = byte; offset += 1 }
            for secret in secrets {
                secret.bytes.withUnsafeBytes { s in
                    for byte in s { out[offset] = byte; offset += 1 }
                }
            }
        }
        return HKDF.deriveSymmetricKey(inputKeyMaterial: ikm, salt: [], info: info).bytes
    }

    /// X25519 with the all-zero (low-order) result reported as `invalidKey`; the ratchet uses it too.
    static func dh(_ ours: X25519.PrivateKey, _ theirs: X25519.PublicKey) throws(SessionError) -> X25519.SharedSecret {
        do { return try ours.sharedSecret(with: theirs) } catch { throw .invalidKey }
    }
}
