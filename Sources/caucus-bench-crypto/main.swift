// Times the Swift crypto core against plain C loops over libsodium in one run and prints
// ratios (Swift rate / C rate), plus the session and group figures of the sessions issue and the
// hybrid (ML-KEM) session setup against X3DH alone.
// Usage: caucus-bench-crypto [--quick] [--json]
import CaucusBenchC
import CaucusCrypto
import CaucusProtocol
#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: caucus-bench-crypto [--quick] [--json]
      --quick  3 short rounds per figure: a smoke run, not a measurement
      --json   print the figures as a JSON array instead of a table
    """
let arguments = Set(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print(usage)
    exit(0)
}
if arguments.contains("--version") {
    print(CaucusRelease.versionLine("caucus-bench-crypto"))
    exit(0)
}
let unknown = arguments.subtracting(["--quick", "--json"])
guard unknown.isEmpty else {
    var text = "caucus-bench-crypto: unknown option \(unknown.sorted().joined(separator: " "))\n\(usage)\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(2)
}
let quick = arguments.contains("--quick")
let json = arguments.contains("--json")
/// Alternating C/Swift rounds per operation. Each round gives one Swift/C ratio from two runs
/// back to back, so drift in the shared machine's speed cancels; the median ratio is reported.
let rounds = quick ? 3 : 15
/// Seconds each side runs per round.
let roundSeconds = quick ? 0.05 : 0.1

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Operations per second of `body(n)`, with `n` grown until a run lasts `roundSeconds`.
@MainActor func rate(_ body: (Int) -> Void) -> Double {
    var n = 1
    while true {
        let start = now()
        body(n)
        let elapsed = now() - start
        if elapsed >= roundSeconds { return Double(n) / elapsed }
        n = elapsed < roundSeconds / 20 ? n * 10 : Int(Double(n) * roundSeconds / max(elapsed, 1e-9) * 1.1) + 1
    }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// One reported figure.
struct Row {
    let name: String
    let baseline: String
    let baselineRate: Double?
    let rate: Double?
    let value: Double
    let unit: String
    let goal: String
    let met: Bool
}
var rows = [Row]()

/// Interleaves C and Swift rounds and records the median of the per-round Swift/C ratios (or, with
/// another `baseline`, of the per-round ratios of the second side's rate to the first's).
@MainActor func compare(_ name: String, goal: Double, baseline: String = "C loop", c: (Int) -> Void, swift: (Int) -> Void) {
    var cRates = [Double](), swiftRates = [Double](), ratios = [Double]()
    for round in 0..<rounds {
        // Alternate which side goes first, so neither always runs right after the other.
        if round % 2 == 0 {
            cRates.append(rate(c))
            swiftRates.append(rate(swift))
        } else {
            swiftRates.append(rate(swift))
            cRates.append(rate(c))
        }
        ratios.append(swiftRates.last! / cRates.last!)
    }
    let ratio = median(ratios)
    rows.append(Row(name: name, baseline: baseline, baselineRate: median(cRates), rate: median(swiftRates),
                    value: ratio, unit: "ratio", goal: goal > 0 ? ">= \(goal)" : "(no goal)", met: ratio >= goal))
}

/// Keeps the optimiser from discarding results.
var sink: UInt64 = 0

// MARK: Crypto core vs C (crypto core issue)

let seedBytes = (0..<32).map { UInt8($0) }
let identity = try Ed25519.PrivateKey(seed: SecureBytes(copying: seedBytes))
let message = CanonicalMessage(SigningContext("caucus/test-bench/v1"), fields: [.bytes([UInt8](repeating: 7, count: 200))])
let messageBytes = message.bytes
let signature = identity.signature(for: message)
let kib = [UInt8](repeating: 0x5a, count: 1024)
let key = SymmetricKey()
let keyBytes = key.bytes.withUnsafeBytes { Array($0) }
let sealed = XChaCha20Poly1305.seal(kib, using: key)
let agreement = X25519.PrivateKey(converting: identity)
let box = SealedBox.seal(kib, to: agreement.publicKey)

compare("Ed25519 sign (canonical message, \(messageBytes.count) B)", goal: 0.9,
        c: { n in sink &+= cb_sign(seedBytes, messageBytes, messageBytes.count, UInt64(n)) },
        swift: { n in sink &+= swiftSign(identity, message, iterations: n) })
compare("Ed25519 verify", goal: 0.9,
        c: { n in sink &+= cb_verify(identity.publicKey.rawRepresentation, signature.rawRepresentation, messageBytes, messageBytes.count, UInt64(n)) },
        swift: { n in sink &+= swiftVerify(identity.publicKey, signature, message, iterations: n) })
compare("XChaCha20-Poly1305 seal 1 KiB", goal: 0.9,
        c: { n in sink &+= cb_aead_seal(keyBytes, kib, kib.count, UInt64(n)) },
        swift: { n in sink &+= swiftSeal(key, kib, iterations: n) })
compare("XChaCha20-Poly1305 open 1 KiB", goal: 0.9,
        c: { n in sink &+= cb_aead_open(keyBytes, sealed, sealed.count, UInt64(n)) },
        swift: { n in sink &+= swiftOpen(key, sealed, iterations: n) })
compare("XChaCha20-Poly1305 seal 1 KiB into a reused buffer", goal: 0.9,
        c: { n in sink &+= cb_aead_seal(keyBytes, kib, kib.count, UInt64(n)) },
        swift: { n in sink &+= swiftSealIntoBuffer(key, kib, iterations: n) })
compare("XChaCha20-Poly1305 open 1 KiB into a reused buffer", goal: 0.9,
        c: { n in sink &+= cb_aead_open(keyBytes, sealed, sealed.count, UInt64(n)) },
        swift: { n in sink &+= swiftOpenIntoBuffer(key, sealed, iterations: n) })
// Not a goal: the same libsodium call made straight from Swift into a reused buffer, with no
// wrapper at all. It shows how close to the C loop any Swift caller can get on this machine.
compare("reference: bare libsodium open 1 KiB called from Swift", goal: 0,
        c: { n in sink &+= cb_aead_open(keyBytes, sealed, sealed.count, UInt64(n)) },
        swift: { n in sink &+= swiftBareOpen(keyBytes, sealed, iterations: n) })
compare("sealed box open 1 KiB", goal: 0.9,
        c: { n in sink &+= cb_box_seal_open(seedBytes, box, box.count, UInt64(n)) },
        swift: { n in sink &+= swiftSealedBoxOpen(agreement, box, iterations: n) })

// MARK: Sessions and groups (sessions issue)

/// A started 1:1 session pair between two fresh identities.
@MainActor func sessionPair(initiator: Ed25519.PrivateKey, responder: Ed25519.PrivateKey) throws -> (Session, Session) {
    let signed = SignedPrekey(id: 1, identity: responder)
    var a = try Session.initiate(identity: initiator, bundle: PrekeyBundle(identity: responder.publicKey, signedPrekey: signed, oneTimePrekey: nil))
    let (b, _) = try Session.respond(to: a.encrypt([1]), identity: responder, signedPrekey: { _ in signed }, oneTimePrekey: { _ in nil })
    return (a, b)
}

do {
    var (alice, bob) = try sessionPair(initiator: Ed25519.PrivateKey(), responder: Ed25519.PrivateKey())
    _ = try alice.decrypt(bob.encrypt([2]))
    compare("1:1 session encrypt+decrypt 1 KiB vs bare AEAD seal+open", goal: 0.5,
            c: { n in sink &+= cb_aead_round_trip(keyBytes, kib, kib.count, UInt64(n)) },
            swift: { n in for _ in 0..<n { sink &+= UInt64((try! bob.decrypt(alice.encrypt(kib))).plaintext[0]) } })
    // Not a goal: the same in C with nothing but two HMAC-SHA-256 chain steps added, the ceiling
    // for any ratchet built this way.
    compare("reference: C AEAD seal+open + 2 HMAC chain steps vs bare AEAD", goal: 0,
            c: { n in sink &+= cb_aead_round_trip(keyBytes, kib, kib.count, UInt64(n)) },
            swift: { n in sink &+= cb_ratchet_floor(keyBytes, kib, kib.count, UInt64(n)) })
}

/// A founder and one member of a group of `size`, both with their group state.
@MainActor func group(size: Int) throws -> (founder: Ed25519.PrivateKey, f: GroupSession, member: GroupSession, members: [Ed25519.PrivateKey], welcome: GroupWelcome) {
    let founder = Ed25519.PrivateKey()
    let members = (1..<size).map { _ in Ed25519.PrivateKey() }
    let (f, welcome) = try GroupSession.found(founder: founder, members: members.map { ($0.publicKey, .member) })
    let member = try GroupSession(welcome: welcome!, me: members[0].publicKey, device: members[0].publicKey, from: founder.publicKey)
    return (founder, f, member, members, welcome!)
}

do {
    var small = try group(size: 10)
    var large = try group(size: 10_000)
    // Interleaved rounds of send+receive of 1 KiB in each group; the ratio of costs should be ~1.
    var smallRates = [Double](), largeRates = [Double](), ratios = [Double]()
    for _ in 0..<rounds {
        smallRates.append(rate { n in for _ in 0..<n { sink &+= UInt64((try! small.member.decrypt(small.f.encrypt(kib, device: small.founder))).plaintext[0]) } })
        largeRates.append(rate { n in for _ in 0..<n { sink &+= UInt64((try! large.member.decrypt(large.f.encrypt(kib, device: large.founder))).plaintext[0]) } })
        ratios.append(smallRates.last! / largeRates.last!)
    }
    let costRatio = median(ratios)
    rows.append(Row(name: "group send+receive 1 KiB: cost at 10,000 members / at 10", baseline: "10 members",
                    baselineRate: median(smallRates), rate: median(largeRates), value: costRatio, unit: "ratio",
                    goal: "<= 1.2", met: costRatio <= 1.2))

    let entries = large.welcome.entries
    var verifyTimes = [Double]()
    for _ in 0..<(quick ? 1 : 3) {
        let start = now()
        let chain = try MembershipChain.verify(entries)
        verifyTimes.append(now() - start)
        sink &+= UInt64(chain.roster.count)
    }
    let verifySeconds = median(verifyTimes)
    rows.append(Row(name: "verify a 10,000-entry membership chain", baseline: "-", baselineRate: nil, rate: nil,
                    value: verifySeconds, unit: "s", goal: "< 1 s", met: verifySeconds < 1))

    // Removal: the founder already has a pairwise session with each of the 9,999 members.
    var sessions = try large.members.map { member in try sessionPair(initiator: large.founder, responder: member).0 }
    let victim = large.members[large.members.count / 2].publicKey
    let start = now()
    let (_, epochKey) = try large.f.remove(victim, by: large.founder)
    var payload = epochKey.serialized().withUnsafeBytes { Array($0) }
    for index in sessions.indices where large.members[index].publicKey != victim {
        sink &+= UInt64(sessions[index].encrypt(payload)[0])
    }
    let removeSeconds = now() - start
    payload.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] = 0 } }
    rows.append(Row(name: "remove 1 of 10,000: new epoch handed to 9,999 over pairwise sessions", baseline: "-",
                    baselineRate: nil, rate: nil, value: removeSeconds, unit: "s", goal: "< 3 s", met: removeSeconds < 3))
}

// MARK: Post-quantum session setup (post-quantum issue)

do {
    // The responder's prekeys as a device publishes them: before (X3DH only) and after (hybrid).
    let initiator = Ed25519.PrivateKey(), responder = Ed25519.PrivateKey()
    let classicalSigned = SignedPrekey(id: 1, identity: responder)
    let hybridSigned = SignedPrekey(id: SignedPrekey.announcesKEMPrekeys | 2, identity: responder)
    let oneTime = OneTimePrekey(id: 1), kem = KEMPrekey(id: 1, identity: responder)
    let classical = PrekeyBundle(identity: responder.publicKey, signedPrekey: classicalSigned, oneTimePrekey: oneTime)
    let hybrid = PrekeyBundle(identity: responder.publicKey, signedPrekey: hybridSigned, oneTimePrekey: oneTime, kemPrekey: kem)
    /// Starts a session from `bundle` and has the responder open the first message: the whole setup.
    func setup(_ bundle: PrekeyBundle) -> [UInt8] {
        var a = try! Session.initiate(identity: initiator, bundle: bundle)
        let first = a.encrypt(Array("hello".utf8))
        let signed = bundle.kemPrekey == nil ? classicalSigned : hybridSigned
        _ = try! Session.respond(to: first, identity: responder, signedPrekey: { _ in signed }, oneTimePrekey: { _ in oneTime },
                                 kemPrekey: { _ in kem })
        return first
    }
    compare("hybrid session setup (start, first message, respond) vs X3DH", goal: 0, baseline: "X3DH",
            c: { n in for _ in 0..<n { sink &+= UInt64(setup(classical)[0]) } },
            swift: { n in for _ in 0..<n { sink &+= UInt64(setup(hybrid)[0]) } })
    // Bytes on the wire: the bundle as the relay hands it out (owner, signed prekey, one-time
    // prekey id and key, KEM prekey) and the first message with a 5-byte text.
    let classicalBundleBytes = 32 + SignedPrekey.publishedByteCount + 4 + 32
    let hybridBundleBytes = classicalBundleBytes + KEMPrekey.publishedByteCount
    let classicalFirst = setup(classical).count, hybridFirst = setup(hybrid).count
    for (name, before, after) in [("bytes of a prekey bundle, hybrid / X3DH", classicalBundleBytes, hybridBundleBytes),
                                  ("bytes of a first message, hybrid / X3DH", classicalFirst, hybridFirst)] {
        rows.append(Row(name: "\(name) (\(before) -> \(after))", baseline: "X3DH", baselineRate: nil, rate: nil,
                        value: Double(after) / Double(before), unit: "ratio", goal: "(no goal)", met: true))
    }
    // A batch of prekeys as the reference client makes and publishes it (Account.prekeyBatch and
    // kemPrekeyBatch): 50 one-time X25519 prekeys before; now also 20 one-time ML-KEM-768
    // prekeys, each signed, and a last-resort one with each new signed prekey (weekly, not here).
    let x25519Batch = 50, kemBatch = 20
    compare("a prekey batch: 50 X25519 + 20 signed KEM vs 50 X25519", goal: 0, baseline: "X25519 only",
            c: { n in for i in 0..<(n * x25519Batch) { sink &+= UInt64(OneTimePrekey(id: UInt32(i)).id) } },
            swift: { n in
                for i in 0..<n {
                    for j in 0..<x25519Batch { sink &+= UInt64(OneTimePrekey(id: UInt32(i * x25519Batch + j)).id) }
                    for j in 0..<kemBatch { sink &+= UInt64(KEMPrekey(id: UInt32(i * kemBatch + j), identity: responder).publishedBytes[4]) }
                }
            })
    let batchBefore = x25519Batch * 36, batchAfter = batchBefore + kemBatch * KEMPrekey.publishedByteCount
    rows.append(Row(name: "bytes of that batch (\(batchBefore) -> \(batchAfter))", baseline: "X25519 only", baselineRate: nil, rate: nil,
                    value: Double(batchAfter) / Double(batchBefore), unit: "ratio", goal: "(no goal)", met: true))
}

// MARK: Report

func format(_ value: Double?, _ digits: Int) -> String {
    guard let value else { return "-" }
    let scale = pow(10.0, Double(digits))
    let rounded = (value * scale).rounded() / scale
    return digits == 0 ? String(Int(rounded)) : String(rounded)
}

if json {
    // Figures without a rate (the timed one-off operations) have null rates.
    func number(_ value: Double?) -> String { value == nil ? "null" : format(value, 0) }
    let items = rows.map { row in
        "{\"name\":\"\(row.name)\",\"baseline\":\"\(row.baseline)\",\"baseline_ops_per_s\":\(number(row.baselineRate)),"
            + "\"ops_per_s\":\(number(row.rate)),\"value\":\(format(row.value, 3)),\"unit\":\"\(row.unit)\","
            + "\"goal\":\"\(row.goal)\",\"met\":\(row.met)}"
    }
    print("[\n  " + items.joined(separator: ",\n  ") + "\n]")
} else {
    func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
    print(pad("operation", 72) + pad("baseline/s", 13) + pad("caucus/s", 13) + pad("result", 12) + "goal")
    for row in rows {
        let result = format(row.value, 3) + (row.unit == "s" ? " s" : "")
        print(pad(row.name, 72) + pad(format(row.baselineRate, 0), 13) + pad(format(row.rate, 0), 13)
              + pad(result, 12) + row.goal + (row.met ? "  ok" : "  GOAL MISSED"))
    }
    print("ratios: median of \(rounds) back-to-back rounds of \(roundSeconds) s per side; rates: medians (sink \(sink % 10))")
    let missed = rows.filter { !$0.met }
    if !missed.isEmpty {
        print("GOAL MISSED (\(missed.count) of \(rows.count)): " + missed.map(\.name).joined(separator: "; "))
    }
}
