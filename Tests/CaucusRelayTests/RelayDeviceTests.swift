import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// Device chains on a real relay (Protocol.md §2.2, §7.8): published and fetched over the wire,
/// checked entry by entry, refusing revoked devices at once, and one rate for all of an identity's
/// devices.
@Suite("Relay: device chains", .timeLimit(.minutes(10)))
struct RelayDeviceTests {
    let identity = Ed25519.PrivateKey()

    func proof(_ device: Ed25519.PrivateKey) -> Ed25519.Signature {
        device.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: device.publicKey))
    }

    @Test("A chain published over the wire comes back entry for entry, and verifies; a bad one is refused and changes nothing")
    func publishAndFetch() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let laptop = Ed25519.PrivateKey(), stranger = Device()
        var chain = DeviceChain(identity: identity, signedAt: 1_780_000_000)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 1_780_000_100)
        let client = try await relay.connect(identity)
        #expect(try await client.publishDevices(chain.entries) == 2)
        let reader = try await relay.connect(stranger.key)
        let fetched = try await reader.fetchDevices(identity: identity.publicKey)
        #expect(try DeviceChain.verify(encoded: fetched) == chain)
        #expect(try await reader.fetchDevices(identity: stranger.key.publicKey).isEmpty)

        // A relay-side forger cannot swap a device: the identity's signature covers it.
        var forged = chain.entries
        let last = forged[1]
        forged[1] = DeviceEntry(identity: last.identity, sequence: last.sequence, previous: last.previous, action: .add,
                                device: stranger.key.publicKey, kind: .computer, signedAt: last.signedAt,
                                deviceSignature: last.deviceSignature, signature: last.signature)
        let badSignature = await relayError { _ = try await reader.publishDevices(forged) }
        #expect(badSignature?.code == .badSignature, "\(String(describing: badSignature))")
        let empty = await relayError { _ = try await reader.publishDevices([]) }
        #expect(empty?.code == .invalidArgument, "\(String(describing: empty))")
        let malformed = await relayError {
            _ = try await reader.request(.publishDevices(WirePublishDevices.with { $0.entries = [Data([1, 2, 3])] }))
        }
        #expect(malformed?.code == .invalidArgument && malformed?.message.contains("malformed device entry") == true,
                "\(String(describing: malformed))")
        // A stale copy (the first entry alone) is not an extension of what the relay holds.
        let stale = await relayError { _ = try await reader.publishDevices(Array(chain.entries.prefix(1))) }
        #expect(stale?.code == .conflict, "\(String(describing: stale))")
        #expect(try DeviceChain.verify(encoded: try await reader.fetchDevices(identity: identity.publicKey)) == chain)
        await client.close()
        await reader.close()
    }

    /// The identity's first device connected, having published a chain that adds `laptop`; and the
    /// laptop connected.
    func connectedPair(_ relay: TestRelay, laptop: Ed25519.PrivateKey) async throws -> (DeviceChain, home: RelayClient, laptop: RelayClient) {
        var chain = DeviceChain(identity: identity, signedAt: 1)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 2)
        let home = try await relay.connect(identity)
        _ = try await home.publishDevices(chain.entries)
        return (chain, home, try await relay.connect(laptop))
    }

    @Test("A recovery box is kept for an active paper key of the sender's identity, given only to that paper key, and gone once it is revoked")
    func recoveryBoxes() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let laptop = Ed25519.PrivateKey(), paper = Ed25519.PrivateKey(), stranger = Ed25519.PrivateKey()
        var (chain, home, laptopClient) = try await connectedPair(relay, laptop: laptop)
        // Not a paper key yet: the laptop, and a key no chain lists.
        for key in [laptop.publicKey, paper.publicKey] {
            let refused = await relayError { try await home.putRecoveryBox(paperKey: key, sealed: [1, 2, 3]) }
            #expect(refused?.code == .forbidden, "\(String(describing: refused))")
        }
        _ = try chain.add(paper.publicKey, kind: .paper, deviceSignature: proof(paper), by: identity, signedAt: 3)
        _ = try await home.publishDevices(chain.entries)
        // Any device of the identity keeps it; the last one kept counts.
        try await home.putRecoveryBox(paperKey: paper.publicKey, sealed: [1, 2, 3])
        try await laptopClient.putRecoveryBox(paperKey: paper.publicKey, sealed: Array(repeating: 7, count: RelayProtocol.maxRecoveryBoxBytes))
        let tooLarge = await relayError {
            try await home.putRecoveryBox(paperKey: paper.publicKey, sealed: Array(repeating: 7, count: RelayProtocol.maxRecoveryBoxBytes + 1))
        }
        #expect(tooLarge?.code == .payloadTooLarge, "\(String(describing: tooLarge))")
        let empty = await relayError { try await home.putRecoveryBox(paperKey: paper.publicKey, sealed: []) }
        #expect(empty?.code == .invalidArgument, "\(String(describing: empty))")
        // Another identity cannot replace it.
        let other = try await relay.connect(stranger)
        let foreign = await relayError { try await other.putRecoveryBox(paperKey: paper.publicKey, sealed: [9]) }
        #expect(foreign?.code == .forbidden, "\(String(describing: foreign))")
        // Only the paper key itself fetches it.
        for client in [home, laptopClient, other] {
            let refused = await relayError { _ = try await client.recoveryBox() }
            #expect(refused?.code == .forbidden, "\(String(describing: refused))")
        }
        let paperClient = try await relay.connect(paper)
        #expect(try await paperClient.recoveryBox() == Array(repeating: 7, count: RelayProtocol.maxRecoveryBoxBytes))
        await paperClient.close()
        // Revoked, the paper key is refused, and its box is gone from the store.
        _ = try chain.revoke(paper.publicKey, by: identity, signedAt: 4)
        _ = try await home.publishDevices(chain.entries)
        let refusal = await relayError { _ = try await relay.connect(paper) }
        #expect(refusal?.code == .forbidden, "\(String(describing: refusal))")
        #expect(try await relay.store.recoveryBox(paperKey: Data(paper.publicKey.rawRepresentation)) == nil)
        for client in [home, laptopClient, other] { await client.close() }
    }

    @Test("A revoked device's open connection is told and closed, its login refused, and messages to it are not stored")
    func revokedDevice() async throws {
        let relay = try await TestRelay.start { $0.banCheckSeconds = 0.2 }
        defer { Task { await relay.stop() } }
        let laptop = Ed25519.PrivateKey()
        var (chain, home, stolen) = try await connectedPair(relay, laptop: laptop)
        try await stolen.send(Data("still certified".utf8), to: [Data(identity.publicKey.rawRepresentation)])

        _ = try chain.revoke(laptop.publicKey, by: identity, signedAt: 3)
        #expect(try await home.publishDevices(chain.entries) == 3)
        let pushed = try await stolen.nextPushedError(timeout: .seconds(30))
        #expect(pushed.code == .forbidden && pushed.message == "this device was revoked by its owner", "\(pushed)")
        try await eventually("the revoked device's connection to close") { !stolen.isOpen }
        let refusal = await relayError { _ = try await relay.connect(laptop) }
        #expect(refusal?.code == .forbidden && refusal?.message == "this device was revoked by its owner", "\(String(describing: refusal))")
        let accepted = try await home.send(Data("after revocation".utf8), to: [Data(laptop.publicKey.rawRepresentation)])
        #expect(accepted.recipients == 0)
        await home.close()
    }

    @Test("A revocation published to one relay closes the device's connection on another relay sharing the store")
    func revokedElsewhere() async throws {
        let relay = try await TestRelay.start { $0.banCheckSeconds = 0.2 }
        defer { Task { await relay.stop() } }
        let laptop = Ed25519.PrivateKey()
        var (chain, home, stolen) = try await connectedPair(relay, laptop: laptop)
        _ = try chain.revoke(laptop.publicKey, by: identity, signedAt: 3)
        // Written to the store behind the relay's back, as another instance on the same store would.
        _ = try await relay.store.publishDevices(PublishedDeviceChain(chain))
        let pushed = try await stolen.nextPushedError(timeout: .seconds(30))
        #expect(pushed.code == .forbidden, "\(pushed)")
        try await eventually("the revoked device's connection to close") { !stolen.isOpen }
        await home.close()
    }

    @Test("All the devices of one identity share one rate limit; another identity has its own")
    func ratePerIdentity() async throws {
        let relay = try await TestRelay.start { $0.rateLimitPerSecond = 0.001; $0.rateLimitBurst = 4 }
        defer { Task { await relay.stop() } }
        let laptop = Ed25519.PrivateKey(), other = Device()
        var chain = DeviceChain(identity: identity, signedAt: 1)
        _ = try chain.add(laptop.publicKey, kind: .computer, deviceSignature: proof(laptop), by: identity, signedAt: 2)
        let home = try await relay.connect(identity)
        _ = try await home.publishDevices(chain.entries)       // 1
        let ping = Data(Random.bytes(16))
        try await home.send(ping, to: [other.id])              // 2
        let second = try await relay.connect(laptop)
        try await second.send(ping, to: [other.id])            // 3
        try await second.send(ping, to: [other.id])            // 4: the identity's last token
        let limited = await relayError { try await home.send(ping, to: [other.id]) }
        #expect(limited?.code == .rateLimited, "\(String(describing: limited))")
        let stranger = try await relay.connect(other.key)
        try await stranger.send(ping, to: [Data(identity.publicKey.rawRepresentation)])
        await home.close()
        await second.close()
        await stranger.close()
    }
}
