// What one group message costs the client that sends it and a member's client that receives it,
// for a group of 10 members and for a large one (10,000 by default): the wall time of
// `Account.send`, and of taking the message in as a delivery (opened, stored, recorded as
// handled), and the bytes the process writes meanwhile (`wchar` of /proc/self/io: the client
// store's database and log). There is no relay: each message sent is encrypted, stored and left in
// the sender's outbox, which is all of the sender's own work, and the member is handed those
// outbox messages as deliveries. With --writers W, W more members (real identities, joined from
// the welcome) each send one message first, which the founder and the member take in, so that
// their states hold the sending chains of W + 1 writers, as a group where many write does. The
// goal (issue 17): at 10,000 members at most 8 KiB written and 5 ms per message, and within 20 %
// of the 10-member figures. Both groups are set up first and their messages alternate, so that a
// change in the machine's load falls on both sizes alike (measured one size after the other, the
// time ratio swung from 0.66 to 1.39 between runs).
// Usage: caucus-bench-group [--members N] [--messages N] [--writers W] [--json]
import CaucusClient
import CaucusCrypto
import CaucusProtocol
import Foundation

let usage = """
    usage: caucus-bench-group [--members N] [--messages N] [--writers W] [--json]
      --members N   the large group's size (default 10,000); a group of 10 (or W + 2) is measured too
      --messages N  messages timed per group (default 50), after 3 not timed
      --writers W   members besides the founder who have written once before the timing (default 0)
      --json        print the figures as JSON
    """
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
if arguments.contains("--version") { print(CaucusRelease.versionLine("caucus-bench-group")); exit(0) }

@MainActor func value(_ flag: String, default fallback: Int, minimum: Int = 2) -> Int {
    guard let index = arguments.firstIndex(of: flag) else { return fallback }
    guard index + 1 < arguments.count, let number = Int(arguments[index + 1]), number >= minimum else {
        FileHandle.standardError.write(Data("caucus-bench-group: \(flag) needs a number of at least \(minimum)\n\(usage)\n".utf8))
        exit(2)
    }
    arguments.removeSubrange(index...(index + 1))
    return number
}
let largest = value("--members", default: 10_000)
let messages = value("--messages", default: 50)
let writers = value("--writers", default: 0, minimum: 0)
let smallest = max(10, writers + 2)
let json = arguments.contains("--json")
arguments.removeAll { $0 == "--json" }
guard arguments.isEmpty else {
    FileHandle.standardError.write(Data("caucus-bench-group: unknown option \(arguments[0])\n\(usage)\n".utf8))
    exit(2)
}

let bytesWritten = BenchmarkFigures.bytesWritten, median = BenchmarkFigures.median
func percentile90(_ values: [Double]) -> Double { values.sorted()[min(values.count - 1, values.count * 9 / 10)] }

/// Sending or receiving, in one group size.
struct Series {
    var milliseconds: [Double] = []
    var written: [Double] = []

    /// Runs `body` once, timed, with the bytes written meanwhile.
    mutating func measure(_ body: () async throws -> Void) async rethrows {
        let before = bytesWritten(), began = ContinuousClock.now
        try await body()
        let took = ContinuousClock.now - began
        milliseconds.append(Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1e3)
        written.append(Double(bytesWritten() - before))
    }
}

struct Figures {
    let members: Int
    let stateBytes: Int
    let foundSeconds: Double
    let sent: Series
    let received: Series
}

func makeAccount(_ directory: String, _ name: String) async throws -> Account {
    try await Account.create(home: ClientHome(explicit: (directory as NSString).appendingPathComponent(name)),
                             passphrase: Passphrase("a passphrase for the benchmark"), displayName: name,
                             parameters: .interactive, allowWeakPassphrase: true)
}

/// A group of `members` founded for the benchmark: its founder (who sends) and one member (who receives).
struct Bench {
    let members: Int
    let directory: String
    let founder: Account
    let member: Account
    let group: GroupID
    let stateBytes: Int
    let foundSeconds: Double
    var sent = Series(), received = Series()
}

func prepare(members: Int) async throws -> Bench {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-bench-group-\(UUID().uuidString)").path
    let founder = try await makeAccount(directory, "founder"), member = try await makeAccount(directory, "member")
    var writing: [Account] = []
    for number in 0..<writers { writing.append(try await makeAccount(directory, "writer-\(number)")) }
    let others = [member.did.publicKey] + writing.map(\.did.publicKey)
        + (2 + writers..<max(members, 2 + writers)).map { _ in Ed25519.PrivateKey().publicKey }
    let start = ContinuousClock.now
    let (group, welcome) = try await founder.foundGroupWithWelcomeForBenchmark(name: "Bench \(members)", members: others)
    let found = ContinuousClock.now - start
    try await member.joinGroupForBenchmark(name: "Bench \(members)", welcome: welcome!, from: founder.did.publicKey)
    // Each writer writes once; the founder and the member take those messages in.
    for (number, writer) in writing.enumerated() {
        try await writer.joinGroupForBenchmark(name: "Bench \(members)", welcome: welcome!, from: founder.did.publicKey)
        _ = try await writer.send("a writer's message", to: .group(group))
        for message in try await writer.queuedMessagesForBenchmark() {
            for reader in [founder, member] {
                guard try await reader.receiveForBenchmark(message, sequence: UInt64(number + 1)) else {
                    throw ClientError.invalidArgument("a writer's message could not be opened")
                }
            }
        }
        await writer.close()
    }
    return Bench(members: members, directory: directory, founder: founder, member: member, group: group,
                 stateBytes: try await founder.storedGroupStateBytes(group),
                 foundSeconds: Double(found.components.seconds) + Double(found.components.attoseconds) / 1e18)
}

