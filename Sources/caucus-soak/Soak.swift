// Load and faults against a real `caucus-relay` process: many clients send and receive for minutes
// while the relay is killed with SIGKILL and restarted; then every accepted message is accounted for.
import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelayClient
import CaucusTestSupport
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What the run found. `lost` and `redeliveredAfterConfirmedAck` must be 0.
struct SoakReport: Codable {
    var clients = 0
    var seconds = 0.0
    var kills = 0
    /// Messages the relay answered with SendAccepted.
    var accepted = 0
    /// Of those, how many reached their recipient (counted once per message).
    var delivered = 0
    /// Accepted but never delivered.
    var lost = 0
    /// Deliveries whose payload was not what was sent, or that reached the wrong device.
    var corrupted = 0
    /// Deliveries of a message its recipient had already received (at-least-once after a crash).
    var redelivered = 0
    /// Of those, deliveries of a message whose acknowledgement the relay had confirmed.
    var redeliveredAfterConfirmedAck = 0
    /// Sends retried under the same id after the relay went away mid-request.
    var resent = 0
    /// Times a client connected again after losing the relay.
    var reconnects = 0
    /// Relay resident memory samples, KiB: one list per life of the process.
    var relayRSS: [[Int]] = []
    /// The client whose disk filled up during the run; nil when it did not run.
    var fullDisk: FullDiskReport?
    /// Why the full-disk client did not run, when it did not.
    var fullDiskSkipped: String?
}

/// Counts what was sent and what arrived.
final class Ledger: Sendable {
    private struct State {
        /// Message id → (recipient index, payload digest), once accepted.
        var accepted: [Data: (Int, [UInt8])] = [:]
        /// (recipient, message id) received at least once.
        var received: Set<[UInt8]> = []
        /// (recipient, message id) whose acknowledgement the relay confirmed.
        var acknowledged: Set<[UInt8]> = []
        var report = SoakReport()
    }

    private let state = Locked(State())

    static func key(_ recipient: Int, _ id: Data) -> [UInt8] {
        withUnsafeBytes(of: UInt32(recipient).bigEndian) { Array($0) } + id
    }

    func accepted(_ id: Data, recipient: Int, digest: [UInt8]) {
        state.withLock { $0.accepted[id] = (recipient, digest) }
    }

    /// Records a delivery; returns whether it should be acknowledged.
    func received(_ id: Data, by recipient: Int, payload: Data) -> Bool {
        let digest = SHA256.hash(Array(payload))
        let key = Self.key(recipient, id)
        return state.withLock { state in
            if let (expected, sent) = state.accepted[id], expected != recipient || sent != digest {
                state.report.corrupted += 1
                return false
            }
            if !state.received.insert(key).inserted {
                state.report.redelivered += 1
                if state.acknowledged.contains(key) { state.report.redeliveredAfterConfirmedAck += 1 }
            }
            return true
        }
    }

    func acknowledged(_ id: Data, by recipient: Int) {
        _ = state.withLock { $0.acknowledged.insert(Self.key(recipient, id)) }
    }

    func count(_ change: (inout SoakReport) -> Void) { state.withLock { change(&$0.report) } }

    /// Accepted messages not yet received.
    var outstanding: Int {
        state.withLock { state in state.accepted.count(where: { !state.received.contains(Self.key($0.value.0, $0.key)) }) }
    }

    func finish() -> SoakReport {
        state.withLock { state in
            var report = state.report
            report.accepted = state.accepted.count
            report.lost = state.accepted.count(where: { !state.received.contains(Self.key($0.value.0, $0.key)) })
            report.delivered = report.accepted - report.lost
            return report
        }
    }
}

/// One device: keeps a connection open (reconnecting when the relay goes away), acknowledges
/// what arrives, and sends when asked.
final class SoakClient: Sendable {
    let index: Int
    let key: Ed25519.PrivateKey
    private let url: String
    private let ledger: Ledger
    private let connection = Locked<RelayClient?>(nil)
    private let logger: Logger

    init(index: Int, url: String, ledger: Ledger, logger: Logger) {
        self.index = index
        self.key = Ed25519.PrivateKey()
        self.url = url
        self.ledger = ledger
        self.logger = logger
    }

    var publicKey: Data { Data(key.publicKey.rawRepresentation) }

