import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// The trio of `Trio`, and Alice's second device, her laptop: Alice adds it with her identity key
/// from her first device, which welcomes it over their pairwise session.
struct TrioWithLaptop {
    var t: Trio
    let laptop = Ed25519.PrivateKey()
    /// The laptop's own group state.
    var l: GroupSession
    /// The add device entry.
    let added: MembershipEntry
    /// The welcome Alice's first device sent the laptop.
    let welcome: GroupWelcome

    init() throws {
        t = try Trio()
        (added, welcome) = try t.a.addDevice(laptop.publicKey, by: t.alice)
        try t.f.apply(added)
        try t.b.apply(added)
        l = try GroupSession(welcome: GroupWelcome(serialized: welcome.serialized()), me: t.alice.publicKey, device: laptop.publicKey,
                             from: t.alice.publicKey)
    }
}

@Suite("Group devices")
struct GroupDeviceTests {
    @Test("a member's second device sends; every member reads it as that member, and the device reads everyone at once")
    func secondDeviceSends() throws {
        var d = try TrioWithLaptop()
        #expect(d.l.currentEpoch == d.added.sequence && d.l.epochs.keys.sorted() == [d.added.sequence])
        #expect(d.l.me == d.t.alice.publicKey && d.l.device == d.laptop.publicKey)
        let fromLaptop = try d.l.encrypt(text("from the laptop"), device: d.laptop)
        for var reader in [d.t.f, d.t.a, d.t.b] {
            let message = try reader.decrypt(fromLaptop)
            #expect(message.plaintext == text("from the laptop"))
            #expect(message.sender == d.t.alice.publicKey && message.device == d.laptop.publicKey)
        }
        // Alice's first device is another sender of the same member; the laptop reads it and Bob.
        let fromPhone = try d.t.a.encrypt(text("from the phone"), device: d.t.alice)
        let atLaptop = try d.l.decrypt(fromPhone)
        #expect(atLaptop.sender == d.t.alice.publicKey && atLaptop.device == d.t.alice.publicKey)
        #expect(try d.t.f.decrypt(fromPhone).sender == d.t.alice.publicKey)
        #expect(try d.l.decrypt(d.t.b.encrypt(text("hi both"), device: d.t.bob)).sender == d.t.bob.publicKey)
        // The laptop's state sends only with the laptop's key, and the identity's state only with the identity key.
        #expect(throws: GroupError.notInGroup) { try d.l.encrypt(text("as the identity"), device: d.t.alice) }
        #expect(throws: GroupError.notInGroup) { try d.t.a.encrypt(text("as the laptop"), device: d.laptop) }
    }

