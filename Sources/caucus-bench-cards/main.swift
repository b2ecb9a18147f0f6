// Times a card tally of many sealed cards against a plain C loop doing the same sealed-box opens
// and Ed25519 verifications: on 1 core, then on all cores, C and Caucus back to back on the same
// cores in each round. Reports each ratio against C on the same cores (and, on all cores, against
// N times C on 1 core), cards per CPU-second, the process's peak memory and the memory one
// tally adds. With --through-relay, times instead the `caucus` CLI's tally and export of an inbox
// on a real caucus-relay process (ThroughRelay.swift).
// Usage: caucus-bench-cards [--quick] [--json] [--cards N] [--rounds N]
//        caucus-bench-cards --through-relay [--json] [--cards N] [--runs N] [--kdf moderate|interactive]
import CaucusBenchC
import CaucusCrypto
import CaucusProtocol
import Foundation
import Synchronization

let usage = """
    usage: caucus-bench-cards [--quick] [--json] [--cards N] [--rounds N]
           caucus-bench-cards --through-relay [--json] [--cards N] [--runs N] [--kdf moderate|interactive]
      --cards N  cards to generate and tally (default 100,000; through the relay 8,325)
      --rounds N rounds of the library benchmark (default 3)
      --quick    10,000 cards and one round: a smoke run, not a measurement
      --json     print the figures as JSON
      --through-relay  post the cards and 5 % hostile items to a real caucus-relay (SQLite,
                 127.0.0.1, port 0), then time `caucus cards tally` and `caucus cards export`
                 (the built CLI, as processes) from that inbox to their output; the goal is
                 at most 2 s wall each
      --runs N   timed runs of each command through the relay (default 5)
      --kdf L    the organizer's passphrase hardening through the relay: interactive (the
                 fast setting tests use; default) or moderate (`caucus init`'s default)
    Each round runs C then Caucus on 1 core, then C then Caucus on all cores (like the tally's,
    C's threads take the next items whenever they are free: 256 at a time, each call deriving
    the card key once); the figures are medians of the rounds. The goal, at least 0.8 × C per
    core used, is judged against C on the same cores in the same round. Cards per CPU-second
    (process CPU time, all threads) are printed too: on a machine that other work shares, they
    compare the work done per card where wall-clock rates are skewed by whoever held the cores.
    """
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
if arguments.contains("--version") { print(CaucusRelease.versionLine("caucus-bench-cards")); exit(0) }
let quick = arguments.contains("--quick"), json = arguments.contains("--json"), viaRelay = arguments.contains("--through-relay")

/// Removes `flag` and its value from the arguments; exits with the usage when the value is not accepted.
@MainActor func take<T>(_ flag: String, _ parse: (String) -> T?) -> T? {
    guard let index = arguments.firstIndex(of: flag) else { return nil }
    guard index + 1 < arguments.count, let value = parse(arguments[index + 1]) else {
        FileHandle.standardError.write(Data("caucus-bench-cards: \(flag) needs a value\n\(usage)\n".utf8))
        exit(2)
    }
    arguments.removeSubrange(index...(index + 1))
    return value
}
func positive(_ text: String) -> Int? { Int(text).flatMap { $0 > 0 ? $0 : nil } }
let count = take("--cards", positive) ?? (viaRelay ? 8_325 : quick ? 10_000 : 100_000)
let rounds = take("--rounds", positive) ?? (quick ? 1 : 3)
let runs = take("--runs", positive) ?? 5
let kdf = take("--kdf") { ["moderate", "interactive"].contains($0) ? $0 : nil } ?? "interactive"
guard Set(arguments).isSubset(of: ["--quick", "--json", "--through-relay"]) else {
    FileHandle.standardError.write(Data("caucus-bench-cards: unknown option\n\(usage)\n".utf8))
    exit(2)
}
if viaRelay {
    do {
        printThroughRelay(try await throughRelay(cards: count, runs: runs, kdf: kdf), json: json)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("caucus-bench-cards: \(error)\n".utf8))
        exit(1)
    }
}
let cores = ProcessInfo.processInfo.activeProcessorCount

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

// MARK: Generating the cards

let cardKey = Ed25519.PrivateKey()
let campaign = try Campaign.create(union: "Warehouse Workers Union", employer: "Acme Logistics", unitDescription: "All associates",
                                   unitSize: UInt64(count), language: cardLanguage, cardKey: cardKey.publicKey,
                                   organizer: Ed25519.PrivateKey(), createdAt: 1_790_000_000_000)
