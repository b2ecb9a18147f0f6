import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// A founder, two members who joined by welcome, each with their own group state.
struct Trio {
    let founder = Ed25519.PrivateKey(), alice = Ed25519.PrivateKey(), bob = Ed25519.PrivateKey()
    var f: GroupSession, a: GroupSession, b: GroupSession

    init() throws {
        f = GroupSession(founder: founder)
        let (_, welcomeA) = try f.add(alice.publicKey, role: .member, by: founder)
        // Welcomes travel as bytes over the pairwise session.
        a = try GroupSession(welcome: GroupWelcome(serialized: welcomeA.serialized()), me: alice.publicKey, device: alice.publicKey,
                             from: founder.publicKey)
        let (entryB, welcomeB) = try f.add(bob.publicKey, role: .member, by: founder)
        try a.apply(entryB)
        b = try GroupSession(welcome: GroupWelcome(serialized: welcomeB.serialized()), me: bob.publicKey, device: bob.publicKey,
                             from: founder.publicKey)
    }
}

@Suite("Groups")
struct GroupTests {
    @Test("one ciphertext for everyone; each member reads it and knows the sender")
    func fanOut() throws {
        var t = try Trio()
        let m = try t.f.encrypt(text("strike vote friday"), device: t.founder)
        let atAlice = try t.a.decrypt(m), atBob = try t.b.decrypt(m)
        #expect(atAlice.plaintext == text("strike vote friday") && atAlice.sender == t.founder.publicKey)
        #expect(atBob.plaintext == atAlice.plaintext && atBob.hash == atAlice.hash)
        let reply = try t.a.encrypt(text("in"), device: t.alice)
        #expect(try t.b.decrypt(reply).sender == t.alice.publicKey)
        #expect(try t.f.decrypt(reply).plaintext == text("in"))
        // The sender's identity is not visible in the bytes the relay carries.
        #expect(!m.contains(subsequence: Array(t.founder.publicKey.rawRepresentation.prefix(8))))
    }

    @Test("a removed member reads nothing sent after the removal")
    func removal() throws {
        var t = try Trio()
        let (entry, epochKey) = try t.f.remove(t.bob.publicKey, by: t.founder)
        try t.a.apply(entry)
        #expect(throws: GroupError.epochKeyPending(entry.sequence)) { try t.a.encrypt(text("too early"), device: t.alice) }
        try t.a.receive(epochKey: GroupEpochKey(serialized: epochKey.serialized()), from: t.founder.publicKey)
        try t.b.apply(entry)
        // Bob learns he was removed but never gets the key; pretending to have it does not help.
        #expect(throws: GroupError.notInGroup) { try t.b.receive(epochKey: epochKey, from: t.founder.publicKey) }
        let after = try t.f.encrypt(text("after bob left"), device: t.founder)
        #expect(try t.a.decrypt(after).plaintext == text("after bob left"))
        #expect(throws: GroupError.unknownEpoch(entry.sequence)) { try t.b.decrypt(after) }
        let fromAlice = try t.a.encrypt(text("alice too"), device: t.alice)
        #expect(throws: GroupError.unknownEpoch(entry.sequence)) { try t.b.decrypt(fromAlice) }
        #expect(try t.f.decrypt(fromAlice).plaintext == text("alice too"))
        // An epoch key from someone who did not make the removal is refused.
        #expect(throws: GroupError.unexpectedEpochKey) { try t.a.receive(epochKey: epochKey, from: t.bob.publicKey) }
    }

