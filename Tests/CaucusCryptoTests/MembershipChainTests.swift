import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

@Suite("Membership chain")
struct MembershipChainTests {
    let founder = Ed25519.PrivateKey()
    let alice = Ed25519.PrivateKey()
    let bob = Ed25519.PrivateKey()

    /// founder creates; adds alice as admin and bob as member; alice removes bob.
    func history() throws -> MembershipChain {
        var chain = MembershipChain(founder: founder)
        _ = try chain.make(.add(alice.publicKey, .admin), by: founder)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        _ = try chain.make(.remove(bob.publicKey), by: alice)
        return chain
    }

    @Test("a valid history verifies to the expected roster")
    func verifies() throws {
        let chain = try history()
        let copy = try MembershipChain.verify(chain.entries)
        #expect(copy.roster == [founder.publicKey: .admin, alice.publicKey: .admin])
        #expect(copy.head == chain.head && copy.groupID == chain.groupID)
    }

    @Test("entries signed by a member who is not an admin, or by a stranger, are refused")
    func notAdmin() throws {
        var chain = MembershipChain(founder: founder)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        let byMember = MembershipEntry(groupID: chain.groupID, sequence: 2, previous: chain.head,
                                       action: .add(alice.publicKey, .member), signedBy: bob)
        #expect(throws: MembershipError.notAdmin(sequence: 2)) { try chain.append(byMember) }
        let byStranger = MembershipEntry(groupID: chain.groupID, sequence: 2, previous: chain.head,
                                         action: .add(alice.publicKey, .member), signedBy: alice)
        #expect(throws: MembershipError.notAdmin(sequence: 2)) { try chain.append(byStranger) }
        #expect(chain.entries.count == 2)
    }

    @Test("forged signatures, replays, forks, gaps and broken links each get their own error")
    func tampering() throws {
        let full = try history()
        var chain = try MembershipChain.verify(Array(full.entries.prefix(3)))
        let next = full.entries[3]
        // A relay that swaps the removed member for another: the signature no longer matches.
        let swapped = MembershipEntry(groupID: next.groupID, sequence: next.sequence, previous: next.previous,
                                      action: .remove(founder.publicKey), author: next.author, signature: next.signature)
        #expect(throws: MembershipError.badSignature(sequence: 3)) { try chain.append(swapped) }
        #expect(throws: MembershipError.replay(sequence: 2)) { try chain.append(full.entries[2]) }
        let rival = MembershipEntry(groupID: chain.groupID, sequence: 2, previous: full.entries[1].hash,
                                    action: .add(Ed25519.PrivateKey().publicKey, .member), signedBy: founder)
        #expect(throws: MembershipError.fork(sequence: 2)) { try chain.append(rival) }
        let later = MembershipEntry(groupID: chain.groupID, sequence: 5, previous: chain.head,
                                    action: .remove(bob.publicKey), signedBy: founder)
        #expect(throws: MembershipError.gap(expected: 3, got: 5)) { try chain.append(later) }
        let unlinked = MembershipEntry(groupID: chain.groupID, sequence: 3, previous: full.entries[1].hash,
                                       action: .remove(bob.publicKey), signedBy: founder)
        #expect(throws: MembershipError.brokenLink(sequence: 3)) { try chain.append(unlinked) }
        let otherGroup = MembershipChain(founder: founder)
        let foreign = MembershipEntry(groupID: otherGroup.groupID, sequence: 3, previous: chain.head,
                                      action: .remove(bob.publicKey), signedBy: founder)
        #expect(throws: MembershipError.wrongGroup) { try chain.append(foreign) }
        try chain.append(next)
        #expect(chain.head == full.head)
    }

    @Test("nonsense changes are refused: double add, removing a stranger, leaving no admin")
    func invalidChanges() throws {
        var chain = MembershipChain(founder: founder)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        #expect(throws: MembershipError.self) { try chain.make(.add(bob.publicKey, .admin), by: founder) }
        #expect(throws: MembershipError.self) { try chain.make(.remove(alice.publicKey), by: founder) }
        #expect(throws: MembershipError.self) { try chain.make(.remove(founder.publicKey), by: founder) }
        #expect(throws: MembershipError.self) { try chain.make(.setRole(founder.publicKey, .member), by: founder) }
        #expect(throws: MembershipError.self) { try chain.make(.setRole(bob.publicKey, .member), by: founder) }
        _ = try chain.make(.setRole(bob.publicKey, .admin), by: founder)
        _ = try chain.make(.remove(founder.publicKey), by: bob)
        #expect(chain.roster == [bob.publicKey: .admin])
    }

