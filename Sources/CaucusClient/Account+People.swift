import CaucusClientStore
import CaucusCrypto
import Foundation

/// Whom names mean and how people are shown: verified marks and look-alike names (Protocol.md §9.5).
extension Account {
    /// Everyone this user knows by name, built once, then kept up to date as contacts and the user's name
    /// are saved (`saveContact`, `setMeta`), and built again after a transaction is rolled back.
    nonisolated func people(_ tx: StoreTransaction) throws -> People {
        if let people = peopleCache.withLock({ $0 }) { return people }
        let people = People(me: identity.publicKey, myName: try myName(tx), contacts: try tx.allContacts())
        peopleCache.withLock { $0 = people }
        return people
    }

    /// Drops the kept `People` (a transaction was rolled back).
    nonisolated func forgetPeople() {
        peopleCache.withLock { $0 = nil }
    }

    /// Tells the kept `People`, if any, that `person` is now called `name` (nil: no name yet).
    nonisolated func updatePeople(_ person: Ed25519.PublicKey, name: String?, verified: Bool) {
        peopleCache.withLock { $0?.set(person, name: name, verified: verified) }
    }

    /// The other person of a one-to-one conversation, with their marks (nil for a group).
    public func peer(of conversation: Conversation) throws(ClientError) -> PersonView? {
        guard case .direct(let key) = conversation else { return nil }
        return try read { tx in try person(tx, key) }
    }

    /// `key` as shown, with their marks.
    nonisolated func person(_ tx: StoreTransaction, _ key: Ed25519.PublicKey) throws -> PersonView {
        try people(tx).view(key)
    }

    /// `key` as lines Caucus writes about them name them: "you", or their name with its marks (`PersonView.label`).
    nonisolated func mention(_ tx: StoreTransaction, _ key: Ed25519.PublicKey) throws -> String {
        key == identity.publicKey ? "you" : try person(tx, key).label.text
    }

    /// Everyone this user knows (contacts met in groups and conversations), by name, then DID.
    public func contacts() throws(ClientError) -> [PersonView] {
        try read { tx in
            let people = try people(tx)
            return try tx.allContacts().map { key, _ in people.view(key) }
                .sorted { ($0.name ?? "~", $0.did.description) < ($1.name ?? "~", $1.did.description) }
        }
    }
}
