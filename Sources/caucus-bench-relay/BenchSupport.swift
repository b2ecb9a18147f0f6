// Shared pieces of the relay benchmark: the clock, process memory, the relay under test and
// opening many authenticated client connections.
import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on the monotonic clock. Relay and clients share the process, hence the clock.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func seconds(from start: UInt64, to end: UInt64) -> Double {
    end > start ? Double(end - start) / 1e9 : 0
}

/// Progress lines go to stderr, so that stdout holds only the table or the JSON.
func progress(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Hands the allocator's free pages back to the system (glibc `malloc_trim(0)`, looked up at run
/// time: the Glibc module does not export it), so that memory freed by earlier work and reused
/// by new allocations shows up in VmRSS again. Returns whether it ran.
@discardableResult
func trimAllocator() -> Bool {
    #if os(Linux)
    typealias MallocTrim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return false }
    _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    return true
    #else
    return false
    #endif
}

/// Raises the open-file limit to its hard maximum: each connection costs two descriptors here
/// (the client's socket and the relay's).
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    #if os(Linux)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return -1 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
}

/// The file system type holding `path` (the longest matching mount in /proc/self/mounts), so
/// the report says whether fsync reached a disk.
func fileSystemName(_ path: String) -> String {
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return "unknown" }
    var best: (mountPoint: String, type: String)?
    for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count >= 3 else { continue }
        let mountPoint = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
        let inside = mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
        if inside, mountPoint.count >= (best?.mountPoint.count ?? -1) { best = (mountPoint, String(fields[2])) }
    }
    guard let best else { return "unknown" }
    return best.type == "tmpfs" || best.type == "ramfs" ? "\(best.type): fsync costs nothing here" : best.type
}

/// A quiet logger: the relay's info lines would drown the report.
func benchLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// A relay on 127.0.0.1 (port 0) over its own SQLite file, configured so that its limits do
/// not shape the figures: rate limits, connection limit and mailbox size far above the load.
struct RelayUnderTest {
    let running: RunningRelay
    let store: SQLiteRelayStore
    let url: String

    /// The configuration of every relay the benchmark starts.
    static var configuration: RelayConfiguration {
        var configuration = RelayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.rateLimitPerSecond = 1e9
        configuration.rateLimitBurst = 1e9
        configuration.maxConnections = 1_000_000
        configuration.storeLimits.mailboxMessages = 100_000_000
        return configuration
    }

    static func start(directory: URL, name: String) async throws -> RelayUnderTest {
        let configuration = Self.configuration
        let path = directory.appendingPathComponent("\(name).sqlite").path
        let store = try SQLiteRelayStore(path: path, limits: configuration.storeLimits)
        let logger = benchLogger("caucus.bench.relay")
        let relay = Relay(configuration: configuration, store: store, logger: logger)
        let running = try await RelayServer(relay: relay, logger: logger).start()
        return RelayUnderTest(running: running, store: store, url: "ws://127.0.0.1:\(running.port)")
    }

    func stop() async {
        await running.stop()
        try? await store.close()
    }
}

/// Device keys, made up front so that key generation is outside every measurement.
func makeKeys(_ count: Int) -> [Ed25519.PrivateKey] {
    (0..<count).map { _ in Ed25519.PrivateKey() }
}

func publicKey(_ key: Ed25519.PrivateKey) -> Data { Data(key.publicKey.rawRepresentation) }

/// Opens and authenticates one connection per key, `parallel` handshakes at a time; the
/// clients come back in the order of the keys.
func connectAll(url: String, keys: [Ed25519.PrivateKey], parallel: Int = 64) async throws -> [RelayClient] {
    try await connectAll(urls: { _ in url }, keys: keys, parallel: parallel)
}

/// As `connectAll(url:keys:)`, key `i` dialling `urls(i)`.
func connectAll(urls: (Int) -> String, keys: [Ed25519.PrivateKey], parallel: Int = 64) async throws -> [RelayClient] {
    let logger = benchLogger("caucus.bench.client")
    return try await withThrowingTaskGroup(of: (Int, RelayClient).self) { group in
        var clients = [RelayClient?](repeating: nil, count: keys.count)
        var next = 0
        func add() {
            let index = next
            let key = keys[index]
            let url = urls(index)
            group.addTask { (index, try await RelayClient.connect(url: url, deviceKey: key, logger: logger)) }
            next += 1
        }
        while next < min(parallel, keys.count) { add() }
        while let (index, client) = try await group.next() {
            clients[index] = client
            if next < keys.count { add() }
        }
        return clients.map { $0! }
    }
}

func closeAll(_ clients: [RelayClient]) async {
    await withTaskGroup(of: Void.self) { group in
        for client in clients { group.addTask { await client.close() } }
    }
}

/// Polls `done` until it holds or `timeout` seconds pass; returns whether it held.
func waitUntil(timeout: Double, every interval: Duration = .milliseconds(5), _ done: () -> Bool) async -> Bool {
    let deadline = monotonicNanos() + UInt64(timeout * 1e9)
    while !done() {
        if monotonicNanos() >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
    return true
}

/// The first error of a kind, kept for the report.
final class FirstError: Sendable {
    private let text = Locked<String?>(nil)
    func note(_ error: any Error) {
        text.withLock { if $0 == nil { $0 = "\(error)" } }
    }
    var value: String? { text.withLock { $0 } }
}

/// Value at `percentile` (0...100) of an ascending array.
func percentile<T>(_ sorted: [T], _ percentile: Double) -> T? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