    @Test("verifying a long chain in parallel reports the first bad entry, like appending does")
    func bulkVerify() throws {
        var chain = MembershipChain(founder: founder)
        for _ in 0..<300 { _ = try chain.make(.add(Ed25519.PrivateKey().publicKey, .member), by: founder) }
        #expect(try MembershipChain.verify(chain.entries).head == chain.head)
        var entries = chain.entries
        let victim = entries[150]
        entries[150] = MembershipEntry(groupID: victim.groupID, sequence: victim.sequence, previous: victim.previous,
                                       action: .add(alice.publicKey, .admin), author: victim.author, signature: victim.signature)
        #expect(throws: MembershipError.badSignature(sequence: 150)) { try MembershipChain.verify(entries) }
        entries[150] = victim
        entries.swapAt(200, 201)
        #expect(throws: MembershipError.gap(expected: 200, got: 201)) { try MembershipChain.verify(entries) }
    }

    @Test("a chain must start with a creation entry signed by its founder")
    func creation() throws {
        let chain = try history()
        #expect(throws: MembershipError.badCreation) { try MembershipChain.verify([]) }
        #expect(throws: MembershipError.badCreation) { try MembershipChain.verify(Array(chain.entries.dropFirst())) }
        let first = chain.entries[0]
        let stolen = MembershipEntry(groupID: first.groupID, sequence: 0, previous: first.previous, action: .create,
                                     author: alice.publicKey, signature: first.signature)
        #expect(throws: MembershipError.badCreation) { try MembershipChain.verify([stolen]) }
    }

    // MARK: Devices (§8.1, actions 4 and 5)

    /// founder creates; adds alice and bob as members; bob adds his phone and his laptop.
    func bobsDevices() throws -> (chain: MembershipChain, phone: Ed25519.PublicKey, laptop: Ed25519.PublicKey) {
        var chain = MembershipChain(founder: founder)
        _ = try chain.make(.add(alice.publicKey, .member), by: founder)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        let phone = Ed25519.PrivateKey().publicKey, laptop = Ed25519.PrivateKey().publicKey
        _ = try chain.make(.addDevice(phone), by: bob)
        _ = try chain.make(.addDevice(laptop), by: bob)
        return (chain, phone, laptop)
    }

    @Test("a member of any role adds its own devices, each with the next leaf; a stranger cannot")
    func addDevice() throws {
        let (start, phone, laptop) = try bobsDevices()
        var chain = start
        #expect(chain.leaves == [founder.publicKey: 0, alice.publicKey: 1, bob.publicKey: 2, phone: 3, laptop: 4] && chain.leafCount == 5)
        #expect(chain.owner(of: phone) == bob.publicKey && chain.owner(of: bob.publicKey) == bob.publicKey)
        #expect(chain.devices(of: bob.publicKey) == [bob.publicKey, phone, laptop] && chain.roster[bob.publicKey] == .member)
        #expect(chain.owner(of: Ed25519.PrivateKey().publicKey) == nil)
        let byStranger = MembershipEntry(groupID: chain.groupID, sequence: chain.nextSequence, previous: chain.head,
                                         action: .addDevice(Ed25519.PrivateKey().publicKey), signedBy: Ed25519.PrivateKey())
        #expect(throws: MembershipError.notAdmin(sequence: 5)) { try chain.append(byStranger) }
        // The new actions travel in the same 202 bytes and verify from scratch.
        for entry in chain.entries { #expect(try MembershipEntry(encoded: entry.encoded()) == entry) }
        #expect(try MembershipChain.verify(chain.entries).leaves == chain.leaves)
    }

    @Test("a device is removed by its owner or by an admin, not by another member; its owner stays a member")
    func removeDevice() throws {
        let (start, phone, laptop) = try bobsDevices()
        var chain = start
        #expect(throws: MembershipError.notAdmin(sequence: 5)) { try chain.make(.removeDevice(phone), by: alice) }
        #expect(throws: MembershipError.notAdmin(sequence: 5)) { try chain.make(.removeDevice(alice.publicKey), by: bob) }
        _ = try chain.make(.removeDevice(phone), by: bob)
        _ = try chain.make(.removeDevice(laptop), by: founder)
        // The first device, the identity key, goes too; the member stays in the roster with no device.
        _ = try chain.make(.removeDevice(bob.publicKey), by: bob)
        #expect(chain.roster[bob.publicKey] == .member && chain.devices(of: bob.publicKey).isEmpty)
        #expect(chain.leaves == [founder.publicKey: 0, alice.publicKey: 1] && chain.leafCount == 5)
        #expect(chain.owner(of: phone) == bob.publicKey)
        // Not a device in the group: an admin is told the change is invalid, anyone else that they may not make it.
        #expect(throws: MembershipError.invalidChange(sequence: 8, "not a device in the group")) {
            try chain.make(.removeDevice(phone), by: founder)
        }
        #expect(throws: MembershipError.notAdmin(sequence: 8)) { try chain.make(.removeDevice(phone), by: bob) }
        #expect(try MembershipChain.verify(chain.entries).leaves == chain.leaves)
    }

