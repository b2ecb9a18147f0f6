import CaucusCrypto
import CaucusKeystore

/// The passphrase that seals the identity: how strong a new one must be, and changing it.
extension Account {
    /// Refuses a new passphrase below `PassphraseStrength.floorBits`, unless `allowWeak`.
    public static func checkStrength(of passphrase: Passphrase, allowWeak: Bool) throws(ClientError) {
        guard !passphrase.isEmpty else { throw ClientError.invalidArgument("the passphrase must not be empty") }
        let text = passphrase.bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        guard !allowWeak, let weakness = PassphraseStrength(text).weakness else { return }
        throw ClientError.weakPassphrase(weakness)
    }

    /// Throws `wrongPassphrase` unless `passphrase` opens the keystore in `home`; changes nothing.
    public static func checkPassphrase(_ passphrase: Passphrase, home: ClientHome) throws(ClientError) {
        do { _ = try Keystore(path: home.keystorePath).load(passphrase: passphrase) } catch KeystoreError.wrongPassphrase {
            throw ClientError.wrongPassphrase
        } catch {
            throw ClientError.keystore("\(error)")
        }
    }

    /// Re-seals the identity in `home` under `new`: the old passphrase must open it; the keystore is
    /// replaced atomically (a new file, synced, renamed over the old one), and nothing else changes.
    public static func changePassphrase(
        home: ClientHome, from old: Passphrase, to new: Passphrase,
        parameters: Argon2id.Parameters = .moderate, allowWeak: Bool = false
    ) throws(ClientError) {
        let keystore = Keystore(path: home.keystorePath)
        guard keystore.exists else { throw ClientError.noIdentity(home: home.path) }
        try checkStrength(of: new, allowWeak: allowWeak)
        do { try keystore.changePassphrase(from: old, to: new, parameters: parameters) } catch KeystoreError.wrongPassphrase {
            throw ClientError.wrongPassphrase
        } catch {
            throw ClientError.keystore("\(error)")
        }
    }
}
