// What one group message costs the client that sends it, for a group of 10 members and for a large
// one (10,000 by default): the wall time of `Account.send` and the bytes the process writes
// meanwhile (`wchar` of /proc/self/io: the client store's database and log). The client has no
// relay, so each message is encrypted, stored and left in the outbox, which is all of the client's
// own work. The goal (issue 17): at 10,000 members at most 8 KiB written and 5 ms per message, and
// within 20 % of the 10-member figures.
// Usage: caucus-bench-group [--members N] [--messages N] [--json]
import CaucusClient
import CaucusCrypto
import CaucusProtocol
import Foundation

let usage = """
    usage: caucus-bench-group [--members N] [--messages N] [--json]
      --members N   the large group's size (default 10,000); a group of 10 is measured too
      --messages N  messages timed per group (default 50), after 3 not timed
      --json        print the figures as JSON
    """
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
if arguments.contains("--version") { print(CaucusRelease.versionLine("caucus-bench-group")); exit(0) }

@MainActor func value(_ flag: String, default fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: flag) else { return fallback }
    guard index + 1 < arguments.count, let number = Int(arguments[index + 1]), number > 1 else {
        FileHandle.standardError.write(Data("caucus-bench-group: \(flag) needs a number above 1\n\(usage)\n".utf8))
        exit(2)
    }
    arguments.removeSubrange(index...(index + 1))
    return number
}
let largest = value("--members", default: 10_000)
let messages = value("--messages", default: 50)
let json = arguments.contains("--json")
arguments.removeAll { $0 == "--json" }
guard arguments.isEmpty else {
    FileHandle.standardError.write(Data("caucus-bench-group: unknown option \(arguments[0])\n\(usage)\n".utf8))
    exit(2)
}

/// Bytes this process has passed to write(2) and its kind so far.
func bytesWritten() -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("wchar:") }
    return line.flatMap { Int($0.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func percentile90(_ values: [Double]) -> Double { values.sorted()[min(values.count - 1, values.count * 9 / 10)] }

struct Figures {
    let members: Int
    let stateBytes: Int
    let foundSeconds: Double
    let milliseconds: [Double]
    let written: [Double]
}

func measure(members: Int) async throws -> Figures {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-bench-group-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let account = try await Account.create(home: ClientHome(explicit: directory), passphrase: Passphrase("a passphrase for the benchmark"),
                                           displayName: "Bench", parameters: .interactive, allowWeakPassphrase: true)
    let others = (1..<members).map { _ in Ed25519.PrivateKey().publicKey }
    let start = ContinuousClock.now
    let group = try await account.foundGroupForBenchmark(name: "Bench \(members)", members: others)
    let found = ContinuousClock.now - start
    let stateBytes = try await account.storedGroupStateBytes(group)
    for number in 0..<3 { _ = try await account.send("not timed \(number)", to: .group(group)) }
    var milliseconds: [Double] = [], written: [Double] = []
    for number in 0..<messages {
        let before = bytesWritten(), began = ContinuousClock.now
        let outcome = try await account.send("message \(number) of the benchmark", to: .group(group))
        let took = ContinuousClock.now - began
        guard case .queued = outcome else { throw ClientError.invalidArgument("expected the message to wait in the outbox: \(outcome)") }
        milliseconds.append(Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1e3)
        written.append(Double(bytesWritten() - before))
    }
    await account.close()
    return Figures(members: members, stateBytes: stateBytes,
                   foundSeconds: Double(found.components.seconds) + Double(found.components.attoseconds) / 1e18,
                   milliseconds: milliseconds, written: written)
}

let small = try await measure(members: 10)
let large = try await measure(members: largest)
let kib = 1024.0
if json {
    let objects = [small, large].map { figures -> [String: Any] in
        ["members": figures.members, "state_bytes": figures.stateBytes, "found_seconds": figures.foundSeconds,
         "ms_median": median(figures.milliseconds), "ms_p90": percentile90(figures.milliseconds),
         "written_bytes_median": median(figures.written)]
    }
    let data = try JSONSerialization.data(withJSONObject: ["groups": objects, "messages": messages], options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} else {
    print("One group message sent (encrypted, stored, left in the outbox), \(messages) timed per group, release build:")
    print("members   stored state   written per message (median)   ms per message: median   p90")
    for figures in [small, large] {
        print(String(format: "%7d   %8.1f KiB   %12.1f KiB                    %8.2f   %6.2f", figures.members,
                     Double(figures.stateBytes) / kib, median(figures.written) / kib,
                     median(figures.milliseconds), percentile90(figures.milliseconds)))
    }
    let timeRatio = median(large.milliseconds) / median(small.milliseconds)
    let bytesRatio = median(large.written) / median(small.written)
    print(String(format: "%d members vs 10: %.2f× the time, %.2f× the bytes", largest, timeRatio, bytesRatio))
    let met = median(large.written) <= 8 * kib && median(large.milliseconds) <= 5 && timeRatio <= 1.2 && bytesRatio <= 1.2
    print("goal (≤ 8 KiB and ≤ 5 ms per message at \(largest), within 20 % of 10 members): \(met ? "met" : "NOT met")")
}
