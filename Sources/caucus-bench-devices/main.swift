// What several devices per worker cost the client (issue 20): a group of 1,000 members (--members)
// where everyone has 3 devices (--devices), against the same group where everyone has one.
// Measured on the sending client, release build, no relay (what it sends is left in its outbox):
// - one group message: `Account.send` to the group (encrypted once, stored, queued);
// - removing one device: the remove device entry, and the new epoch's key encrypted pairwise for
//   every other device of the group (what `caucus device revoke` queues per group). In the group
//   of one device each the same work is removing a member (every other device gets the key).
// Wall time and bytes written (`wchar` of /proc/self/io) per operation, medians; the two groups
// are set up first and their operations alternate, so that a change in the machine's load falls
// on both alike. Both groups are founded in one epoch (the members' add entries, then the devices'
// add device entries, signed by their owners), so that their states differ in devices only. Every
// device's session is started beforehand from a bundle made here, and every member's device chain
// is kept, as fetching them from a relay would.
// Usage: caucus-bench-devices [--members N] [--devices D] [--messages N] [--removals N] [--json]
import CaucusClient
import CaucusCrypto
import CaucusProtocol
import Foundation

let usage = """
    usage: caucus-bench-devices [--members N] [--devices D] [--messages N] [--removals N] [--json]
      --members N   the group's size, its sender included (default 1,000)
      --devices D   devices per member in the second group (default 3)
      --messages N  group messages timed per group (default 30), after 3 not timed
      --removals N  device removals timed per group (default 3)
      --json        print the figures as JSON
    """
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
if arguments.contains("--version") { print(CaucusRelease.versionLine("caucus-bench-devices")); exit(0) }

@MainActor func value(_ flag: String, default fallback: Int, minimum: Int) -> Int {
    guard let index = arguments.firstIndex(of: flag) else { return fallback }
    guard index + 1 < arguments.count, let number = Int(arguments[index + 1]), number >= minimum else {
        FileHandle.standardError.write(Data("caucus-bench-devices: \(flag) needs a number of at least \(minimum)\n\(usage)\n".utf8))
        exit(2)
    }
    arguments.removeSubrange(index...(index + 1))
    return number
}
let members = value("--members", default: 1_000, minimum: 3)
let devicesEach = value("--devices", default: 3, minimum: 2)
let messages = value("--messages", default: 30, minimum: 1)
let removals = value("--removals", default: 3, minimum: 1)
let json = arguments.contains("--json")
arguments.removeAll { $0 == "--json" }
guard arguments.isEmpty, removals < members - 1 else {
    FileHandle.standardError.write(Data("caucus-bench-devices: unknown option, or more removals than members\n\(usage)\n".utf8))
    exit(2)
}

let bytesWritten = BenchmarkFigures.bytesWritten, median = BenchmarkFigures.median

/// One kind of operation in one group.
struct Series {
    var milliseconds: [Double] = []
    var written: [Double] = []
    var queued: [Double] = []

    /// Runs `body` once, timed, with the bytes written and the messages queued meanwhile.
    mutating func measure(_ account: Account, _ body: () async throws -> Void) async throws {
        let queuedBefore = try await account.outboxCountForBenchmark()
        let before = bytesWritten(), began = ContinuousClock.now
        try await body()
        let took = ContinuousClock.now - began
        milliseconds.append(Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1e3)
        written.append(Double(bytesWritten() - before))
        queued.append(Double(try await account.outboxCountForBenchmark() - queuedBefore))
    }
}

/// A group of `members` where each has `devices` devices, seen from its founder's first device.
struct Bench {
    let devices: Int
    let directory: String
    let sender: Account
    let group: GroupID
    /// For each member but the sender: its identity key and its other devices' keys.
    let others: [(identity: Ed25519.PublicKey, devices: [Ed25519.PublicKey])]
    let setupSeconds: Double
    var sent = Series(), removed = Series()
}

/// A bundle for `device` as the relay would hand it out (signed prekey only).
func bundle(for device: Ed25519.PrivateKey) throws -> PrekeyBundle {
    let signed = SignedPrekey(id: 1, identity: device)
    return try PrekeyBundle(identity: device.publicKey.rawRepresentation, publishedSignedPrekey: signed.publishedBytes, oneTimePrekey: nil)
}