    @Test("a joiner reads nothing sent before joining, even with the new epoch's secret")
    func joiner() throws {
        var t = try Trio()
        let before = try t.f.encrypt(text("before carol"), device: t.founder)
        let carol = Ed25519.PrivateKey()
        let (entry, welcome) = try t.f.add(carol.publicKey, role: .member, by: t.founder)
        var c = try GroupSession(welcome: welcome, me: carol.publicKey, device: carol.publicKey, from: t.founder.publicKey)
        #expect(throws: GroupError.unknownEpoch(2)) { try c.decrypt(before) }
        #expect(c.epochs.keys.sorted() == [entry.sequence])
        try t.a.apply(entry)
        let hello = try c.encrypt(text("hi all"), device: carol)
        #expect(try t.a.decrypt(hello).plaintext == text("hi all"))
        #expect(try t.f.decrypt(hello).sender == carol.publicKey)
        // The welcome must come from the admin who made the addition, for the member it adds.
        #expect(throws: GroupError.unexpectedEpochKey) {
            try GroupSession(welcome: welcome, me: carol.publicKey, device: carol.publicKey, from: t.alice.publicKey)
        }
        let stranger = Ed25519.PrivateKey().publicKey
        #expect(throws: GroupError.unexpectedEpochKey) {
            try GroupSession(welcome: welcome, me: stranger, device: stranger, from: t.founder.publicKey)
        }
    }

    @Test("a welcome made again after a lost one opens the same epoch; only additions with the epoch before them held get one")
    func welcomeMadeAgain() throws {
        var t = try Trio()
        let carol = Ed25519.PrivateKey()
        let (entry, lost) = try t.f.add(carol.publicKey, role: .member, by: t.founder)
        try t.a.apply(entry)
        // The founder sends and removes Bob before the welcome is made again.
        let first = try t.f.encrypt(text("welcome carol"), device: t.founder)
        let again = try #require(t.f.welcome(forAdditionAt: entry.sequence))
        #expect(again.serialized().withUnsafeBytes { Array($0) } == lost.serialized().withUnsafeBytes { Array($0) })
        var c = try GroupSession(welcome: GroupWelcome(serialized: again.serialized()), me: carol.publicKey, device: carol.publicKey,
                                 from: t.founder.publicKey)
        #expect(try c.decrypt(first).plaintext == text("welcome carol"))
        #expect(try t.a.decrypt(c.encrypt(text("hi"), device: carol)).sender == carol.publicKey)
        // Not an addition, or past the chain: nothing.
        #expect(t.f.welcome(forAdditionAt: 0) == nil && t.f.welcome(forAdditionAt: entry.sequence + 1) == nil)
        // A group founded with its first members drew that epoch's secret at random.
        let (founded, _) = try GroupSession.found(founder: t.founder, members: [(carol.publicKey, .member)])
        #expect(founded.welcome(forAdditionAt: 1) == nil)
    }

    @Test("replays, gaps, late arrivals and withheld messages are reported")
    func deliveryAnomalies() throws {
        var t = try Trio()
        let m = try (0..<4).map { try t.f.encrypt(text("f\($0)"), device: t.founder) }
        #expect(try t.a.decrypt(m[0]).events == [])
        #expect(throws: GroupError.replay) { try t.a.decrypt(m[0]) }
        #expect(try t.a.decrypt(m[2]).events == [.gap(missing: 1), .unseenPredecessors(1)])
        #expect(try t.a.decrypt(m[1]).events == [.lateArrival])
        #expect(try t.a.decrypt(m[3]).events == [])
        // The relay withholds f0..f3 from Bob; Alice's next message points back at them.
        let fromAlice = try t.a.encrypt(text("saw them"), device: t.alice)
        #expect(try t.b.decrypt(fromAlice).events == [.unseenPredecessors(3)])
    }

    @Test("forgeries are refused: altered bytes, a member posing as another, a stranger")
    func forgeries() throws {
        var t = try Trio()
        let m = try t.f.encrypt(text("genuine"), device: t.founder)
        for index in [0, 5, 20, 60, m.count - 1] {
            var bad = m
            bad[index] ^= 0x02
            #expect(throws: GroupError.self) { try t.a.decrypt(bad) }
        }
        // Alice can derive every member's chain key of the epoch, but cannot sign as the founder.
        var impostor = t.a
        let posing = try impostor.encryptForgingSender(t.founder.publicKey, text("fake order"), signer: t.alice)
        #expect(throws: GroupError.badSignature) { try t.b.decrypt(posing) }
        // Someone with the header key but not in the epoch's roster.
        let stranger = Ed25519.PrivateKey()
        impostor.epochs[impostor.currentEpoch]!.senders[stranger.publicKey] = SenderChain(chainKey: SecureBytes(randomCount: 32))
        let outsider = try impostor.encryptForgingSender(stranger.publicKey, text("hello"), signer: stranger)
        #expect(throws: GroupError.notMember) { try t.b.decrypt(outsider) }
        #expect(try t.b.decrypt(m).plaintext == text("genuine"))
    }

    @Test("founding with members gives everyone one shared epoch")
    func founding() throws {
        let founder = Ed25519.PrivateKey()
        let people = (0..<5).map { _ in Ed25519.PrivateKey() }
        var (f, welcome) = try GroupSession.found(founder: founder, members: people.map { ($0.publicKey, .member) })
        let bytes = welcome!.serialized()
        var states = try people.map {
            try GroupSession(welcome: GroupWelcome(serialized: bytes), me: $0.publicKey, device: $0.publicKey, from: founder.publicKey)
        }
        let m = try f.encrypt(text("welcome all"), device: founder)
        for i in states.indices { #expect(try states[i].decrypt(m).plaintext == text("welcome all")) }
        #expect(throws: GroupError.unexpectedEpochKey) {
            let stranger = Ed25519.PrivateKey().publicKey
            return try GroupSession(welcome: GroupWelcome(serialized: bytes), me: stranger, device: stranger, from: founder.publicKey)
        }
    }

    @Test("a role change keeps the epoch; a promoted member can then remove someone")
    func roleChange() throws {
        var t = try Trio()
        let before = t.f.currentEpoch
        let promotion = try t.f.setRole(t.alice.publicKey, to: .admin, by: t.founder)
        #expect(!promotion.startsEpoch && t.f.currentEpoch == before)
        try t.a.apply(promotion)
        try t.b.apply(promotion)
        #expect(t.a.currentEpoch == before && t.a.chain.roster[t.alice.publicKey] == .admin)
        #expect(try t.b.decrypt(t.f.encrypt(text("same epoch"), device: t.founder)).epoch == before)
        let (entry, epochKey) = try t.a.remove(t.bob.publicKey, by: t.alice)
        try t.f.apply(entry)
        #expect(throws: GroupError.unexpectedEpochKey) { try t.f.receive(epochKey: epochKey, from: t.founder.publicKey) }
        try t.f.receive(epochKey: epochKey, from: t.alice.publicKey)
        #expect(try t.f.decrypt(t.a.encrypt(text("new epoch"), device: t.alice)).epoch == entry.sequence)
    }

    @Test("a removed member's message from before the removal is flagged; one claiming a later epoch is refused")
    func removedSender() throws {
        var t = try Trio()
        let before = try t.a.decrypt(t.b.encrypt(text("before"), device: t.bob))
        #expect(before.events.isEmpty)
        let (entry, epochKey) = try t.f.remove(t.bob.publicKey, by: t.founder)
        // Bob was kept unaware of the removal and writes in the old epoch; Alice applied it.
        let stale = try t.b.encrypt(text("after, unaware"), device: t.bob)
        try t.a.apply(entry)
        try t.a.receive(epochKey: epochKey, from: t.founder.publicKey)
        #expect(try t.a.decrypt(stale).events == [.senderRemoved(atEntry: entry.sequence)])
        #expect(try t.f.decrypt(t.a.encrypt(text("alice"), device: t.alice)).events.allSatisfy { $0 != .senderRemoved(atEntry: entry.sequence) })
        // Bob has no leaf in the new epoch: a message that claims him there is refused before its body opens.
        var forger = t.f
        let claim = try forger.encrypt(text("posing"), device: t.founder)
        var header = try XChaCha20Poly1305.open(Array(claim[9..<(9 + GroupSession.encryptedHeaderByteCount)]),
                                                using: try #require(t.a.epochs[entry.sequence]?.headerKey), authenticating: Array(claim[0..<9]))
        header.replaceSubrange(0..<32, with: t.bob.publicKey.rawRepresentation)
        let forged = Array(claim[0..<9]) + XChaCha20Poly1305.seal(header, using: try #require(t.a.epochs[entry.sequence]?.headerKey),
                                                                   authenticating: Array(claim[0..<9])) + Array(claim[(9 + GroupSession.encryptedHeaderByteCount)...])
        #expect(throws: GroupError.notMember) { try t.a.decrypt(forged) }
    }

    @Test("discarded epochs no longer open late messages; the current one always stays")
    func discardEpochs() throws {
        var t = try Trio()
        let late = try t.f.encrypt(text("sent before the removal"), device: t.founder)
        let oldEpoch = t.f.currentEpoch
        let (entry, epochKey) = try t.f.remove(t.bob.publicKey, by: t.founder)
        try t.a.apply(entry)
        try t.a.receive(epochKey: epochKey, from: t.founder.publicKey)
        var keeping = t.a
        #expect(try keeping.decrypt(late).epoch == oldEpoch)
        t.a.discardEpochs(before: entry.sequence)
        #expect(throws: GroupError.unknownEpoch(oldEpoch)) { try t.a.decrypt(late) }
        t.a.discardEpochs(before: .max)
        #expect(try t.a.decrypt(t.f.encrypt(text("still here"), device: t.founder)).plaintext == text("still here"))
    }

    @Test("membership payloads round-trip and refuse malformed bytes")
    func payloads() throws {
        let t = try Trio()
        for entry in t.f.chain.entries {
            #expect(try MembershipEntry(encoded: entry.encoded()) == entry)
        }
        let encoded = t.f.chain.entries[1].encoded()
        #expect(throws: GroupError.self) { try MembershipEntry(encoded: Array(encoded.dropLast())) }
        #expect(throws: GroupError.self) { try MembershipEntry(encoded: encoded + [0]) }
        var badAction = encoded
        badAction[72] = 9
        #expect(throws: GroupError.self) { try MembershipEntry(encoded: badAction) }
        #expect(throws: GroupError.self) { try GroupEpochKey(serialized: SecureBytes(copying: [0x10, 1, 2])) }
        #expect(throws: GroupError.self) { try GroupWelcome(serialized: SecureBytes(copying: [0x11, 0, 0])) }
    }
}

