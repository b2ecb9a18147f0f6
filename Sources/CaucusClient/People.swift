import CaucusClientStore
import CaucusCrypto
import CaucusText

/// Everyone this user knows by name (their contacts, and themselves), indexed by the keys of
/// `NameComparison`: which names are the same or look alike, and whom a typed name means
/// (Protocol.md §9.5).
struct People: Sendable {
    private struct Entry: Sendable {
        var name: String?
        var verified: Bool
        var keys: Set<String>
    }

    let me: Ed25519.PublicKey
    private var entries: [Ed25519.PublicKey: Entry] = [:]
    private var byKey: [String: Set<Ed25519.PublicKey>] = [:]

    init(me: Ed25519.PublicKey, myName: String, contacts: [(Ed25519.PublicKey, ContactRecord)]) {
        self.me = me
        set(me, name: myName, verified: false)
        for (key, record) in contacts where key != me { set(key, name: record.name, verified: record.verified) }
    }

    /// Records `person`'s name and mark, replacing what was known of them.
    mutating func set(_ person: Ed25519.PublicKey, name: String?, verified: Bool) {
        for key in entries[person]?.keys ?? [] { byKey[key]?.remove(person) }
        let keys = name.map { NameComparison.keys($0) } ?? []
        entries[person] = Entry(name: name, verified: verified, keys: keys)
        for key in keys { byKey[key, default: []].insert(person) }
    }

    /// `person` with their name, mark and look-alikes.
    func view(_ person: Ed25519.PublicKey) -> PersonView {
        let entry = entries[person]
        return PersonView(did: DID(publicKey: person), name: entry?.name, isMe: person == me, verified: entry?.verified ?? false,
                          lookalikes: entry?.name.map { lookalikes(of: $0, except: person) } ?? [])
    }

    /// Everyone but `person` whose name is the same as `name` or looks alike, in DID order.
    func lookalikes(of name: String, except person: Ed25519.PublicKey) -> [DID] {
        var found = Set<Ed25519.PublicKey>()
        for key in NameComparison.keys(name) { found.formUnion(byKey[key] ?? []) }
        found.remove(person)
        return found.map { DID(publicKey: $0) }.sorted { $0.description < $1.description }
    }

    /// The one of `candidates` that `target` names: a DID fragment (the short form as shown, with `…`
    /// or `...`, or the start of the identifier, 8 characters or more), else a name that is the same or
    /// looks alike; among several such names, the only verified one. Nil when none matches; throws
    /// `ambiguousTarget`, listing them by DID fragment, when several do.
    func pick(_ target: String, among candidates: some Sequence<Ed25519.PublicKey>) throws(ClientError) -> Ed25519.PublicKey? {
        let candidates = Array(candidates)
        let byFragment = candidates.filter { Self.fragment(target, names: DID(publicKey: $0)) }
        if !byFragment.isEmpty { return try one(target, byFragment) }
        let wanted = NameComparison.keys(target)
        let byName = candidates.filter { !(entries[$0]?.keys.isDisjoint(with: wanted) ?? true) }
        let verified = byName.filter { entries[$0]?.verified == true }
        if byName.count > 1, verified.count == 1 { return verified[0] }
        return byName.isEmpty ? nil : try one(target, byName)
    }

    private func one(_ target: String, _ matches: [Ed25519.PublicKey]) throws(ClientError) -> Ed25519.PublicKey {
        guard matches.count == 1 else {
            throw ClientError.ambiguousTarget(target, candidates: matches.map { person in
                let view = view(person)
                let mark = view.verified ? " \(PersonView.verifiedMark)" : ""
                return "\(view.name.map { PersonView.shown($0).text } ?? "(no name)")\(mark) (\(view.did.short))"
            }.sorted())
        }
        return matches[0]
    }

    /// Whether `text` is a fragment of `did` as Protocol.md §9.5 allows one.
    static func fragment(_ text: String, names did: DID) -> Bool {
        let typed = text.hasPrefix(DID.prefix) ? String(text.dropFirst(DID.prefix.count)) : text
        if typed.replacingOccurrences(of: "...", with: "…") == did.short { return true }
        return typed.count >= 8 && did.identifier.hasPrefix(typed)
    }
}
