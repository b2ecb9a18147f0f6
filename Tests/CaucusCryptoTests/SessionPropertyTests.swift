import PropertyBased
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// A hostile network between Alice and Bob, driven by a generated schedule of actions.
struct LossyNetwork {
    struct Packet { let id: Int; let toBob: Bool; let bytes: [UInt8] }

    let pair = Pair()
    var alice: Session
    var bob: Session?
    var inFlight: [Packet] = []
    var nextID = 0
    var sent: [Int: Bool] = [:]          // id -> sent to Bob
    var dropped: Set<Int> = []
    var decrypted: Set<Int> = []
    var duplicatesRefused = 0

    init() throws { alice = try Session.initiate(identity: pair.alice, bundle: pair.bundle) }

    mutating func send(fromAlice: Bool) {
        if !fromAlice && bob == nil { return }
        let id = nextID
        nextID += 1
        let bytes = fromAlice ? alice.encrypt(text("\(id)")) : bob!.encrypt(text("\(id)"))
        sent[id] = fromAlice
        inFlight.append(Packet(id: id, toBob: fromAlice, bytes: bytes))
    }

    mutating func deliver(_ index: Int) throws {
        let packet = inFlight.remove(at: index)
        do {
            let result: DecryptedMessage
            if packet.toBob {
                if bob == nil {
                    let (session, first) = try pair.accept(packet.bytes)
                    bob = session
                    result = first
                } else {
                    result = try bob!.decrypt(packet.bytes)
                }
            } else {
                result = try alice.decrypt(packet.bytes)
            }
            #expect(result.plaintext == text("\(packet.id)"), "wrong plaintext")
            let (inserted, _) = decrypted.insert(packet.id)
            #expect(inserted, "message \(packet.id) decrypted twice")
        } catch SessionError.duplicate {
            #expect(decrypted.contains(packet.id), "a fresh message was called a duplicate")
            duplicatesRefused += 1
        }
    }

    /// Runs one action chosen by `roll` (0...99).
    mutating func step(_ roll: Int) throws {
        switch roll {
        case 0..<30: send(fromAlice: true)
        case 30..<55: send(fromAlice: false)
        case 55..<80 where !inFlight.isEmpty: try deliver(roll % inFlight.count)
        case 80..<90 where !inFlight.isEmpty: inFlight.append(inFlight[roll % inFlight.count])   // duplicate
        case 90..<95 where !inFlight.isEmpty: dropped.insert(inFlight.remove(at: roll % inFlight.count).id)
        case 95..<100 where inFlight.count > 1: inFlight.swapAt(0, roll % inFlight.count)        // reorder
        default: break
        }
    }
}

@Suite("One-to-one sessions under loss, duplication and reordering")
struct SessionPropertyTests {
    @Test("every message that is not dropped is decrypted exactly once, whatever the schedule")
    func converges() async {
        await propertyCheck(count: 60, input: Gen.int(in: 0...99).array(of: 10...300)) { schedule in
            do {
                var net = try LossyNetwork()
                for roll in schedule { try net.step(roll) }
                // Drain: deliver everything still in flight, newest first, to reorder once more.
                while !net.inFlight.isEmpty { try net.deliver(net.inFlight.count - 1) }
                let expected = Set(net.sent.keys).subtracting(net.dropped)
                // Dropped packets may have had duplicates that got through; those count as delivered.
                #expect(expected.isSubset(of: net.decrypted))
                #expect(net.decrypted.isSubset(of: Set(net.sent.keys)))
                // And the two can still talk afterwards, both ways.
                if var bob = net.bob {
                    var alice = net.alice
                    #expect(try bob.decrypt(alice.encrypt(text("still here"))).plaintext == text("still here"))
                    #expect(try alice.decrypt(bob.encrypt(text("me too"))).plaintext == text("me too"))
                }
            } catch {
                Issue.record("schedule failed: \(error)")
            }
        }
    }
}