extension GroupSession {
    /// Test-only: encrypts as `sender` with the epoch's header key, signing with `signer`.
    mutating func encryptForgingSender(_ sender: Ed25519.PublicKey, _ plaintext: [UInt8], signer: Ed25519.PrivateKey) throws -> [UInt8] {
        var epoch = epochs[currentEpoch]!
        _ = epoch.prepareChain(for: sender)
        var chain = epoch.senders[sender]!
        let counter = chain.next
        let (key, _, _) = try chain.key(for: counter)
        epoch.senders[sender] = chain
        epochs[currentEpoch] = epoch
        var prefix: [UInt8] = [Self.messageType]
        prefix.appendU64(currentEpoch)
        var header = sender.rawRepresentation
        header.appendU32(counter)
        prefix += XChaCha20Poly1305.seal(header, using: epoch.headerKey, authenticating: prefix)
        let statement = Self.statement(groupID: groupID, epoch: currentEpoch, sender: sender, counter: counter, previous: [], plaintext: plaintext)
        var content = [UInt8]()
        content.appendU32(UInt32(plaintext.count))
        content += plaintext + [0] + signer.signature(for: statement).rawRepresentation
        return prefix + XChaCha20Poly1305.seal(try Padding.pad(content, blockSize: Self.paddingBlock),
                                               using: try SymmetricKey(bytes: key), authenticating: prefix)
    }
}