let tallyTime: UInt64 = 1_795_000_000_000
FileHandle.standardError.write(Data("generating \(count) signed, sealed cards on \(cores) cores…\n".utf8))
let generationStart = now()
struct Generated { var sealed: [UInt8]; var card: Card }
let generated = UnsafeMutableBufferPointer<Generated?>.allocate(capacity: count)
generated.initialize(repeating: nil)
nonisolated(unsafe) let generatedOut = generated
DispatchQueue.concurrentPerform(iterations: cores) { slice in
    for index in stride(from: slice, to: count, by: cores) {
        let fields = CardFields(name: "Worker \(index)", contact: "worker\(index)@example.org", phone: "+1 555 \(100_000 + index)",
                                employer: "Acme Logistics", language: cardLanguage, date: CardFields.utcDate(tallyTime))
        let card = try! Card.sign(fields, for: campaign, by: Ed25519.PrivateKey(), at: tallyTime - UInt64(index))
        generatedOut[index] = Generated(sealed: try! CardItem.card(card).sealed(for: campaign), card: card)
    }
}
let sealed = generated.map { $0!.sealed }
let generationSeconds = now() - generationStart

// MARK: The C baseline's inputs: the same sealed boxes, and each card's signed bytes, as C arrays
// made once, before any timing (the generated cards are dropped once they are made)

let seed = cardKey.seed.withUnsafeBytes { Array($0) }

/// Each array copied to memory of its own, as a C caller would hold it.
func cArrays(_ arrays: [[UInt8]]) -> [UnsafePointer<UInt8>?] {
    arrays.map { bytes in
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        pointer.initialize(from: bytes, count: bytes.count)
        return UnsafePointer(pointer)
    }
}
nonisolated(unsafe) let cSealed = cArrays(sealed)
nonisolated(unsafe) let cMessages = cArrays(generated.map { $0!.card.statement.bytes })
nonisolated(unsafe) let cPublicKeys = cArrays(generated.map { $0!.card.signer.rawRepresentation })
nonisolated(unsafe) let cSignatures = cArrays(generated.map { $0!.card.signature.rawRepresentation })
let sealedLengths = sealed.map(\.count), messageLengths = generated.map { $0!.card.statement.bytes.count }
_ = generated.deinitialize()
generated.deallocate()

/// Runs the C loop over items `range` on the calling thread; returns how many opened and verified.
@Sendable func cLoop(_ range: Range<Int>) -> UInt64 {
    let at = range.lowerBound
    return cSealed.withUnsafeBufferPointer { s in
        cPublicKeys.withUnsafeBufferPointer { p in
            cMessages.withUnsafeBufferPointer { m in
                cSignatures.withUnsafeBufferPointer { g in
                    cb_card_open_verify(seed, s.baseAddress! + at, sealedLengths.withUnsafeBufferPointer { $0.baseAddress! + at },
                                        p.baseAddress! + at, m.baseAddress! + at,
                                        messageLengths.withUnsafeBufferPointer { $0.baseAddress! + at }, g.baseAddress! + at, range.count)
                }
            }
        }
    }
}

/// Runs the C loop on `threads` threads that take the next items whenever they are free, as the
/// tally's threads do (256 at a time: each call derives the card key's X25519 form once, which
/// costs about what one item does); returns how many opened and verified.
func cLoop(threads: Int) -> UInt64 {
    let next = Atomic<Int>(0), good = Atomic<UInt64>(0), batch = 256
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
        while case let start = next.add(batch, ordering: .relaxed).oldValue, start < count {
            good.add(cLoop(start..<min(start + batch, count)), ordering: .relaxed)
        }
    }
    return good.load(ordering: .relaxed)
}

// MARK: Memory

/// A line of /proc/self/status (`VmHWM`, `VmRSS`), in MiB.
func statusMiB(_ key: String) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kib / 1024
}

/// The process's peak resident memory so far, in MiB, across the peak resets below.
var processPeak = 0.0

/// Runs `body` and returns how far resident memory rose above what it was before (the kernel's
/// peak, reset first through /proc/self/clear_refs), or nil where the peak cannot be reset.
@MainActor func memoryAdded(by body: () -> Void) -> Double? {
    processPeak = max(processPeak, statusMiB("VmHWM"))
    // Freed memory goes back to the system first, so that the tally cannot hide in it.
    cb_release_free_memory()
    let reset = FileHandle(forWritingAtPath: "/proc/self/clear_refs").map { file in
        defer { try? file.close() }
        return (try? file.write(contentsOf: Data("5".utf8))) != nil
    } ?? false
    let before = statusMiB("VmRSS")
    body()
    let peak = statusMiB("VmHWM")
    processPeak = max(processPeak, peak)
    return reset ? peak - before : nil
}

// MARK: Timing, C and Caucus back to back on the same cores in each round

/// CPU time this process has used so far, all threads, user and system, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Cards per second of wall-clock time, and per second of CPU time (which time spent waiting for
/// a core that other work holds does not count).
struct Rate { var wall: Double, cpu: Double }

/// Times `body`, which handles every card.
func rate(_ body: () -> Void) -> Rate {
    let start = now(), cpuStart = cpuSeconds()
    body()
    return Rate(wall: Double(count) / (now() - start), cpu: Double(count) / (cpuSeconds() - cpuStart))
}

