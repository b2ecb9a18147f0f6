import Testing
@testable import CaucusIdentity

@Suite("Device chain (Protocol.md §2.2)")
struct DeviceChainTests {
    let identity = Ed25519.PrivateKey()
    let laptop = Ed25519.PrivateKey()
    let paper = Ed25519.PrivateKey()

    func proof(_ device: Ed25519.PrivateKey, for identity: Ed25519.PrivateKey? = nil) -> Ed25519.Signature {
        device.signature(for: DeviceEntry.deviceStatement(identity: (identity ?? self.identity).publicKey, device: device.publicKey))
    }

    /// The identity's first device (its own key), a laptop, a paper key; then the first device revoked.
    func history() throws -> DeviceChain {
        var chain = DeviceChain(identity: identity, signedAt: 1_780_000_000)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 1_780_000_100)
        _ = try chain.add(paper.publicKey, kind: .paper, deviceSignature: proof(paper), by: identity, signedAt: 1_780_000_200)
        _ = try chain.revoke(identity.publicKey, by: identity, signedAt: 1_780_000_300)
        return chain
    }

    @Test("a history verifies, from entries and from their encodings, to the same devices")
    func verifies() throws {
        let chain = try history()
        let copy = try DeviceChain.verify(encoded: chain.entries.map { $0.encoded() })
        #expect(copy == chain)
        #expect(copy.activeDevices().map(\.key) == [laptop.publicKey, paper.publicKey])
        #expect(copy.activeDevices(.computer).map(\.key) == [laptop.publicKey])
        #expect(copy.device(identity.publicKey)?.revokedIn == 3 && !copy.certifies(identity.publicKey))
        #expect(chain.entries.map { $0.encoded().count } == [242, 242, 242, 178])
    }

    @Test("a relay or a stranger cannot change an entry: every field is under the identity's signature")
    func tampering() throws {
        let full = try history()
        var chain = try DeviceChain.verify(Array(full.entries.prefix(2)))
        let next = full.entries[2]
        let swapped = DeviceEntry(identity: next.identity, sequence: next.sequence, previous: next.previous, action: next.action,
                                  device: next.device, kind: .computer, signedAt: next.signedAt, deviceSignature: next.deviceSignature,
                                  signature: next.signature)
        #expect(throws: DeviceChainError.badSignature(sequence: 2)) { try chain.append(swapped) }
        #expect(throws: DeviceChainError.replay(sequence: 1)) { try chain.append(full.entries[1]) }
        #expect(throws: DeviceChainError.gap(expected: 2, got: 3)) { try chain.append(full.entries[3]) }
        let unlinked = DeviceEntry(identity: identity, sequence: 2, previous: full.entries[0].hash, action: .add, device: paper.publicKey,
                                   kind: .paper, signedAt: 1, deviceSignature: proof(paper))
        #expect(throws: DeviceChainError.brokenLink(sequence: 2)) { try chain.append(unlinked) }
        let stranger = Ed25519.PrivateKey()
        let bySomeoneElse = DeviceEntry(identity: stranger, sequence: 2, previous: chain.head, action: .add, device: paper.publicKey,
                                        kind: .paper, signedAt: 1, deviceSignature: proof(paper, for: stranger))
        #expect(throws: DeviceChainError.wrongIdentity) { try chain.append(bySomeoneElse) }
        #expect(chain.entries.count == 2 && chain.head == full.entries[1].hash)
    }

    @Test("a chain read back from a client's sealed store gives the same devices without checking signatures, and still its links and rules")
    func restore() throws {
        let chain = try history()
        let encoded = chain.entries.map { $0.encoded() }
        #expect(try DeviceChain.restore(encoded: encoded) == chain)
        // Links and rules still hold: an entry left out breaks the chain.
        #expect(throws: DeviceChainError.gap(expected: 1, got: 2)) { try DeviceChain.restore(encoded: [encoded[0], encoded[2]]) }
        #expect(throws: DeviceChainError.badStart) { try DeviceChain.restore(encoded: []) }
    }

    @Test("a fork at a sequence the chain has is told apart from a replay")
    func fork() throws {
        let full = try history()
        var chain = try DeviceChain.verify(Array(full.entries.prefix(3)))
        let other = DeviceEntry(identity: identity, sequence: 2, previous: full.entries[1].hash, action: .revoke, device: laptop.publicKey,
                                kind: .computer, signedAt: 5, deviceSignature: nil)
        #expect(throws: DeviceChainError.fork(sequence: 2)) { try chain.append(other) }
    }

    @Test("a device must sign its own addition, for this identity: nobody can claim another's key")
    func proofOfPossession() throws {
        var chain = DeviceChain(identity: identity, signedAt: 1)
        let thief = Ed25519.PrivateKey()
        // The thief's identity lists the laptop's key with a signature the laptop never made for it.
        #expect(throws: DeviceChainError.badDeviceSignature(sequence: 1)) {
            _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(thief), by: identity, signedAt: 2)
        }
        // A real proof the laptop made for another identity does not transfer.
        #expect(throws: DeviceChainError.badDeviceSignature(sequence: 1)) {
            _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop, for: thief), by: identity, signedAt: 2)
        }
        #expect(chain.entries.count == 1)
    }

    @Test("changes that make no sense are refused: re-adding, revoking twice, the last device, the identity key later")
    func invalidChanges() throws {
        var chain = DeviceChain(identity: identity, signedAt: 1)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 2)
        _ = try chain.revoke(laptop.publicKey, by: identity, signedAt: 3)
        #expect(throws: DeviceChainError.invalidChange(sequence: 3, "the device is already listed (a revoked device never returns)")) {
            _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 4)
        }
        #expect(throws: DeviceChainError.invalidChange(sequence: 3, "the device is not active")) {
            _ = try chain.revoke(laptop.publicKey, by: identity, signedAt: 4)
        }
        #expect(throws: DeviceChainError.invalidChange(sequence: 3, "the identity would have no device left")) {
            _ = try chain.revoke(identity.publicKey, by: identity, signedAt: 4)
        }
        let wrongKind = DeviceEntry(identity: identity, sequence: 3, previous: chain.head, action: .revoke, device: identity.publicKey,
                                    kind: .paper, signedAt: 4, deviceSignature: nil)
        #expect(throws: DeviceChainError.invalidChange(sequence: 3, "the revocation names another kind of device")) {
            try chain.append(wrongKind)
        }
        // A chain that starts with another device may not list the identity key afterwards.
        let first = DeviceEntry(identity: identity, sequence: 0, previous: [UInt8](repeating: 0, count: 32), action: .add,
                                device: laptop.publicKey, kind: .computer, signedAt: 1, deviceSignature: proof(laptop))
        var other = try DeviceChain(first: first)
        #expect(throws: DeviceChainError.invalidChange(sequence: 1, "the identity key can only be the first device")) {
            _ = try other.add(identity.publicKey, kind: .computer, deviceSignature: proof(identity), by: identity, signedAt: 2)
        }
        #expect(chain.entries.count == 3 && other.entries.count == 1)
    }

    @Test("a chain must start with an add at sequence 0 linking to zeros")
    func badStart() throws {
        let full = try history()
        #expect(throws: DeviceChainError.badStart) { try DeviceChain.verify(Array(full.entries.dropFirst())) }
        #expect(throws: DeviceChainError.badStart) { try DeviceChain.verify([DeviceEntry]()) }
    }

    @Test("encodings of the wrong size, action, kind or shape are malformed")
    func malformed() throws {
        let full = try history()
        let add = full.entries[1].encoded(), revoke = full.entries[3].encoded()
        #expect(throws: DeviceChainError.self) { try DeviceEntry(encoded: Array(add.dropLast())) }
        var badAction = add
        badAction[72] = 3
        #expect(throws: DeviceChainError.malformed("unknown device action 3")) { try DeviceEntry(encoded: badAction) }
        var badKind = add
        badKind[105] = 0
        #expect(throws: DeviceChainError.malformed("unknown device kind 0")) { try DeviceEntry(encoded: badKind) }
        var revokeSized = revoke
        revokeSized[72] = 1
        #expect(throws: DeviceChainError.self) { try DeviceEntry(encoded: revokeSized) }
        #expect(try DeviceEntry(encoded: add) == full.entries[1] && DeviceEntry(encoded: revoke) == full.entries[3])
    }

    @Test("no chain is longer than 1,000 entries")
    func tooLong() throws {
        var chain = DeviceChain(identity: identity, signedAt: 1)
        var keys = [Ed25519.PrivateKey]()
        while chain.entries.count < DeviceEntry.maximumEntries {
            let device = Ed25519.PrivateKey()
            keys.append(device)
            _ = try chain.add(device.publicKey, kind: .computer, deviceSignature: proof(device), by: identity, signedAt: 2)
        }
        let one = Ed25519.PrivateKey()
        #expect(throws: DeviceChainError.tooLong) {
            _ = try chain.add(one.publicKey, kind: .computer, deviceSignature: proof(one), by: identity, signedAt: 3)
        }
        var entries = chain.entries
        entries.append(DeviceEntry(identity: identity, sequence: 1_000, previous: chain.head, action: .revoke, device: keys[0].publicKey,
                                   kind: .computer, signedAt: 3, deviceSignature: nil))
        #expect(throws: DeviceChainError.tooLong) { try DeviceChain.verify(entries) }
    }
}
