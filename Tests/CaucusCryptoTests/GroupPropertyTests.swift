import PropertyBased
import Testing
@testable import CaucusCrypto
@testable import CaucusIdentity

/// Three members and a hostile relay that delays, duplicates, drops and reorders group traffic.
struct GroupNetwork {
    struct Packet { let id: Int; let to: Int; let bytes: [UInt8] }

    var trio: Trio
    var inFlight: [Packet] = []
    var nextID = 0
    var droppedFor: [Int: Set<Int>] = [0: [], 1: [], 2: [], 3: []]
    var decryptedBy: [Int: Set<Int>] = [0: [], 1: [], 2: []]
    var sentBy: [Int: Int] = [:]

    init() throws { trio = try Trio() }

    mutating func send(from member: Int) throws {
        let id = nextID
        nextID += 1
        let bytes: [UInt8]
        switch member {
        case 0: bytes = try trio.f.encrypt(text("\(id)"), device: trio.founder)
        case 1: bytes = try trio.a.encrypt(text("\(id)"), device: trio.alice)
        default: bytes = try trio.b.encrypt(text("\(id)"), device: trio.bob)
        }
        sentBy[id] = member
        // The relay stores one copy and delivers it to every other member.
        for to in 0..<3 where to != member { inFlight.append(Packet(id: id, to: to, bytes: bytes)) }
    }

    mutating func deliver(_ index: Int) throws {
        let packet = inFlight.remove(at: index)
        do {
            let message: GroupMessage
            switch packet.to {
            case 0: message = try trio.f.decrypt(packet.bytes)
            case 1: message = try trio.a.decrypt(packet.bytes)
            default: message = try trio.b.decrypt(packet.bytes)
            }
            #expect(message.plaintext == text("\(packet.id)"))
            let firstTime = decryptedBy[packet.to, default: []].insert(packet.id).inserted
            #expect(firstTime, "decrypted twice")
        } catch GroupError.replay {
            let known = decryptedBy[packet.to, default: []].contains(packet.id)
            #expect(known, "fresh message called a replay")
        }
    }

    mutating func step(_ roll: Int) throws {
        switch roll {
        case 0..<40: try send(from: roll % 3)
        case 40..<75 where !inFlight.isEmpty: try deliver(roll % inFlight.count)
        case 75..<87 where !inFlight.isEmpty: inFlight.append(inFlight[roll % inFlight.count])
        case 87..<93 where !inFlight.isEmpty:
            let packet = inFlight.remove(at: roll % inFlight.count)
            droppedFor[packet.to, default: []].insert(packet.id)
        case 93..<100 where inFlight.count > 1: inFlight.swapAt(0, roll % inFlight.count)
        default: break
        }
    }
}

@Suite("Groups under loss, duplication and reordering")
struct GroupPropertyTests {
    @Test("every member decrypts every message not dropped on its way, exactly once")
    func converges() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...99).array(of: 10...250)) { schedule in
            do {
                var net = try GroupNetwork()
                for roll in schedule { try net.step(roll) }
                while !net.inFlight.isEmpty { try net.deliver(net.inFlight.count - 1) }
                for member in 0..<3 {
                    let expected = Set(net.sentBy.filter { $0.value != member }.keys).subtracting(net.droppedFor[member, default: []])
                    let decrypted = net.decryptedBy[member, default: []]
                    #expect(expected.isSubset(of: decrypted))
                }
            } catch {
                Issue.record("schedule failed: \(error)")
            }
        }
    }
}
