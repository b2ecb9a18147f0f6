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
}