func prepare(devices: Int) async throws -> Bench {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-bench-devices-\(UUID().uuidString)").path
    let sender = try await Account.create(home: ClientHome(explicit: (directory as NSString).appendingPathComponent("sender")),
                                          passphrase: Passphrase("a passphrase for the benchmark"), displayName: "Sender",
                                          parameters: .interactive, allowWeakPassphrase: true)
    let start = ContinuousClock.now
    let identities = (1..<members).map { _ in Ed25519.PrivateKey() }
    var bundles: [PrekeyBundle] = []
    var chains: [DeviceChain] = []
    var added: [(owner: Ed25519.PrivateKey?, device: Ed25519.PublicKey)] = []
    var others: [(identity: Ed25519.PublicKey, devices: [Ed25519.PublicKey])] = []
    for identity in identities {
        bundles.append(try bundle(for: identity))
        let extra = (1..<devices).map { _ in Ed25519.PrivateKey() }
        if !extra.isEmpty {
            var chain = DeviceChain(identity: identity, signedAt: 1)
            for device in extra {
                let proof = device.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: device.publicKey))
                _ = try chain.add(device.publicKey, kind: .computer, deviceSignature: proof, by: identity, signedAt: 1)
                bundles.append(try bundle(for: device))
                added.append((identity, device.publicKey))
            }
            chains.append(chain)
        }
        others.append((identity.publicKey, extra.map(\.publicKey)))
    }
    let own = (1..<devices).map { _ in Ed25519.PrivateKey() }
    if !own.isEmpty {
        _ = try await sender.certifyDevicesForBenchmark(own)
        bundles += try own.map(bundle(for:))
    }
    try await sender.keepDeviceChainsForBenchmark(chains)
    for start in stride(from: 0, to: bundles.count, by: 500) {
        try await sender.startSessionsForBenchmark(Array(bundles[start..<min(start + 500, bundles.count)]))
    }
    added += own.map { (nil, $0.publicKey) }
    // Founded in one epoch, with the devices' entries after the members' (as `foundGroupForBenchmark`
    // founds the group of one device each), so that the two states differ in devices only.
    let group = try await sender.foundGroupWithDevicesForBenchmark(name: "Bench", members: identities.map(\.publicKey), devices: added)
    let took = ContinuousClock.now - start
    return Bench(devices: devices, directory: directory, sender: sender, group: group, others: others,
                 setupSeconds: Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
}

/// Both groups are set up first; then their operations alternate.
func measureBoth() async throws -> [Bench] {
    var benches = [try await prepare(devices: 1), try await prepare(devices: devicesEach)]
    for number in 0..<(3 + messages) {
        for index in benches.indices {
            let (sender, group) = (benches[index].sender, benches[index].group)
            let send = { () async throws -> Void in
                let outcome = try await sender.send("message \(number) of the benchmark", to: .group(group))
                guard case .queued = outcome else { throw ClientError.invalidArgument("expected the message to wait in the outbox: \(outcome)") }
            }
            if number < 3 { try await send() } else { try await benches[index].sent.measure(sender, send) }
        }
    }
    for number in 0..<removals {
        for index in benches.indices {
            let bench = benches[index]
            let other = bench.others[number]
            try await benches[index].removed.measure(bench.sender) {
                // One device each: the member goes (its only device). Several: one of its other devices.
                if let device = other.devices.first {
                    try await bench.sender.removeDeviceForBenchmark(bench.group, device)
                } else {
                    try await bench.sender.removeMemberForBenchmark(bench.group, other.identity)
                }
            }
        }
    }
    for bench in benches {
        await bench.sender.close()
        try? FileManager.default.removeItem(atPath: bench.directory)
    }
    return benches
}

let benches = try await measureBoth()
let (one, many) = (benches[0], benches[1])
let kib = 1024.0
if json {
    let objects = benches.map { bench -> [String: Any] in
        ["devices_each": bench.devices, "setup_seconds": bench.setupSeconds,
         "message": ["ms_median": median(bench.sent.milliseconds), "written_bytes_median": median(bench.sent.written)],
         "removal": ["ms_median": median(bench.removed.milliseconds), "written_bytes_median": median(bench.removed.written),
                     "messages_queued_median": median(bench.removed.queued)]]
    }
    let data = try JSONSerialization.data(withJSONObject: ["members": members, "groups": objects, "messages": messages, "removals": removals],
                                          options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} else {
    print("A group of \(members) members, from its founder's client (release build, no relay; medians, the two groups alternating):")
    print("                                              1 device each   \(devicesEach) devices each   ratio")
    func row(_ label: String, _ a: Double, _ b: Double, _ format: String) {
        print(label.padding(toLength: 46, withPad: " ", startingAt: 0)
              + String(format: "%13" + format + "   %15" + format + "   %5.2f×", a, b, b / a))
    }
    row("one group message: ms", median(one.sent.milliseconds), median(many.sent.milliseconds), ".2f")
    row("one group message: KiB written", median(one.sent.written) / kib, median(many.sent.written) / kib, ".1f")
    row("removing a device (new epoch): ms", median(one.removed.milliseconds), median(many.removed.milliseconds), ".1f")
    row("removing a device: KiB written", median(one.removed.written) / kib, median(many.removed.written) / kib, ".1f")
    row("removing a device: messages queued", median(one.removed.queued), median(many.removed.queued), ".0f")
    print(String(format: "set-up (group, sessions with every device, chains): %.1f s and %.1f s", one.setupSeconds, many.setupSeconds))
    print("(with one device each, removing a device is removing a member: its key goes to every other device all the same)")
}