    @Test("a welcome at an add device epoch is taken only from the device's owner, by a device of that member")
    func deviceWelcomeChecks() throws {
        let d = try TrioWithLaptop()
        let alice = d.t.alice.publicKey, laptop = d.laptop.publicKey
        #expect(throws: GroupError.unexpectedEpochKey) {
            try GroupSession(welcome: d.welcome, me: alice, device: laptop, from: d.t.founder.publicKey)
        }
        #expect(throws: GroupError.unexpectedEpochKey) {
            try GroupSession(welcome: d.welcome, me: d.t.bob.publicKey, device: laptop, from: alice)
        }
        // Another device of the member takes it from the member itself (one device hands a group to its others)…
        #expect(try GroupSession(welcome: d.welcome, me: alice, device: alice, from: alice).device == alice)
        // …but not from anyone else.
        #expect(throws: GroupError.unexpectedEpochKey) { try GroupSession(welcome: d.welcome, me: alice, device: alice, from: d.t.bob.publicKey) }
        let other = Ed25519.PrivateKey().publicKey
        #expect(throws: GroupError.unexpectedEpochKey) { try GroupSession(welcome: d.welcome, me: alice, device: other, from: alice) }
        // Made again from the epoch before it, for a laptop whose first welcome the relay lost.
        let again = try #require(d.t.a.welcome(forAdditionAt: d.added.sequence))
        #expect(again.serialized().withUnsafeBytes { Array($0) } == d.welcome.serialized().withUnsafeBytes { Array($0) })
    }

    @Test("a member's first-device state hands the group to another device: the entry goes out from the first device's leaf, and the device writes at once")
    func handOver() throws {
        var t = try Trio()
        let laptop = Ed25519.PrivateKey()
        var first = t.a
        var before = first
        var (l, entry) = try GroupSession.handOver(&first, to: laptop.publicKey, identity: t.alice)
        #expect(l.device == laptop.publicKey && l.me == t.alice.publicKey && l.currentEpoch == entry.sequence)
        #expect(first.chain.entries.last == entry && first.currentEpoch == entry.sequence)
        // The entry goes to the group from the first device's leaf, in the epoch before it; the
        // others apply it and read the laptop as Alice.
        let announced = try before.encrypt(entry.encoded(), device: t.alice)
        #expect(try t.b.decrypt(announced).plaintext == entry.encoded())
        try t.f.apply(entry)
        try t.b.apply(entry)
        let message = try l.encrypt(text("from the laptop"), device: laptop)
        #expect(try t.b.decrypt(message).sender == t.alice.publicKey)
        #expect(try t.f.decrypt(message).device == laptop.publicKey)
        // Only a first device's state, with its own identity key, hands over.
        var bobs = t.b
        #expect(throws: GroupError.notInGroup) { try GroupSession.handOver(&bobs, to: laptop.publicKey, identity: t.alice) }
        var laptops = l
        #expect(throws: GroupError.notInGroup) { try GroupSession.handOver(&laptops, to: Ed25519.PrivateKey().publicKey, identity: t.alice) }
    }

    @Test("device entries never move the route serial, and the entry that set each serial is found past them")
    func routeSerial() throws {
        var d = try TrioWithLaptop()
        // Create, add Alice, add Bob, then Alice's add device entry.
        #expect(d.t.f.chain.nextSequence == 4 && d.t.f.chain.routeSerial == 3)
        _ = try d.t.f.remove(d.t.bob.publicKey, by: d.t.founder)
        #expect(d.t.f.chain.nextSequence == 5 && d.t.f.chain.routeSerial == 4)
        #expect([1, 2, 3, 4].map { d.t.f.chain.entryIndex(routeSerial: $0) } == [0, 1, 2, 4])
    }

    @Test("a device removed by an admin reads nothing of the next epoch; its member stays and writes on")
    func removedDevice() throws {
        var d = try TrioWithLaptop()
        let early = try d.l.encrypt(text("before"), device: d.laptop)
        #expect(try d.t.b.decrypt(early).events.isEmpty)
        // The laptop, kept unaware of its removal, writes on in the old epoch.
        let stale = try d.l.encrypt(text("after, unaware"), device: d.laptop)
        let (entry, key) = try d.t.f.removeDevice(d.laptop.publicKey, by: d.t.founder)
        try d.t.a.apply(entry)
        try d.t.b.apply(entry)
        // Only the entry's author hands out the key.
        #expect(throws: GroupError.unexpectedEpochKey) { try d.t.a.receive(epochKey: key, from: d.t.alice.publicKey) }
        try d.t.a.receive(epochKey: key, from: d.t.founder.publicKey)
        try d.t.b.receive(epochKey: key, from: d.t.founder.publicKey)
        try d.l.apply(entry)
        #expect(throws: GroupError.notInGroup) { try d.l.receive(epochKey: key, from: d.t.founder.publicKey) }
        let after = try d.t.f.encrypt(text("after the laptop left"), device: d.t.founder)
        #expect(throws: GroupError.unknownEpoch(entry.sequence)) { try d.l.decrypt(after) }
        #expect(try d.t.b.decrypt(after).plaintext == text("after the laptop left"))
        // Its message from the old epoch is genuine but flagged, like a removed member's.
        #expect(try d.t.b.decrypt(stale).events == [.senderRemoved(atEntry: entry.sequence)])
        #expect(d.t.b.chain.roster[d.t.alice.publicKey] == .member && d.t.b.chain.devices(of: d.t.alice.publicKey) == [d.t.alice.publicKey])
        let fromPhone = try d.t.b.decrypt(d.t.a.encrypt(text("still here"), device: d.t.alice))
        #expect(fromPhone.sender == d.t.alice.publicKey && fromPhone.events.isEmpty)
        // One that claims the laptop in the new epoch is refused: it has no leaf there.
        var forger = d.t.f
        forger.epochs[entry.sequence]!.senders[d.laptop.publicKey] = SenderChain(chainKey: SecureBytes(randomCount: 32))
        let claim = try forger.encryptForgingSender(d.laptop.publicKey, text("posing"), signer: d.laptop)
        #expect(throws: GroupError.notMember) { try d.t.b.decrypt(claim) }
    }

    @Test("its owner removes a device; another member cannot")
    func ownerRemovesDevice() throws {
        var d = try TrioWithLaptop()
        #expect(throws: GroupError.membership(.notAdmin(sequence: d.added.sequence + 1))) {
            try d.t.b.removeDevice(d.laptop.publicKey, by: d.t.bob)
        }
        let (entry, key) = try d.t.a.removeDevice(d.laptop.publicKey, by: d.t.alice)
        try d.t.f.apply(entry)
        try d.t.f.receive(epochKey: key, from: d.t.alice.publicKey)
        #expect(try d.t.f.decrypt(d.t.a.encrypt(text("laptop gone"), device: d.t.alice)).epoch == entry.sequence)
    }

    @Test("removing a member removes its devices: none gets the next epoch, and their later messages are refused")
    func removedMemberTakesDevices() throws {
        var d = try TrioWithLaptop()
        let stale = try d.l.encrypt(text("laptop, unaware"), device: d.laptop)
        let (entry, key) = try d.t.f.remove(d.t.alice.publicKey, by: d.t.founder)
        try d.t.b.apply(entry)
        try d.t.b.receive(epochKey: key, from: d.t.founder.publicKey)
        #expect(d.t.b.chain.leaves[d.laptop.publicKey] == nil && d.t.b.chain.leaves[d.t.alice.publicKey] == nil)
        for var device in [d.t.a, d.l] {
            try device.apply(entry)
            #expect(throws: GroupError.notInGroup) { try device.receive(epochKey: key, from: d.t.founder.publicKey) }
        }
        #expect(try d.t.b.decrypt(stale).events == [.senderRemoved(atEntry: entry.sequence)])
        var forger = d.t.f
        forger.epochs[entry.sequence]!.senders[d.laptop.publicKey] = SenderChain(chainKey: SecureBytes(randomCount: 32))
        #expect(throws: GroupError.notMember) {
            try d.t.b.decrypt(forger.encryptForgingSender(d.laptop.publicKey, text("posing"), signer: d.laptop))
        }
    }

    @Test("a device's state stored in parts restores with its device, owners and leaves, and sends on")
    func storedDeviceState() throws {
        var d = try TrioWithLaptop()
        let m = try (0..<3).map { try d.t.f.encrypt(text("f\($0)"), device: d.t.founder) }
        _ = try d.l.decrypt(m[2])
        _ = try d.t.f.decrypt(d.l.encrypt(text("laptop"), device: d.laptop))
        func restore(_ state: GroupSession, core: SecureBytes? = nil) throws -> GroupSession {
            try GroupSession(core: core ?? state.serializedCore(), entries: (0..<state.entryCount).map(state.entry(at:)),
                             seenPages: (0..<state.seenPageCount).map(state.seenPage),
                             chains: state.chainIDs.map { ($0, state.chainPart($0)) }, tip: state.serializedTip())
        }
        var restored = try restore(d.l)
        #expect(restored.me == d.t.alice.publicKey && restored.device == d.laptop.publicKey)
        #expect(restored.chain.leaves == d.l.chain.leaves && restored.chain.owner(of: d.laptop.publicKey) == d.t.alice.publicKey)
        #expect(restored.chain.devices(of: d.t.alice.publicKey) == [d.t.alice.publicKey, d.laptop.publicKey])
        #expect(restored.chainIDs.contains(GroupSession.ChainID(epoch: d.added.sequence, device: d.laptop.publicKey)))
        #expect(try restored.decrypt(m[0]).events == [.lateArrival])
        #expect(try d.t.b.decrypt(restored.encrypt(text("restored laptop"), device: d.laptop)).sender == d.t.alice.publicKey)
        let founder = try restore(d.t.f)
        #expect(founder.chain.leaves == d.t.f.chain.leaves && founder.device == d.t.founder.publicKey)
        // A core whose device is not the member's own is refused.
        var core = d.l.serializedCore().withUnsafeBytes { Array($0) }
        #expect(core[4] == 4 && Array(core[37..<69]) == d.laptop.publicKey.rawRepresentation)
        core.replaceSubrange(37..<69, with: d.t.bob.publicKey.rawRepresentation)
        #expect(throws: GroupError.malformed("the device is not the member's")) { try restore(d.l, core: SecureBytes(copying: core)) }
    }

    @Test("a version 3 state, stored before devices, loads as its member's first device and goes on")
    func version3StateLoads() throws {
        typealias Fixture = GroupStateVersion3Fixture
        func bytes(_ hex: String) throws -> [UInt8] {
            guard let decoded = Hex.decode(hex) else { throw GroupError.malformed("the fixture is not hex") }
            return decoded
        }
        let founder = try Ed25519.PrivateKey(seed: SecureBytes(copying: [UInt8](repeating: 0x51, count: 32)))
        let member = try Ed25519.PrivateKey(seed: SecureBytes(copying: [UInt8](repeating: 0x52, count: 32)))
        let chains = try Fixture.chains.map { epoch, device, part in
            (GroupSession.ChainID(epoch: epoch, device: try Ed25519.PublicKey(rawRepresentation: try bytes(device))),
             SecureBytes(copying: try bytes(part)))
        }
        let core = try bytes(Fixture.core)
        #expect(core[4] == 3)
        var state = try GroupSession(core: SecureBytes(copying: core), entries: try Fixture.entries.map(bytes),
                                     seenPages: try Fixture.pages.map(bytes), chains: chains, tip: try bytes(Fixture.tip))
        #expect(state.me == member.publicKey && state.device == member.publicKey && state.currentEpoch == 1)
        #expect(state.chain.leaves == [founder.publicKey: 0, member.publicKey: 1])
        let unread = try state.decrypt(try bytes(Fixture.unread))
        #expect(unread.plaintext == text("kept for the fixture") && unread.sender == founder.publicKey && unread.device == founder.publicKey)
        #expect(unread.events.isEmpty)
        // Stored again, it is version 4, and restores to the same state.
        let again = try GroupSession(core: state.serializedCore(), entries: (0..<state.entryCount).map(state.entry(at:)),
                                     seenPages: (0..<state.seenPageCount).map(state.seenPage),
                                     chains: state.chainIDs.map { ($0, state.chainPart($0)) }, tip: state.serializedTip())
        #expect(again.serializedCore().withUnsafeBytes { $0[4] } == 4)
        #expect(again.serialized().withUnsafeBytes { Array($0) } == state.serialized().withUnsafeBytes { Array($0) })
        _ = try state.encrypt(text("still here"), device: member)
    }
}
