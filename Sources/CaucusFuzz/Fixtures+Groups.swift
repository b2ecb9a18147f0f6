import CaucusCrypto

/// A group founded by `Fixtures.founder` with `Fixtures.member` and `Fixtures.outsider` as members,
/// the member's view of it, and messages the founder sent (made once per process).
struct GroupFixture: Sendable {
    static let shared = GroupFixture()

    /// The founder's and the member's state after the welcome, before any message.
    let founder: GroupSession, member: GroupSession
    let welcome: GroupWelcome
    /// A removal of the outsider made later by the founder, and the epoch key it sent.
    let removal: MembershipEntry, epochKey: GroupEpochKey
    /// Group messages from the founder, in order, and their plaintexts.
    let messages: [[UInt8]], plaintexts: Set<[UInt8]>
    /// The member's state once it has read those messages (a sender chain, remembered hashes).
    let memberAfterMessages: GroupSession
    /// Chains of several shapes (every action among them), each entry encoded.
    let chains: [[MembershipEntry]]

    private init() {
        let keys = Fixtures.self
        var (founder, welcome) = try! GroupSession.found(
            founder: keys.founder, members: [(keys.member.publicKey, .member), (keys.outsider.publicKey, .admin)])
        self.welcome = welcome!
        member = try! GroupSession(welcome: self.welcome, me: keys.member.publicKey, device: keys.member.publicKey, from: keys.founder.publicKey)
        self.founder = founder
        var sender = founder
        let texts = ["", "strike vote friday", String(repeating: "long message ", count: 40)].map { Array($0.utf8) }
        messages = texts.map { try! sender.encrypt($0, device: keys.founder) }
        plaintexts = Set(texts)
        var reader = member
        for message in messages { _ = try! reader.decrypt(message) }
        memberAfterMessages = reader
        (removal, epochKey) = try! founder.remove(keys.outsider.publicKey, by: keys.founder)

        var grown = MembershipChain(founder: keys.founder)
        _ = try! grown.make(.add(keys.member.publicKey, .member), by: keys.founder)
        _ = try! grown.make(.add(keys.outsider.publicKey, .member), by: keys.founder)
        _ = try! grown.make(.setRole(keys.member.publicKey, .admin), by: keys.founder)
        _ = try! grown.make(.remove(keys.outsider.publicKey), by: keys.member)
        _ = try! grown.make(.setRole(keys.founder.publicKey, .member), by: keys.member)
        // The member gives the group two more devices (fixture keys standing in for device keys);
        // an admin removes one, then the member with the other.
        var devices = MembershipChain(founder: keys.founder)
        _ = try! devices.make(.add(keys.member.publicKey, .member), by: keys.founder)
        _ = try! devices.make(.addDevice(keys.organizer.publicKey), by: keys.member)
        _ = try! devices.make(.addDevice(keys.cardKey.publicKey), by: keys.member)
        _ = try! devices.make(.removeDevice(keys.organizer.publicKey), by: keys.founder)
        _ = try! devices.make(.remove(keys.member.publicKey), by: keys.founder)
        chains = [self.welcome.entries, grown.entries, [grown.entries[0]], devices.entries]
    }

    /// The private key of a fixture identity, to re-sign entries a mutation changed.
    static func privateKey(of key: Ed25519.PublicKey) -> Ed25519.PrivateKey? {
        [Fixtures.founder, Fixtures.member, Fixtures.outsider, Fixtures.organizer, Fixtures.cardKey]
            .first { $0.publicKey == key }
    }
}

/// A one-to-one session from the founder to the member, started (hybrid) with the member's
/// prekeys, its KEM prekey included.
struct SessionFixture: Sendable {
    static let shared = SessionFixture()

    let signedPrekey: SignedPrekey, oneTimePrekey: OneTimePrekey, kemPrekey: KEMPrekey
    /// The member's session after the first start message.
    let responder: Session
    /// Start messages, then (after the member's reply) normal ones, from the founder.
    let messages: [[UInt8]], plaintexts: Set<[UInt8]>

    private init() {
        let keys = Fixtures.self
        signedPrekey = SignedPrekey(id: SignedPrekey.announcesKEMPrekeys | 7, identity: keys.member)
        oneTimePrekey = OneTimePrekey(id: 42)
        kemPrekey = KEMPrekey(id: 3, identity: keys.member)
        let bundle = PrekeyBundle(identity: keys.member.publicKey, signedPrekey: signedPrekey, oneTimePrekey: oneTimePrekey,
                                  kemPrekey: kemPrekey)
        var initiator = try! Session.initiate(identity: keys.founder, bundle: bundle)
        let texts = ["hello", "", "second start", "after the reply", String(repeating: "x", count: 300)].map { Array($0.utf8) }
        var messages = [initiator.encrypt(texts[0]), initiator.encrypt(texts[1]), initiator.encrypt(texts[2])]
        let signed = signedPrekey, oneTime = oneTimePrekey, kem = kemPrekey
        var (responder, _) = try! Session.respond(
            to: messages[0], identity: keys.member, signedPrekey: { $0 == signed.id ? signed : nil },
            oneTimePrekey: { $0 == oneTime.id ? oneTime : nil }, kemPrekey: { $0 == kem.id ? kem : nil })
        self.responder = responder
        _ = try! initiator.decrypt(responder.encrypt(Array("reply".utf8)))
        messages += [initiator.encrypt(texts[3]), initiator.encrypt(texts[4])]
        self.messages = messages
        plaintexts = Set(texts)
    }
}
