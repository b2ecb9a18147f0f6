import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// The `caucus-relay` executable as operators run it, in its own process.
final class RelayProcess: Sendable {
    let process: Process
    let port: Int
    var url: String { "ws://127.0.0.1:\(port)" }

    /// The built executable next to the test bundle (`swift build` builds both).
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["CAUCUS_RELAY_BIN"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("caucus-relay").path
    }

    static func start(dataDirectory: String, extra: [String] = []) throws -> RelayProcess {
        let executable = Self.executable
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw RelayClientError.connectionClosed("caucus-relay is not built at \(executable); run swift build first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--data-dir", dataDirectory,
                             "--rate-limit", "100000", "--rate-burst", "100000", "--log-level", "warning"] + extra
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let port = try RelayServer.readListeningPort(from: output.fileHandleForReading)
        return RelayProcess(process: process, port: port)
    }

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Ids collected by concurrent tasks.
final class IDSet: Sendable {
    private let ids = Locked<Set<Data>>([])
    func insert(_ id: Data) { ids.withLock { _ = $0.insert(id) } }
    var count: Int { ids.withLock { $0.count } }
    var all: Set<Data> { ids.withLock { $0 } }
}

@Suite("Relay: durability across SIGKILL", .serialized, .timeLimit(.minutes(2)))
struct RelayDurabilityTests {
    @Test("Every message acknowledged to a sender before SIGKILL is delivered exactly once after restart")
    func killUnderLoad() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let bob = Device()
        var relay = try RelayProcess.start(dataDirectory: directory.path)
        // After a failure: a relay left running keeps the test's output open, and `swift test` waits on it.
        defer { if relay.process.isRunning { relay.kill() } }

        // Four senders push messages as fast as the relay acknowledges them.
        let acknowledged = IDSet()
        let url = relay.url
        let senders = try await withThrowingTaskGroup(of: RelayClient.self, returning: [RelayClient].self) { group in
            for _ in 0..<4 { group.addTask { try await RelayClient.connect(url: url, deviceKey: Device().key) } }
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
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
        while acknowledged.count < 500 { try await Task.sleep(for: .milliseconds(20)) }
        relay.kill()
        await load.value
        for sender in senders { await sender.close() }
        let sent = acknowledged.all
        #expect(sent.count >= 500)

        // Restart on the same file: the recipient gets each acknowledged message exactly once.
        relay = try RelayProcess.start(dataDirectory: directory.path)
        var b = try await RelayClient.connect(url: relay.url, deviceKey: bob.key)
        let firstHalf = try await b.deliveries(sent.count / 2)
        let ackedIDs = firstHalf.map(\.messageID)
        for start in stride(from: 0, to: ackedIDs.count, by: 1000) {
            try await b.ack(Array(ackedIDs[start..<min(start + 1000, ackedIDs.count)]))
        }
        // Kill again after those acknowledgements; they must hold too.
        relay.kill()
        await b.close()
        relay = try RelayProcess.start(dataDirectory: directory.path)
        b = try await RelayClient.open(url: relay.url)
        try await b.hello()
        // Everything still pending arrives: the acknowledged ones not yet acked by Bob, plus any
        // whose commit landed just before the kill but whose reply never reached the sender.
        let pending = try await b.authenticate(deviceKey: bob.key).pendingMessages
        #expect(Int(pending) >= sent.count - firstHalf.count)
        let rest = try await b.deliveries(Int(pending), timeout: .seconds(60))
        let delivered = firstHalf.map(\.messageID) + rest.map(\.messageID)
        #expect(Set(delivered).count == delivered.count, "a message was delivered twice")
        #expect(sent.isSubset(of: Set(delivered)), "an acknowledged message was lost")
        // Only messages that some sender got as far as sending can appear, none acked earlier twice.
        #expect(Set(rest.map(\.messageID)).isDisjoint(with: Set(ackedIDs)))
        await b.close()
        #expect(relay.terminate() == 0)
    }
}
