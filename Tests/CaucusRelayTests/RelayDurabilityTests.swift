import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import CaucusTestSupport
import Foundation
import Testing

/// Ids collected by concurrent tasks.
final class IDSet: Sendable {
    private let ids = Locked<Set<Data>>([])
    func insert(_ id: Data) { ids.withLock { _ = $0.insert(id) } }
    var count: Int { ids.withLock { $0.count } }
    var all: Set<Data> { ids.withLock { $0 } }
}

/// The first error any of several concurrent tasks met.
final class FirstFailure: Sendable {
    private let first = Locked<String?>(nil)
    func record(_ error: any Error) { first.withLock { $0 = $0 ?? "\(error)" } }
    var text: String? { first.withLock { $0 } }
}

@Suite("Relay: durability across SIGKILL", .serialized, .timeLimit(.minutes(10)))
struct RelayDurabilityTests {
    @Test("Every message acknowledged to a sender before SIGKILL is delivered exactly once after restart")
    func killUnderLoad() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let bob = Device()
        var relay = try await RelayProcess.start(dataDirectory: directory.path)

        // Four senders push messages as fast as the relay acknowledges them, until the kill.
        let acknowledged = IDSet()
        let firstFailure = FirstFailure()
        let url = relay.url
        let senders = try await withThrowingTaskGroup(of: RelayClient.self, returning: [RelayClient].self) { group in
            for _ in 0..<4 { group.addTask { try await RelayClient.connect(url: url, deviceKey: Device().key, timeout: processConnectTimeout) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for sender in senders {
                    for _ in 0..<4 {
                        group.addTask {
                            while true {
                                let id = newMessageID()
                                do {
                                    try await sender.send(Data(repeating: 0xAB, count: 1024), to: [bob.id], id: id)
                                    acknowledged.insert(id)
                                } catch {
                                    firstFailure.record(error)
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
        while acknowledged.count < 500 {
            // A send that fails before the kill stops its loop; say why rather than wait for the time limit.
            if let failure = firstFailure.text {
                load.cancel()
                Issue.record("a send failed before the relay was killed, after \(acknowledged.count) acknowledgements: \(failure)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        relay.kill()
        await load.value
        for sender in senders { await sender.close() }
        let sent = acknowledged.all
        #expect(sent.count >= 500)

        // Restart on the same file: the recipient gets each acknowledged message exactly once.
        relay = try await RelayProcess.start(dataDirectory: directory.path)
        var b = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, timeout: processConnectTimeout)
        let firstHalf = try await b.deliveries(sent.count / 2)
        let ackedIDs = firstHalf.map(\.messageID.data)
        for start in stride(from: 0, to: ackedIDs.count, by: 1000) {
            try await b.ack(Array(ackedIDs[start..<min(start + 1000, ackedIDs.count)]))
        }
        // Kill again after those acknowledgements; they must hold too.
        relay.kill()
        await b.close()
        relay = try await RelayProcess.start(dataDirectory: directory.path)
        b = try await RelayClient.open(url: relay.url, timeout: processConnectTimeout)
        try await b.hello()
        // Everything still pending arrives: the acknowledged ones not yet acked by Bob, plus any
        // whose commit landed just before the kill but whose reply never reached the sender.
        let pending = try await b.authenticate(deviceKey: bob.key).pendingMessages
        #expect(Int(pending) >= sent.count - firstHalf.count)
        let rest = try await b.deliveries(Int(pending), timeout: .seconds(60))
        let delivered = firstHalf.map(\.messageID.data) + rest.map(\.messageID.data)
        #expect(Set(delivered).count == delivered.count, "a message was delivered twice")
        #expect(sent.isSubset(of: Set(delivered)), "an acknowledged message was lost")
        // Only messages that some sender got as far as sending can appear, none acked earlier twice.
        #expect(Set(rest.map(\.messageID.data)).isDisjoint(with: Set(ackedIDs)))
        await b.close()
        #expect(try await relay.terminate() == 0)
    }

    @Test("A relay process a test started is killed when the test lets go of it, and holds none of the test's files")
    func relayProcessDoesNotOutliveItsTest() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        // A descriptor of the test process's own, not marked close-on-exec, as a runner's pipe may be.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        var pid: pid_t = 0
        do {
            let relay = try await RelayProcess.start(dataDirectory: directory.path)
            pid = relay.child.pid
            let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
            let targets = descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
            let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(ends[1])")
            #expect(!targets.contains(ours), "the relay inherited the test's pipe")
        }
        #expect(pid > 0)
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "caucus-relay \(pid) outlived the RelayProcess that started it")
    }
}