    @Test("a key is a device of one member for the group's whole history, and never both a device and an identity")
    func devicesKeepTheirOwner() throws {
        var chain = MembershipChain(founder: founder)
        _ = try chain.make(.add(alice.publicKey, .member), by: founder)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        let laptop = Ed25519.PrivateKey().publicKey
        _ = try chain.make(.addDevice(laptop), by: bob)
        func refused(_ action: MembershipEntry.Action, by author: Ed25519.PrivateKey) -> Bool {
            var copy = chain
            do { _ = try copy.make(action, by: author) } catch MembershipError.invalidChange { return true } catch { return false }
            return false
        }
        #expect(refused(.addDevice(laptop), by: bob))                   // already a device
        #expect(refused(.addDevice(laptop), by: alice))                 // another member's device
        #expect(refused(.addDevice(alice.publicKey), by: bob))          // a member's identity key
        #expect(refused(.addDevice(bob.publicKey), by: bob))            // its own identity key, already a device
        #expect(refused(.add(laptop, .member), by: founder))            // a device is not an identity
        _ = try chain.make(.removeDevice(laptop), by: founder)
        #expect(refused(.addDevice(laptop), by: alice))                 // still Bob's, though removed
        #expect(refused(.add(laptop, .member), by: founder))
        _ = try chain.make(.remove(alice.publicKey), by: founder)
        #expect(refused(.addDevice(alice.publicKey), by: bob))          // a former member's identity key
        // Its owner may bring it back, with a new leaf.
        _ = try chain.make(.addDevice(laptop), by: bob)
        #expect(chain.leaves[laptop] == 4 && chain.devices(of: bob.publicKey) == [bob.publicKey, laptop])
    }

    @Test("removing a member removes every device it has; added again, it has only its identity key")
    func removingMemberRemovesDevices() throws {
        let (start, _, laptop) = try bobsDevices()
        var chain = start
        _ = try chain.make(.remove(bob.publicKey), by: founder)
        #expect(chain.leaves == [founder.publicKey: 0, alice.publicKey: 1] && chain.devices(of: bob.publicKey).isEmpty)
        #expect(chain.owner(of: laptop) == bob.publicKey)
        _ = try chain.make(.add(bob.publicKey, .member), by: founder)
        #expect(chain.devices(of: bob.publicKey) == [bob.publicKey] && chain.leaves[bob.publicKey] == 5)
        #expect(try MembershipChain.verify(chain.entries).leaves == chain.leaves)
    }

    @Test("device entries carry role 0; any other role byte is malformed")
    func deviceEntryEncoding() throws {
        var chain = MembershipChain(founder: founder)
        let entry = try chain.make(.addDevice(Ed25519.PrivateKey().publicKey), by: founder)
        var bytes = entry.encoded()
        #expect(bytes.count == MembershipEntry.encodedByteCount && bytes[72] == 4 && bytes[105] == 0)
        bytes[105] = 1
        #expect(throws: GroupError.self) { try MembershipEntry(encoded: bytes) }
        bytes[72] = 5
        #expect(throws: GroupError.self) { try MembershipEntry(encoded: bytes) }
        bytes[105] = 0
        #expect(try MembershipEntry(encoded: bytes).action == .removeDevice(entry.actionFields.subject))
    }
}