    /// Runs until cancelled: connect, handle pushes until the connection drops, back off, again.
    func run() async {
        var first = true
        var delay = 0.2
        while !Task.isCancelled {
            do {
                let client = try await RelayClient.connect(url: url, deviceKey: key, timeout: .seconds(10), logger: logger)
                connection.withLock { $0 = client }
                if !first { ledger.count { $0.reconnects += 1 } }
                first = false
                delay = 0.2
                for await push in client.pushes {
                    guard case .delivery(let delivery) = push else { continue }
                    guard ledger.received(delivery.messageID.data, by: index, payload: delivery.payload) else { continue }
                    // Acknowledge without holding up the next push; a lost ack means a redelivery.
                    Task {
                        if (try? await client.request(.ack(WireAckMessages.with { $0.messageIds = [delivery.messageID.data] }))) != nil {
                            self.ledger.acknowledged(delivery.messageID.data, by: self.index)
                        }
                    }
                }
                connection.withLock { $0 = nil }
                await client.close()
            } catch {
                connection.withLock { $0 = nil }
            }
            try? await Task.sleep(for: .seconds(delay * Double.random(in: 0.5...1.5)))
            delay = min(delay * 2, 2)
        }
        if let client = connection.withLock({ $0 }) { await client.close() }
    }

    /// Sends one message until the relay accepts it, retrying under the same id (as a client's
    /// outbox does) while the relay is away. Returns false if `deadline` passes first.
    func send(_ payload: Data, id: Data, to recipient: SoakClient, deadline: ContinuousClock.Instant) async -> Bool {
        var attempt = 0
        while ContinuousClock.now < deadline {
            if let client = connection.withLock({ $0 }), client.isOpen {
                do {
                    let reply = try await client.request(.send(WireSendMessage.with {
                        $0.messageID = id
                        $0.recipients = [recipient.publicKey]
                        $0.payload = payload
                    }))
                    if case .sendAccepted = reply {
                        ledger.accepted(id, recipient: recipient.index, digest: SHA256.hash(Array(payload)))
                        return true
                    }
                } catch {
                    // The relay went away mid-request, or refused for now: try again.
                }
                attempt += 1
                if attempt == 1 { ledger.count { $0.resent += 1 } }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

/// The relay daemon as a child process on a fixed port, so that it can be killed and restarted
/// (CaucusTestSupport's RelayProcess takes any free port, once).
final class RestartableRelay: Sendable {
    let binary: String
    let dataDirectory: String
    let port: Int
    let logPath: String
    /// The running process, nil when there is none (a signal handler may kill it from another thread).
    private let running = Locked<ChildProcess?>(nil)

    init(binary: String, dataDirectory: String, port: Int) {
        self.binary = binary
        self.dataDirectory = dataDirectory
        self.port = port
        logPath = (dataDirectory as NSString).appendingPathComponent("relay.log")
    }

    var url: String { "ws://127.0.0.1:\(port)" }

    /// Starts it (its output appended to `logPath`) and waits until it answers on its port.
    func start() async throws {
        let arguments = ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", dataDirectory,
                         "--rate-limit", "100000", "--rate-burst", "100000", "--max-connections", "100000", "--log-level", "warning"]
        let child: ChildProcess
        do {
            child = try ChildProcess(binary, arguments, environment: ProcessInfo.processInfo.environment, log: logPath)
        } catch {
            throw SoakError("\(error)")
        }
        running.withLock { $0 = child }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while clock.now < deadline, child.isRunning {
            if Self.canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw SoakError("the relay did not listen on port \(port) within 30 s; see \(logPath)")
    }

    /// SIGKILL, and reap it.
    func kill() {
        running.withLock { child in defer { child = nil }; return child }?.kill()
    }

    /// SIGTERM, and wait (at most 60 s) for it to exit; returns the exit status (0 when none ran).
    func stop() async throws -> Int32 {
        guard let child = running.withLock({ child in defer { child = nil }; return child }) else { return 0 }
        child.signal(SIGTERM)
        return try await child.finish(within: .seconds(60)).status
    }

    /// Resident memory in KiB, from /proc.
    var residentKiB: Int? {
        running.withLock { $0?.pid }.flatMap { CaucusTestSupport.residentKiB(process: "\($0)") }
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Progress lines go to stderr, so that stdout holds only the report.
func progress(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

struct SoakError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
