import CaucusClientStore

/// Why a client operation could not be done, worded for the person at the keyboard. Never holds
/// a secret, a plaintext or a passphrase.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `caucus init` has not been run for this data directory.
    case noIdentity(home: String)
    /// `caucus init` found an identity already there.
    case identityExists(home: String)
    /// The passphrase does not open the keystore.
    case wrongPassphrase
    /// A new passphrase below the strength floor (`PassphraseStrength`), and why.
    case weakPassphrase(String)
    /// The keystore could not be read (damaged, wrong permissions, ...).
    case keystore(String)
    /// The local store cannot be opened or read: damaged, or not a Caucus store.
    case damagedStore(path: String, reason: String)
    /// The local store cannot be written now (a full disk, another process, permissions); nothing in it is damaged.
    case storeUnavailable(path: String, reason: String)
    /// No relay is configured.
    case noRelay
    /// The relay could not be reached or dropped the connection.
    case relayUnreachable(url: String, reason: String)
    /// The relay refused a request.
    case relayRefused(String)
    /// A card or revocation was signed and kept, but the relay has not taken it yet (why): it
    /// goes out with the next connection.
    case cardNotPosted(String)
    /// No group, member or DID matches what was typed.
    case unknownTarget(String)
    /// No campaign of this user's groups matches what was typed.
    case unknownCampaign(String)
    /// More than one conversation matches what was typed (candidates: name, verified mark, DID fragment).
    case ambiguousTarget(String, candidates: [String])
    /// An invite code that cannot be read.
    case invalidInvite(String)
    /// The inviter refused the join request.
    case joinRefused(inviter: String, reason: String)
    /// Only a group admin may do this.
    case notAdmin(group: String)
    /// The user is not (or no longer) a member of the group.
    case notMember(group: String)
    /// A group operation the membership rules refuse.
    case groupRefused(String)
    /// A membership change was made and told to the group, but the relay's route did not take it.
    case routeNotUpdated(change: String, group: String, reason: String)
    /// A peer's prekeys on the relay do not verify against their identity: a swapped key.
    case badPrekeys(peer: String)
    /// The relay served a bundle whose signed prekey announces ML-KEM prekeys without one
    /// (Protocol.md §6.1): a downgrade to a classical-only start, refused.
    case strippedPrekeys(peer: String)
    /// A person's device chain from the relay does not verify, or does not extend the one kept.
    case badDevices(person: String, reason: String)
    /// A file could not be read, written or verified.
    case file(String)
    /// An argument the user typed is not valid.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .noIdentity(let home):
            "no Caucus identity in \(home); run `caucus init` first (or pass --home)"
        case .identityExists(let home):
            "an identity already exists in \(home); refusing to replace it (use another --home for a second identity)"
        case .wrongPassphrase:
            "wrong passphrase; nothing was changed"
        case .weakPassphrase(let why):
            "that passphrase is too easy to guess: \(why) (set CAUCUS_ALLOW_WEAK_PASSPHRASE=1 to use it anyway)"
        case .keystore(let why):
            "cannot open the identity keystore: \(why)"
        case let .damagedStore(path, reason):
            "the local store \(path) cannot be used: \(reason). Nothing was changed; restore it from a backup, or move it aside to start an empty one"
        case let .storeUnavailable(path, reason):
            "the local store \(path) cannot be written right now: \(reason). Nothing was lost: what the relay holds for you waits there; try again once that is fixed"
        case .noRelay:
            "no relay configured; add one with `caucus relay add wss://relay.example.org`"
        case let .relayUnreachable(url, reason):
            "cannot reach the relay \(url): \(reason)"
        case let .routeNotUpdated(change, group, reason):
            "\(change) is recorded in \(group)'s membership list and the members were told, but the relay's route does not follow it: \(reason)"
        case .relayRefused(let why):
            "the relay refused: \(why)"
        case .cardNotPosted(let why):
            "it is signed and kept on this computer, but the relay has not taken it yet (\(why)); it is posted "
                + "the next time caucus connects to the relay (`caucus sync`, or any command that connects)"
        case .unknownTarget(let target):
            "no group, member or DID called \"\(target)\" (see `caucus group list` and `caucus group members`)"
        case .unknownCampaign(let text):
            "no card campaign called \"\(text)\" in your groups (see `caucus campaign list`; a campaign announced while you were offline arrives when you sync)"
        case let .ambiguousTarget(target, candidates):
            """
            "\(target)" could mean any of: \(candidates.joined(separator: ", ")); name one by what is in brackets (a DID \
            fragment or a campaign's short hash), or a person by their whole DID. Of people with one name, a verified one is chosen \
            over unverified ones (`caucus verify`)
            """
        case .invalidInvite(let why):
            "this invite cannot be used: \(why)"
        case let .joinRefused(inviter, why):
            "the inviter (\(inviter)) refused: \(why)"
        case .notAdmin(let group):
            "only an admin of \(group) can do that"
        case .notMember(let group):
            "you are not a member of \(group)"
        case .groupRefused(let why):
            "refused: \(why)"
        case .badPrekeys(let peer):
            "the relay served keys for \(peer) that are not signed by them; refusing to start a conversation (the relay may be hostile)"
        case .strippedPrekeys(let peer):
            "the relay left out the post-quantum key that \(peer) signed for; refusing to start a conversation without it "
                + "(the relay, or something between you and it, may be trying to weaken the encryption)"
        case let .badDevices(person, reason):
            "the devices the relay lists for \(person) cannot be trusted: \(reason)"
        case .file(let why):
            why
        case .invalidArgument(let why):
            why
        }
    }
}

extension ClientError {
    /// The store's error, for the person at the keyboard.
    init(_ error: StoreError) {
        switch error {
        case let .damaged(path, reason): self = .damagedStore(path: path, reason: reason)
        case let .unavailable(path, reason): self = .storeUnavailable(path: path, reason: reason)
        }
    }
}
