// Times a card tally of many sealed cards on all cores against a plain C loop doing the same
// sealed-box opens and Ed25519 verifications, in one run, and reports ratios and peak memory.
// Usage: caucus-bench-cards [--quick] [--json] [--cards N]
import CaucusBenchC
import CaucusCrypto
import Foundation

let usage = """
    usage: caucus-bench-cards [--quick] [--json] [--cards N]
      --cards N  cards to generate and tally (default 100,000)
      --quick    10,000 cards and one round: a smoke run, not a measurement
      --json     print the figures as JSON
    """
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") { print(usage); exit(0) }
let quick = arguments.contains("--quick"), json = arguments.contains("--json")
var requested = quick ? 10_000 : 100_000
if let flag = arguments.firstIndex(of: "--cards") {
    guard flag + 1 < arguments.count, let value = Int(arguments[flag + 1]), value > 0 else {
        FileHandle.standardError.write(Data("caucus-bench-cards: --cards needs a positive number\n\(usage)\n".utf8))
        exit(2)
    }
    requested = value
    arguments.removeSubrange(flag...(flag + 1))
}
let count = requested
guard Set(arguments).isSubset(of: ["--quick", "--json"]) else {
    FileHandle.standardError.write(Data("caucus-bench-cards: unknown option\n\(usage)\n".utf8))
    exit(2)
}
let rounds = quick ? 1 : 3
let cores = ProcessInfo.processInfo.activeProcessorCount

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Peak resident memory of this process (VmHWM), in MiB.
func peakMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kib / 1024
}

// MARK: Generating the cards

let language = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."
let cardKey = Ed25519.PrivateKey()
let campaign = try Campaign.create(union: "Warehouse Workers Union", employer: "Acme Logistics", unitDescription: "All associates",
                                   unitSize: UInt64(count), language: language, cardKey: cardKey.publicKey,
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
                                employer: "Acme Logistics", language: language, date: "2026-11-24")
        let card = try! Card.sign(fields, for: campaign, by: Ed25519.PrivateKey(), at: tallyTime - UInt64(index))
        generatedOut[index] = Generated(sealed: try! CardItem.card(card).sealed(for: campaign), card: card)
    }
}
let items = generated.map { $0! }
generated.deallocate()
let sealed = items.map(\.sealed)
let generationSeconds = now() - generationStart

// MARK: The C baseline's inputs: the same sealed boxes, and each card's signed bytes

let messages = items.map { $0.card.statement.bytes }
let publicKeys = items.map { $0.card.signer.rawRepresentation }
let signatures = items.map { $0.card.signature.rawRepresentation }
let seed = cardKey.seed.withUnsafeBytes { Array($0) }

/// Runs the C loop over items `range` and returns how many opened and verified.
func cLoop(_ range: Range<Int>) -> UInt64 {
    func pointers(_ arrays: ArraySlice<[UInt8]>) -> [UnsafeMutablePointer<UInt8>] {
        arrays.map { bytes in
            let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            pointer.initialize(from: bytes, count: bytes.count)
            return pointer
        }
    }
    let s = pointers(sealed[range]), p = pointers(publicKeys[range]), m = pointers(messages[range]), g = pointers(signatures[range])
    defer { for list in [s, p, m, g] { for pointer in list { pointer.deallocate() } } }
    let sealedLengths = sealed[range].map(\.count), messageLengths = messages[range].map(\.count)
    return s.map { UnsafePointer($0) as UnsafePointer<UInt8>? }.withUnsafeBufferPointer { sp in
        p.map { UnsafePointer($0) as UnsafePointer<UInt8>? }.withUnsafeBufferPointer { pp in
            m.map { UnsafePointer($0) as UnsafePointer<UInt8>? }.withUnsafeBufferPointer { mp in
                g.map { UnsafePointer($0) as UnsafePointer<UInt8>? }.withUnsafeBufferPointer { gp in
                    cb_card_open_verify(seed, sp.baseAddress, sealedLengths, pp.baseAddress, mp.baseAddress, messageLengths,
                                        gp.baseAddress, range.count)
                }
            }
        }
    }
}

// MARK: Timing, C and Swift back to back in each round

var cSingle: [Double] = [], swiftSingle: [Double] = [], swiftAll: [Double] = []
var counted = 0
for round in 1...rounds {
    FileHandle.standardError.write(Data("round \(round) of \(rounds)…\n".utf8))
    var start = now()
    let good = cLoop(0..<count)
    cSingle.append(Double(count) / (now() - start))
    precondition(good == UInt64(count), "the C loop rejected \(UInt64(count) - good) cards")

    start = now()
    let single = CardTally.opening(sealed, with: cardKey, campaign: campaign, now: tallyTime, threads: 1)
    swiftSingle.append(Double(count) / (now() - start))

    start = now()
    let all = CardTally.opening(sealed, with: cardKey, campaign: campaign, now: tallyTime, threads: cores)
    swiftAll.append(Double(count) / (now() - start))
    precondition(single.valid.count == count && all.valid.count == count, "the tally did not count every card")
    counted = all.valid.count
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let c1 = median(cSingle), s1 = median(swiftSingle), sn = median(swiftAll)
let perCore = sn / (c1 * Double(cores))
let figures: [(String, String)] = [
    ("cards tallied", "\(counted) of \(count), generated in \(String(format: "%.1f", generationSeconds)) s"),
    ("C loop, 1 core (sealed-box open + Ed25519 verify)", String(format: "%.0f cards/s", c1)),
    ("Caucus tally, 1 thread", String(format: "%.0f cards/s = %.2f × C", s1, s1 / c1)),
    ("Caucus tally, all \(cores) cores", String(format: "%.0f cards/s = %.2f × C per core used (goal ≥ 0.8): %@", sn, perCore,
                                                perCore >= 0.8 ? "met" : "NOT met")),
    ("peak memory (whole process, cards and C inputs included)", String(format: "%.0f MiB", peakMiB())),
]
if json {
    let object: [String: Any] = [
        "cards": count, "cores": cores, "rounds": rounds, "c_cards_per_second_1_core": c1, "caucus_cards_per_second_1_thread": s1,
        "caucus_cards_per_second_all_cores": sn, "ratio_1_thread": s1 / c1, "ratio_per_core_all_cores": perCore,
        "goal_per_core": 0.8, "goal_met": perCore >= 0.8, "peak_memory_mib": peakMiB(),
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
} else {
    print("card tally benchmark (median of \(rounds) round\(rounds == 1 ? "" : "s"), C and Swift back to back in each)")
    for (name, value) in figures { print("  \(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(value)") }
}
