import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// KEM prekeys over the wire (Protocol.md §7.5): a real relay on a loopback port, real clients.
@Suite("Relay: KEM prekeys", .timeLimit(.minutes(10)))
struct RelayKEMPrekeyTests {
    /// Opaque bytes of a KEM prekey; clients send 1,252 (§7.5), the relay checks only the size.
    private static func kem(_ count: Int = 1_252) -> Data { Data(Random.bytes(count)) }

    @Test("One-time KEM prekeys go out oldest first, once each, then the last-resort one; Authenticated and PrekeysLow carry their count, and a device without them is not warned for them")
    func fetchesAndWarnings() async throws {
        let relay = try await TestRelay.start()
        let owner = Device(), fetcher = Device()
        let o = try await relay.connect(owner.key)
        let f = try await relay.connect(fetcher.key)
        let signed = Data(Random.bytes(100))
        let oneTime = (1...40).map { OneTimePrekeyUpload(id: UInt32($0), publicKey: Data(Random.bytes(32))) }
        #expect(try await o.publishPrekeys(signedPrekey: signed, oneTime: oneTime)
                == PublishedPrekeyCounts(oneTime: 40, kemOneTime: 0))
        // A device that publishes no KEM prekeys: bundles without one, as before.
        for index in 0..<3 {
            let bundle = try await f.fetchPrekeys(owner: DeviceKey(owner.id))
            #expect(bundle.oneTimePrekey == oneTime[index] && bundle.signedPrekey == signed)
            #expect(bundle.kemPrekey == nil && !bundle.kemPrekeyIsOneTime)
        }

        let lastResort = Self.kem(), kems = (0..<11).map { _ in Self.kem() }
        #expect(try await o.publishPrekeys(signedPrekey: Data(), oneTime: [], kemLastResort: lastResort, kemOneTime: kems)
                == PublishedPrekeyCounts(oneTime: 37, kemOneTime: 11))
        var handedOut: [Data] = []
        for _ in 0..<2 {
            let bundle = try await f.fetchPrekeys(owner: DeviceKey(owner.id))
            #expect(bundle.kemPrekeyIsOneTime && bundle.signedPrekey == signed)
            handedOut.append(try #require(bundle.kemPrekey))
        }
        // The first warning is the second KEM fetch's (9 left): none came for the fetches before
        // (no KEM prekey published, then 10 left), or it would be the first to arrive.
        let low = try await o.nextPrekeysLow()
        #expect(low.remaining == 35 && low.kemRemaining == 9)

        let again = try await relay.connect(owner.key)
        #expect(again.oneTimePrekeysAtLogin == 35 && again.kemOneTimePrekeysAtLogin == 9)
        for _ in 0..<9 {
            let bundle = try await f.fetchPrekeys(owner: DeviceKey(owner.id))
            #expect(bundle.kemPrekeyIsOneTime)
            handedOut.append(try #require(bundle.kemPrekey))
        }
        #expect(handedOut == kems)
        for _ in 0..<2 {
            let bundle = try await f.fetchPrekeys(owner: DeviceKey(owner.id))
            #expect(bundle.kemPrekey == lastResort && !bundle.kemPrekeyIsOneTime && bundle.signedPrekey == signed)
        }
        #expect(try await relay.store.prekeyCounts(owner: owner.id) == PrekeyCounts(oneTime: 24, kemOneTime: 0))
        await again.close(); await f.close(); await o.close()
        await relay.stop()
    }

    @Test("PublishPrekeys refuses KEM prekeys by §7.5's checks, in their order, and a refused request stores nothing")
    func refusals() async throws {
        let relay = try await TestRelay.start { $0.storeLimits.maxOneTimePrekeys = 20 }
        let owner = Device()
        let o = try await relay.connect(owner.key)
        let signed = Data(Random.bytes(100)), lastResort = Self.kem(2_048)
        func oneTime(_ count: Int) -> [OneTimePrekeyUpload] {
            (0..<count).map { _ in OneTimePrekeyUpload(id: UInt32.random(in: 1...UInt32.max), publicKey: Data(Random.bytes(32))) }
        }
        // 2,048 bytes is the largest KEM prekey taken, last-resort or one-time.
        #expect(try await o.publishPrekeys(signedPrekey: signed, oneTime: oneTime(20), kemLastResort: lastResort,
                                           kemOneTime: [Self.kem(2_048)] + (0..<9).map { _ in Self.kem() })
                == PublishedPrekeyCounts(oneTime: 20, kemOneTime: 10))

        let refusals: [(String, WireErrorCode, kemLastResort: Data?, kemOneTime: [Data], oneTime: Int)] = [
            ("a last-resort KEM prekey of 2,049 bytes", .payloadTooLarge, Self.kem(2_049), [Self.kem()], 0),
            ("an empty one-time KEM prekey", .invalidArgument, Self.kem(), [Self.kem(), Data()], 0),
            ("a one-time KEM prekey of 2,049 bytes", .payloadTooLarge, Self.kem(), [Self.kem(), Self.kem(2_049)], 0),
            ("101 one-time KEM prekeys", .invalidArgument, Self.kem(), (0..<101).map { _ in Self.kem() }, 0),
            ("91 one-time KEM prekeys more than the 10 held", .quotaExceeded, Self.kem(), (0..<91).map { _ in Self.kem() }, 0),
            // The order of the checks: each refusal is the first failing one.
            ("a one-time prekey above its quota, with a last-resort KEM prekey too large", .quotaExceeded,
             Self.kem(2_049), [Self.kem()], 1),
            ("a last-resort KEM prekey too large, with an empty one-time one", .payloadTooLarge, Self.kem(2_049), [Data()], 0),
            ("101 one-time KEM prekeys, one too large", .payloadTooLarge, Self.kem(), (0..<100).map { _ in Self.kem() } + [Self.kem(2_049)], 0),
            ("101 one-time KEM prekeys, above the quota too", .invalidArgument, nil, (0..<101).map { _ in Self.kem() }, 0),
        ]
        for (what, code, kemLastResort, kemOneTime, extra) in refusals {
            let refused = await relayError {
                _ = try await o.publishPrekeys(signedPrekey: Data(Random.bytes(100)), oneTime: oneTime(extra),
                                               kemLastResort: kemLastResort, kemOneTime: kemOneTime)
            }
            #expect(refused?.code == code, "\(what): \(String(describing: refused))")
            #expect(try await relay.store.prekeyCounts(owner: owner.id) == PrekeyCounts(oneTime: 20, kemOneTime: 10), "\(what)")
        }
        // Neither the refused signed prekeys nor the refused last-resort KEM prekeys were kept.
        var last: PrekeyBundleRecord?
        for _ in 0..<11 { last = try await relay.store.takePrekeyBundle(owner: owner.id) }
        #expect(last?.signedPrekey == signed && last?.kemPrekey == lastResort && last?.kemPrekeyIsOneTime == false)
        await o.close()
        await relay.stop()
    }
}