var cSingle: [Rate] = [], swiftSingle: [Rate] = [], cAll: [Rate] = [], swiftAll: [Rate] = []
var tallyMemory: Double?
/// Tallies every card on `threads` threads, and records the memory the tally added.
@MainActor func tally(threads: Int) -> Rate {
    var measured = Rate(wall: 0, cpu: 0)
    let added = memoryAdded {
        measured = rate {
            let tally = CardTally.opening(sealed, with: cardKey, campaign: campaign, now: tallyTime, threads: threads)
            precondition(tally.valid.count == count && tally.rejected.isEmpty, "the tally did not count every card")
        }
    }
    if let added { tallyMemory = max(tallyMemory ?? 0, added) }
    return measured
}
/// Runs the C loop on `threads` threads.
func c(threads: Int) -> Rate {
    rate {
        let good = threads == 1 ? cLoop(0..<count) : cLoop(threads: threads)
        precondition(good == UInt64(count), "the C loop rejected \(UInt64(count) - good) cards")
    }
}
for round in 1...rounds {
    FileHandle.standardError.write(Data("round \(round) of \(rounds)…\n".utf8))
    cSingle.append(c(threads: 1))
    swiftSingle.append(tally(threads: 1))
    cAll.append(c(threads: cores))
    swiftAll.append(tally(threads: cores))
}
processPeak = max(processPeak, statusMiB("VmHWM"))

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let c1 = median(cSingle.map(\.wall)), s1 = median(swiftSingle.map(\.wall)), cn = median(cAll.map(\.wall)), sn = median(swiftAll.map(\.wall))
let cpuC1 = median(cSingle.map(\.cpu)), cpuS1 = median(swiftSingle.map(\.cpu))
let cpuCN = median(cAll.map(\.cpu)), cpuSN = median(swiftAll.map(\.cpu))
// Per core used, Caucus on N cores is set against C on the same N cores in the same round; against
// N times C on one core, the machine's own scaling (a core busy elsewhere, shared caches) counts too.
let ratio1 = s1 / c1, ratioN = sn / cn, ratioNOfSingle = sn / (c1 * Double(cores))
let goalMet = ratio1 >= 0.8 && ratioN >= 0.8
let figures: [(String, String)] = [
    ("cards tallied per run", "\(count), generated in \(String(format: "%.1f", generationSeconds)) s"),
    ("C loop, 1 core (sealed-box open + Ed25519 verify)", String(format: "%.0f cards/s", c1)),
    ("Caucus tally, 1 thread", String(format: "%.0f cards/s = %.2f × C on 1 core", s1, ratio1)),
    ("C loop, all \(cores) cores", String(format: "%.0f cards/s = %.2f × C on 1 core", cn, cn / c1)),
    ("Caucus tally, all \(cores) cores", String(format: "%.0f cards/s = %.2f × C on the same %d cores, %.2f × (%d × C on 1 core)",
                                                sn, ratioN, cores, ratioNOfSingle, cores)),
    ("goal: ≥ 0.8 × C per core used, on 1 and on all cores", goalMet ? "met" : "NOT met"),
    ("per CPU-second, 1 core (unskewed by other load)", String(format: "C %.0f, Caucus %.0f cards = %.2f × C",
                                                                          cpuC1, cpuS1, cpuS1 / cpuC1)),
    ("per CPU-second, all \(cores) cores", String(format: "C %.0f, Caucus %.0f cards = %.2f × C", cpuCN, cpuSN, cpuSN / cpuCN)),
    ("peak memory, whole process (cards and C inputs included)", String(format: "%.0f MiB", processPeak)),
    ("peak memory one tally adds (above what was resident)", tallyMemory.map { String(format: "%.0f MiB", $0) } ?? "unknown"),
]
if json {
    var object: [String: Any] = [
        "cards": count, "cores": cores, "rounds": rounds, "c_cards_per_second_1_core": c1, "caucus_cards_per_second_1_thread": s1,
        "c_cards_per_second_all_cores": cn, "caucus_cards_per_second_all_cores": sn, "ratio_1_thread": ratio1,
        "ratio_all_cores": ratioN, "ratio_all_cores_vs_cores_times_c_1_core": ratioNOfSingle,
        "goal_per_core": 0.8, "goal_met": goalMet, "peak_memory_mib": processPeak,
        "c_cards_per_cpu_second_1_core": cpuC1, "caucus_cards_per_cpu_second_1_thread": cpuS1,
        "c_cards_per_cpu_second_all_cores": cpuCN, "caucus_cards_per_cpu_second_all_cores": cpuSN,
    ]
    if let tallyMemory { object["tally_peak_memory_added_mib"] = tallyMemory }
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
} else {
    print("card tally benchmark (median of \(rounds) round\(rounds == 1 ? "" : "s"); in each, C then Caucus on 1 core, then on all cores)")
    for (name, value) in figures { print("  \(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(value)") }
}