@Suite("Group forward secrecy")
struct GroupForwardSecrecyTests {
    @Test("state captured after reading a message holds no key that opens it again")
    func capturedState() throws {
        var t = try Trio()
        _ = try t.a.decrypt(t.f.encrypt(text("first"), device: t.founder))
        let chainBefore = t.a.epochs[t.a.currentEpoch]!.senders[t.founder.publicKey]!.chainKey.withUnsafeBytes { Array($0) }
        let m = try t.f.encrypt(text("meeting at 6"), device: t.founder)
        _ = try t.a.decrypt(m)
        var thief = t.a
        #expect(throws: GroupError.replay) { try thief.decrypt(m) }
        let chainAfter = thief.epochs[thief.currentEpoch]!.senders[t.founder.publicKey]!.chainKey.withUnsafeBytes { Array($0) }
        #expect(chainAfter != chainBefore)
        // No key in the captured epoch equals the chain key that produced the message key.
        for (_, chain) in thief.epochs[thief.currentEpoch]!.senders {
            #expect(chain.chainKey.withUnsafeBytes { Array($0) } != chainBefore)
        }
    }
}

@Suite("Secret tree")
struct SecretTreeTests {
    @Test("each leaf comes out once, the same whatever the order, and its ancestors are erased")
    func leaves() {
        let root = SecureBytes(randomCount: 32)
        var inOrder = SecretTree(root: root, size: 13)
        var reversed = SecretTree(root: root, size: 13)
        let forward = (0..<13).map { inOrder.take(UInt32($0))!.withUnsafeBytes { Array($0) } }
        let backward = (0..<13).reversed().map { reversed.take(UInt32($0))!.withUnsafeBytes { Array($0) } }
        #expect(forward == Array(backward.reversed()))
        #expect(Set(forward).count == 13)
        #expect(inOrder.nodes.isEmpty && reversed.nodes.isEmpty)
        #expect(inOrder.take(3) == nil && inOrder.take(13) == nil)
        var tree = SecretTree(root: root, size: 10_000)
        _ = tree.take(4242)
        // Only siblings along the path remain: about log2(10,000) nodes, none covering leaf 4242.
        #expect(tree.nodes.count <= 14)
        #expect(tree.nodes.keys.allSatisfy { !($0.lo...($0.hi - 1)).contains(4242) })
        #expect(tree.take(4242) == nil)
    }
}