/// The founder sends message `number` (the first 3 untimed).
func send(_ number: Int, in bench: inout Bench) async throws {
    let (founder, group) = (bench.founder, bench.group)
    let send = { () async throws -> Void in
        let outcome = try await founder.send("message \(number) of the benchmark", to: .group(group))
        guard case .queued = outcome else { throw ClientError.invalidArgument("expected the message to wait in the outbox: \(outcome)") }
    }
    if number < 3 { try await send() } else { try await bench.sent.measure(send) }
}

/// Both groups are set up first; then their messages alternate, sends and then receipts, so that a
/// change in the machine's load falls on both sizes alike.
func measureBoth() async throws -> [Figures] {
    var benches = [try await prepare(members: smallest), try await prepare(members: largest)]
    for number in 0..<(3 + messages) {
        for index in benches.indices { try await send(number, in: &benches[index]) }
    }
    // What each founder left in its outbox, handed to its member as deliveries.
    let queues = [try await benches[0].founder.queuedMessagesForBenchmark(), try await benches[1].founder.queuedMessagesForBenchmark()]
    for queued in queues where queued.count != 3 + messages {
        throw ClientError.invalidArgument("\(queued.count) messages in the outbox")
    }
    for number in 0..<(3 + messages) {
        for index in benches.indices {
            let (member, message, sequence) = (benches[index].member, queues[index][number], UInt64(writers + number + 1))
            let receive = { () async throws -> Void in
                guard try await member.receiveForBenchmark(message, sequence: sequence) else {
                    throw ClientError.invalidArgument("the member could not open message \(number)")
                }
            }
            if number < 3 { try await receive() } else { try await benches[index].received.measure(receive) }
        }
    }
    var results: [Figures] = []
    for bench in benches {
        let shown = try await bench.member.unread().filter { $0.message.kind == .text }.count
        guard shown == 3 + messages + writers else {
            throw ClientError.invalidArgument("the member shows \(shown) of \(3 + messages + writers) messages")
        }
        await bench.founder.close()
        await bench.member.close()
        try? FileManager.default.removeItem(atPath: bench.directory)
        results.append(Figures(members: bench.members, stateBytes: bench.stateBytes, foundSeconds: bench.foundSeconds,
                               sent: bench.sent, received: bench.received))
    }
    return results
}

let results = try await measureBoth()
let (small, large) = (results[0], results[1])
let kib = 1024.0
if json {
    let objects = [small, large].map { figures -> [String: Any] in
        ["members": figures.members, "state_bytes": figures.stateBytes, "found_seconds": figures.foundSeconds,
         "sent": ["ms_median": median(figures.sent.milliseconds), "ms_p90": percentile90(figures.sent.milliseconds),
                  "written_bytes_median": median(figures.sent.written)],
         "received": ["ms_median": median(figures.received.milliseconds), "ms_p90": percentile90(figures.received.milliseconds),
                      "written_bytes_median": median(figures.received.written)]]
    }
    let data = try JSONSerialization.data(withJSONObject: ["groups": objects, "messages": messages, "writers": writers], options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} else {
    print("One group message sent (encrypted, stored, left in the outbox) and received (opened, stored, recorded),")
    print("\(messages) timed per group and direction, release build" + (writers > 0 ? ", after \(writers) other members wrote once:" : ":"))
    print("members   stored state   direction   written per message (median)   ms per message: median   p90")
    for figures in [small, large] {
        for (direction, series) in [("sent", figures.sent), ("received", figures.received)] {
            let column = direction.padding(toLength: 9, withPad: " ", startingAt: 0)
            print(String(format: "%7d   %8.1f KiB   %@   %12.1f KiB                    %8.2f   %6.2f", figures.members,
                         Double(figures.stateBytes) / kib, column, median(series.written) / kib,
                         median(series.milliseconds), percentile90(series.milliseconds)))
        }
    }
    var met = true
    for (direction, large, small) in [("sent", large.sent, small.sent), ("received", large.received, small.received)] {
        let timeRatio = median(large.milliseconds) / median(small.milliseconds)
        let bytesRatio = median(large.written) / median(small.written)
        print(String(format: "%@: %d members vs %d: %.2f× the time, %.2f× the bytes", direction, largest, smallest, timeRatio, bytesRatio))
        met = met && median(large.written) <= 8 * kib && median(large.milliseconds) <= 5 && timeRatio <= 1.2 && bytesRatio <= 1.2
    }
    print("goal (sent and received: ≤ 8 KiB and ≤ 5 ms per message at \(largest), within 20 % of \(smallest) members): \(met ? "met" : "NOT met")")
}
