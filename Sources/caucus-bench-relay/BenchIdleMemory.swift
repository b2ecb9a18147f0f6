// Part 2: resident memory per idle authenticated connection. Client and relay share this
// process, so the figure is both ends of each connection together.
import CaucusCrypto
import CaucusRelayClient
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
    return IdleMemoryResult(connections: connections, residentBeforeKiB: before, residentAfterKiB: after,
                            clientPlusRelayKiBPerConnection: Double(after - before) / Double(connections),
                            connectSeconds: connectSeconds, allocatorTrimmed: trimmed)
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