@Suite("Group state storage")
struct GroupStateTests {
    @Test("state restored mid-conversation goes on exactly where it was, pending epoch key included")
    func roundTrip() throws {
        var t = try Trio()
        let m = try (0..<3).map { try t.f.encrypt(text("f\($0)"), device: t.founder) }
        _ = try t.a.decrypt(m[2])                      // leaves two skipped keys behind
        let (entry, epochKey) = try t.f.remove(t.bob.publicKey, by: t.founder)
        try t.a.apply(entry)                           // the epoch key has not arrived yet
        var restored = try GroupSession(serialized: t.a.serialized())
        #expect(restored.chain.head == t.a.chain.head && restored.currentEpoch == t.a.currentEpoch)
        #expect(try restored.decrypt(m[0]).events == [.lateArrival])
        #expect(throws: GroupError.replay) { try restored.decrypt(m[2]) }
        try restored.receive(epochKey: epochKey, from: t.founder.publicKey)
        let after = try t.f.encrypt(text("after"), device: t.founder)
        #expect(try restored.decrypt(after).plaintext == text("after"))
        var again = try GroupSession(serialized: restored.serialized())
        #expect(try t.f.decrypt(again.encrypt(text("from alice"), device: t.alice)).plaintext == text("from alice"))
        let bytes = t.a.serialized().withUnsafeBytes { Array($0) }
        for cut in [0, 3, 5, 60, bytes.count - 1] {
            #expect(throws: GroupError.self) { try GroupSession(serialized: SecureBytes(copying: bytes.prefix(cut))) }
        }
        #expect(throws: GroupError.self) { try GroupSession(serialized: SecureBytes(copying: bytes + [0])) }
    }

    /// The parts `saveGroup` stores: the core, every entry, every page of remembered hashes,
    /// every sender chain and the tip.
    private struct Parts {
        var core: SecureBytes
        var entries: [[UInt8]]
        var pages: [[UInt8]]
        var chains: [GroupSession.ChainID: SecureBytes]
        var tip: [UInt8]
    }

    private func parts(_ state: GroupSession) -> Parts {
        Parts(core: state.serializedCore(), entries: (0..<state.entryCount).map(state.entry(at:)),
              pages: (0..<state.seenPageCount).map(state.seenPage),
              chains: Dictionary(uniqueKeysWithValues: state.chainIDs.map { ($0, state.chainPart($0)) }),
              tip: state.serializedTip())
    }

    private func fromParts(_ parts: Parts) throws -> GroupSession {
        try GroupSession(core: parts.core, entries: parts.entries, seenPages: parts.pages,
                         chains: parts.chains.map { ($0.key, $0.value) }, tip: parts.tip)
    }

    private func bytes(_ secret: SecureBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }

    @Test("state stored in parts restores exactly where it was, and a version 1 state is still read")
    func partsRoundTrip() throws {
        var t = try Trio()
        let m = try (0..<3).map { try t.f.encrypt(text("f\($0)"), device: t.founder) }
        _ = try t.a.decrypt(m[2])
        let (entry, epochKey) = try t.f.remove(t.bob.publicKey, by: t.founder)
        try t.a.apply(entry)
        var restored = try fromParts(parts(t.a))
        #expect(restored.serialized().withUnsafeBytes { Array($0) } == t.a.serialized().withUnsafeBytes { Array($0) })
        #expect(try restored.decrypt(m[0]).events == [.lateArrival])
        try restored.receive(epochKey: epochKey, from: t.founder.publicKey)
        #expect(try restored.decrypt(t.f.encrypt(text("after"), device: t.founder)).plaintext == text("after"))
        let old = try GroupSession(core: t.a.serialized(), entries: [], seenPages: [])
        #expect(bytes(old.serializedCore()) == bytes(t.a.serializedCore()))
        // A version 2 core (chains and tip inside) with its entries and pages is read too.
        let two = try GroupSession(core: t.a.serializedCoreVersion2(), entries: parts(t.a).entries, seenPages: parts(t.a).pages)
        #expect(bytes(two.serialized()) == bytes(t.a.serialized()))

        let whole = parts(t.a)
        #expect(!whole.chains.isEmpty)
        var broken = whole
        broken.entries.removeLast()
        #expect(throws: GroupError.self) { try fromParts(broken) }
        broken = whole
        broken.pages.append([UInt8](repeating: 1, count: 32))
        #expect(throws: GroupError.self) { try fromParts(broken) }
        broken = whole
        broken.entries = whole.entries.map { $0 + [0] }
        #expect(throws: GroupError.self) { try fromParts(broken) }
        // A chain missing is a different state, not an error; a chain of an epoch not held, or
        // under another member's place, or with trailing bytes, is refused; so is a missing tip.
        let (id, chain) = whole.chains.first!
        broken = whole
        broken.chains[GroupSession.ChainID(epoch: 999, device: id.device)] = chain
        #expect(throws: GroupError.self) { try fromParts(broken) }
        broken = whole
        broken.chains[GroupSession.ChainID(epoch: id.epoch, device: Ed25519.PrivateKey().publicKey)] = chain
        #expect(throws: GroupError.self) { try fromParts(broken) }
        broken = whole
        broken.chains[id] = SecureBytes(copying: bytes(chain) + [0])
        #expect(throws: GroupError.self) { try fromParts(broken) }
        #expect(throws: GroupError.self) {
            try GroupSession(core: whole.core, entries: whole.entries, seenPages: whole.pages,
                             chains: whole.chains.map { ($0.key, $0.value) })
        }
        broken = whole
        broken.tip += [0]
        #expect(throws: GroupError.self) { try fromParts(broken) }
        let core = bytes(whole.core)
        for cut in [0, 3, 5, 60, core.count - 1] {
            broken = whole
            broken.core = SecureBytes(copying: core.prefix(cut))
            #expect(throws: GroupError.self) { try fromParts(broken) }
        }
    }

    @Test("a message changes one page of remembered hashes and no entry, also once the ring has wrapped")
    func messageChangesOnePage() throws {
        var t = try Trio()
        for number in 0..<(GroupSession.rememberedMessages + 100) {
            t.a.remember(try BLAKE2b.hash(Array("message \(number)".utf8)))
        }
        // The founder's first message in the epoch makes A's chain for it (and takes its leaf of the tree).
        _ = try t.a.decrypt(t.f.encrypt(text("first"), device: t.founder))
        let before = t.a
        let restored = try fromParts(parts(before))
        #expect(restored.seenOrder == before.seenOrder && restored.seenCursor == before.seenCursor)
        _ = try t.a.decrypt(t.f.encrypt(text("one more"), device: t.founder))
        #expect(t.a.chainExtends(before) && t.a.entryCount == before.entryCount)
        let changed = t.a.seenPagesChanged(since: before)
        #expect(changed == [before.seenCursor / GroupSession.seenPageSize])
        // One chain changed (the founder's, as A holds it), and the core did not.
        let chains = t.a.chainsChanged(since: before)
        #expect(chains == [GroupSession.ChainID(epoch: t.a.currentEpoch, device: t.founder.publicKey)])
        #expect(!t.a.coreChanged(since: before))
        // Stored as saveGroup does (the changed page and chain, and the tip), the parts restore the new state.
        var stored = parts(before)
        for page in changed { stored.pages[page] = t.a.seenPage(page) }
        for id in chains { stored.chains[id] = t.a.chainPart(id) }
        stored.tip = t.a.serializedTip()
        #expect(bytes(try fromParts(stored).serialized()) == bytes(t.a.serialized()))

        // A membership change adds an entry after the ones stored; another group's chain is no continuation.
        let grown = t.a
        _ = try t.f.add(Ed25519.PrivateKey().publicKey, role: .member, by: t.founder)
        try t.a.apply(t.f.chain.entries.last!)
        #expect(t.a.chainExtends(grown) && t.a.entryCount == grown.entryCount + 1)
        #expect(!GroupSession(founder: Ed25519.PrivateKey()).chainExtends(grown))
    }
}
