import CaucusClient
import CaucusCrypto
import CaucusPayloads
@testable import CaucusFuzz
import Foundation
import Testing

/// Each fuzz target for a short, seeded run inside the normal suite, and every input a fuzzer
/// ever failed on (Regressions/TARGET/…) replayed. Serialized: one core at most, so the suite's
/// timing-sensitive tests (rate limits, 2-second timers) are not starved.
@Suite("Fuzz targets", .serialized)
struct FuzzTests {
    /// Mutated inputs per target in the suite: about a second for all of them in a debug build, so
    /// that the timing-sensitive tests running alongside are not slowed (libFuzzer does the rest).
    static let iterations: [String: Int] = [
        "keystore": 500, "relay-frames": 200, "session-message": 600, "group-message": 1_000, "membership-chain": 300,
        "group-welcome": 600, "evidence-bundle": 600, "prekey-bundle": 1_000, "group-state": 600,
    ]

    @Test("the seeds, made by the real encoders, pass", arguments: FuzzTargets.all.map(\.name))
    func seeds(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = target.seeds()
        #expect(!seeds.isEmpty)
        #expect(await Self.firstFailure(of: target, on: seeds) == nil)
    }

    @Test("seeded random mutations of the seeds break no property", arguments: FuzzTargets.all.map(\.name))
    func mutations(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        var mutator = Mutator(seeds: target.seeds(), seed: 0xCA0C05)
        let inputs = (0..<(Self.iterations[name] ?? 2_000)).map { _ in mutator.next() }
        if let (input, failure) = await Self.firstFailure(of: target, on: inputs) {
            Issue.record("\(name) failed on \(Hex.encode(input)): \(failure)")
        }
    }

    @Test("inputs that once failed are replayed", arguments: FuzzTargets.all.map(\.name))
    func regressions(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Regressions/\(name)")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let inputs = try files.sorted().map { try Array(Data(contentsOf: directory.appendingPathComponent($0))) }
        if let (input, failure) = await Self.firstFailure(of: target, on: inputs) {
            Issue.record("\(name) failed again on \(Hex.encode(input)): \(failure)")
        }
    }

    /// Checks `inputs` on a thread of its own: the relay target blocks while the relay works on
    /// Swift's cooperative threads, which a test must not hold.
    static func firstFailure(of target: FuzzTarget, on inputs: [[UInt8]]) async -> ([UInt8], FuzzFailure)? {
        await withCheckedContinuation { continuation in
            Thread {
                for input in inputs {
                    do throws(FuzzFailure) { try target.check(input) } catch {
                        continuation.resume(returning: (input, error))
                        return
                    }
                }
                continuation.resume(returning: nil)
            }.start()
        }
    }

    /// The seeds really reach each decoder (a target whose seeds all fail to decode fuzzes nothing).
    @Test("each target's seeds decode with the decoder it fuzzes")
    func seedsDecode() throws {
        func seeds(_ name: String) -> [[UInt8]] { FuzzTargets.named(name)!.seeds() }
        #expect(seeds("did").filter { DID(String(decoding: $0, as: UTF8.self)) != nil }.count == 3)
        for seed in seeds("invite") { _ = try InviteCode(parsing: String(decoding: seed, as: UTF8.self)) }
        for seed in seeds("keystore") { _ = try KeystoreFormat.parameters(of: seed) }
        for seed in seeds("payload") { _ = try Payload(decoding: seed) }
        for seed in seeds("membership-entry") { _ = try MembershipEntry(encoded: seed) }
        for seed in seeds("membership-chain") {
            let entries = try stride(from: 0, to: seed.count, by: 202).map { try MembershipEntry(encoded: Array(seed[$0..<($0 + 202)])) }
            #expect(try MembershipChain.verify(entries).entries.count == seed.count / 202)
        }
        for seed in seeds("group-welcome") { #expect((try? GroupWelcome(serialized: SecureBytes(copying: seed))) != nil || seed.count == 73) }
        for seed in seeds("unit-list") { _ = try UnitList(csv: String(decoding: seed, as: UTF8.self)) }
        for seed in seeds("evidence-bundle") { #expect(try EvidenceBundle(json: seed).verify().validCards == 2) }
        let cards = seeds("card-records")
        #expect(cards.filter { (try? CardItem(encoded: $0)) != nil }.count == 3)
        #expect(cards.filter { (try? Campaign(encoded: $0)) != nil }.count == 1)
        #expect(cards.filter { (try? CardReceipt(encoded: $0)) != nil }.count == 1)
        #expect(cards.filter { (try? RevocationReceipt(encoded: $0)) != nil }.count == 1)
        #expect(seeds("payload").count == 16)
        var member = GroupFixture.shared.member
        for message in GroupFixture.shared.messages { _ = try member.decrypt(message) }
        for seed in seeds("group-state") {
            let state = try #require(GroupStateParts(framed: seed)?.decoded())
            #expect(state.chainIDs.count == 1 && state.seenPageCount == 1)
        }
        var responder = SessionFixture.shared.responder
        for message in SessionFixture.shared.messages.dropFirst() { _ = try responder.decrypt(message) }
    }

    @Test("the mutator is deterministic and changes its inputs")
    func mutator() {
        var a = Mutator(seeds: [Array(0..<64)], seed: 7), b = Mutator(seeds: [Array(0..<64)], seed: 7)
        let first = (0..<100).map { _ in a.next() }
        #expect(first == (0..<100).map { _ in b.next() })
        #expect(first.filter { $0 != Array(0..<64) }.count > 90)
    }
}
