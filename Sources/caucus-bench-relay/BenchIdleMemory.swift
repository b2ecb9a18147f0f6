// Part 2: resident memory per idle authenticated connection: first with client and relay in this
// process (both ends together), then against the caucus-relay daemon in its own process (the
// relay alone), when it is built next to this program.
import CaucusCrypto
import CaucusRelay
import CaucusRelayClient
import CaucusTestSupport
import Foundation

struct IdleMemoryResult: Codable, Sendable {
    var connections: Int
    var residentBeforeKiB: Int
    var residentAfterKiB: Int
    /// (after - before) / connections: client + relay (both ends in this one process).
    var clientPlusRelayKiBPerConnection: Double
    var connectSeconds: Double
    /// Whether free allocator pages were returned to the system before the first reading.
    var allocatorTrimmed: Bool
    /// The caucus-relay daemon's own VmRSS growth per connection, when it could be run.
    var daemonResidentBeforeKiB: Int?
    var daemonResidentAfterKiB: Int?
    var relayOnlyKiBPerConnection: Double?
    var daemonNote: String?
}

/// The caucus-relay daemon in its own process, listening on 127.0.0.1 with its SQLite store in
/// `directory`. Nil when the executable is not built next to this program.
final class RelayDaemon {
    let process: Process
    let port: Int

    static func start(directory: URL) throws -> RelayDaemon? {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let executable = me.deletingLastPathComponent().appendingPathComponent("caucus-relay")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else { return nil }
        let data = directory.appendingPathComponent("daemon-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--data-dir", data.path,
                             "--log-level", "warning", "--max-connections", "100000",
                             "--rate-limit", "1000000", "--rate-burst", "1000000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let port = try RelayServer.readListeningPort(from: output.fileHandleForReading)
        return RelayDaemon(process: process, port: port)
    }

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    var url: String { "ws://127.0.0.1:\(port)" }
    var resident: Int? { residentKiB(process: "\(process.processIdentifier)") }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

func runIdleMemory(connections: Int, directory: URL) async throws -> IdleMemoryResult {
    progress("idle memory: \(connections) idle authenticated connections")
    let relay = try await RelayUnderTest.start(directory: directory, name: "idle")
    let keys = makeKeys(connections)
    // Warm up: the first connections pay for event loop threads, caches and pools that the
    // following ones share; keep that out of the per-connection figure.
    let warm = try await connectAll(url: relay.url, keys: makeKeys(min(32, connections)))
    await closeAll(warm)
    try await Task.sleep(for: .milliseconds(500))
    let trimmed = trimAllocator()

    guard let before = residentKiB() else {
        await relay.stop()
        throw BenchError("no /proc/self/status: VmRSS cannot be read on this system")
    }
    let start = monotonicNanos()
    let clients = try await connectAll(url: relay.url, keys: keys)
    let connectSeconds = seconds(from: start, to: monotonicNanos())
    // Let the handshakes' transient buffers go before reading.
    try await Task.sleep(for: .seconds(1))
    let after = residentKiB() ?? before
    let stillOpen = clients.filter(\.isOpen).count
    await closeAll(clients)
    await relay.stop()
    guard stillOpen == connections else {
        throw BenchError("only \(stillOpen) of \(connections) idle connections stayed open")
    }
    var result = IdleMemoryResult(connections: connections, residentBeforeKiB: before, residentAfterKiB: after,
                                  clientPlusRelayKiBPerConnection: Double(after - before) / Double(connections),
                                  connectSeconds: connectSeconds, allocatorTrimmed: trimmed)

    // The relay alone: the daemon's VmRSS before and after the same number of idle connections.
    guard let daemon = try RelayDaemon.start(directory: directory) else {
        result.daemonNote = "caucus-relay is not built next to this program (scripts/bench-relay builds it)"
        return result
    }
    defer { daemon.stop() }
    let warmDaemon = try await connectAll(url: daemon.url, keys: makeKeys(min(32, connections)))
    await closeAll(warmDaemon)
    try await Task.sleep(for: .milliseconds(500))
    guard let daemonBefore = daemon.resident else {
        result.daemonNote = "the daemon's VmRSS could not be read"
        return result
    }
    let daemonClients = try await connectAll(url: daemon.url, keys: makeKeys(connections))
    try await Task.sleep(for: .seconds(1))
    let daemonAfter = daemon.resident ?? daemonBefore
    let daemonOpen = daemonClients.filter(\.isOpen).count
    await closeAll(daemonClients)
    guard daemonOpen == connections else {
        throw BenchError("only \(daemonOpen) of \(connections) idle connections to the daemon stayed open")
    }
    result.daemonResidentBeforeKiB = daemonBefore
    result.daemonResidentAfterKiB = daemonAfter
    result.relayOnlyKiBPerConnection = Double(daemonAfter - daemonBefore) / Double(connections)
    return result
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
