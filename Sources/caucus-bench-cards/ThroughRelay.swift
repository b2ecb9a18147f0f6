// The tally as an organizer meets it: a real caucus-relay process (SQLite, 127.0.0.1, port 0)
// holding a campaign's card inbox of cards and hostile items, and the real `caucus` CLI reading
// it to the printed tally (`cards tally`), to the filing (`cards export`) and to the organizer's
// report with its day-by-day count (`cards report --html`), timed run by run.
import CaucusClient
import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelayClient
import CaucusTestSupport
import Foundation

/// What `--through-relay` measured.
struct ThroughRelayResult {
    var cards: Int
    var hostile: Int
    var kdf: String
    var postSeconds: Double
    /// Wall seconds of each timed `caucus cards tally` and `caucus cards export`.
    var tally: [Double] = []
    var export: [Double] = []
    /// Wall seconds of each timed `caucus cards report --html`, and the days its chart covers.
    var report: [Double] = []
    var reportDays = 0
    /// Where the time goes, measured apart: a `caucus` process that only starts and parses
    /// (`caucus --help`), unlocking the account (Argon2id and opening the store, in this process),
    /// and the library's tally from the relay (reading the inbox and counting, in this process).
    var processStart = 0.0
    var unlock = 0.0
    var readAndCount = 0.0
    var cliPeakMiB = 0.0
}

/// Runs the benchmark: `cards` valid cards plus 5 % hostile items, `runs` timed runs of each command.
func throughRelay(cards count: Int, runs: Int, kdf: String) async throws -> ThroughRelayResult {
    let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let caucus = bin.appendingPathComponent("caucus").path
    guard FileManager.default.isExecutableFile(atPath: caucus) else { throw BenchFailure("caucus is not built at \(caucus)") }
    let directory = try TempDirectory()
    defer { directory.remove() }
    let relay = try await RelayProcess.start(executable: bin.appendingPathComponent("caucus-relay").path,
                                             dataDirectory: directory.file("relay"))
    defer { relay.kill() }

    // The organizer, through the CLI: an identity, a group, a campaign.
    let home = directory.file("rosa"), passphrase = "correct horse battery staple"
    var environment = ProcessInfo.processInfo.environment
    environment["CAUCUS_HOME"] = nil
    environment["CAUCUS_PASSPHRASE"] = passphrase
    let shell = environment
    @Sendable func cli(_ arguments: [String]) async throws -> (ChildProcess.Outcome, seconds: Double) {
        let start = ContinuousClock.now
        let child = try ChildProcess(caucus, arguments + ["--home", home], environment: shell)
        let outcome = await offCooperativePool { child.waitForExit() }
        let seconds = (ContinuousClock.now - start).seconds
        guard outcome.status == 0 else { throw BenchFailure("\(outcome)") }
        return (outcome, seconds)
    }
    _ = try await cli(["init", "--name", "Rosa", "--kdf", kdf, "--relay", relay.url])
    _ = try await cli(["group", "create", "Bench"])
    let languageFile = directory.file("card.txt")
    try cardLanguage.write(toFile: languageFile, atomically: true, encoding: .utf8)
    let created = try await cli(["campaign", "create", "Bench", "--union", "Warehouse Workers Union", "--employer", "Acme Logistics",
                                 "--unit", "All associates", "--unit-size", "\(count)", "--language-file", languageFile, "--json"]).0
    guard let id = (created.json as? [String: Any])?["id"] as? String else { throw BenchFailure("no campaign short hash: \(created)") }

    // The campaign record from the organizer's store, to seal cards to; the open is the unlock every command pays.
    let unlockStart = ContinuousClock.now
    let account = try await Account.open(home: ClientHome(explicit: home), passphrase: Passphrase(passphrase))
    let unlock = (ContinuousClock.now - unlockStart).seconds
    let campaign = try await account.findCampaign(id).campaign
    await account.close()

    FileHandle.standardError.write(Data("generating \(count) cards and 5 % hostile items…\n".utf8))
    let items = InboxItems(campaign: campaign, cards: count)
    FileHandle.standardError.write(Data("posting \(items.sealed.count) items to the relay's card inbox…\n".utf8))
    let postStart = ContinuousClock.now
    try await post(items.sealed, to: campaign, on: relay.url)
    var result = ThroughRelayResult(cards: count, hostile: items.hostile, kdf: kdf, postSeconds: (ContinuousClock.now - postStart).seconds)
    result.unlock = unlock

    // The tally must count exactly the valid cards and reject every hostile item.
    let checked = try await cli(["cards", "tally", id, "--json"]).0
    let object = checked.json as? [String: Any]
    guard object?["valid"] as? Int == count, object?["rejected"] as? Int == items.hostile else {
        throw BenchFailure("the tally did not count \(count) and reject \(items.hostile): \(checked.stdout.prefix(2_000))")
    }

    FileHandle.standardError.write(Data("timing \(runs) runs of `caucus cards tally`, `caucus cards export` and `caucus cards report`…\n".utf8))
    let csv = directory.file("cards.csv"), bundle = directory.file("evidence.json"), page = directory.file("report.html")
    for _ in 0..<runs {
        let (tally, tallySeconds) = try await cli(["cards", "tally", id])
        guard tally.stdout.hasPrefix("\(count) valid cards of a unit of \(count): 100.0%") else { throw BenchFailure("\(tally)") }
        result.tally.append(tallySeconds)
        let (export, exportSeconds) = try await cli(["cards", "export", id, "--csv", csv, "--bundle", bundle])
        guard export.stdout.contains("Wrote \(count) cards") else { throw BenchFailure("\(export)") }
        result.export.append(exportSeconds)
        let (report, reportSeconds) = try await cli(["cards", "report", id, "--html", page])
        guard report.status == 0 else { throw BenchFailure("\(report)") }
        result.report.append(reportSeconds)
    }
    let reported = try await cli(["cards", "report", id, "--json"]).0
    guard let progress = (reported.json as? [String: Any])?["progress"] as? [Any] else {
        throw BenchFailure("no progress in the report's JSON: \(reported.stdout.prefix(2_000))")
    }
    result.reportDays = progress.count
    result.cliPeakMiB = try await peakResidentMiB(of: caucus, ["cards", "tally", id, "--home", home], environment: shell)

    // Where the time goes.
    result.processStart = try await cli(["--help"]).seconds
    let opened = try await Account.open(home: ClientHome(explicit: home), passphrase: Passphrase(passphrase))
    let countStart = ContinuousClock.now
    let tally = try await opened.tally(id)
    result.readAndCount = (ContinuousClock.now - countStart).seconds
    await opened.close()
    guard tally.valid.count == count else { throw BenchFailure("the library's tally counted \(tally.valid.count)") }
    return result
}

/// Posts every item, each under a fresh item id, on connections of their own (as workers' devices
/// post, under throwaway keys), 8 at a time, 500 items a connection.
private func post(_ sealed: [[UInt8]], to campaign: Campaign, on url: String) async throws {
    let inbox = Data(campaign.cardKey.rawRepresentation)
    let chunks = stride(from: 0, to: sealed.count, by: 500).map { Array(sealed[$0..<min($0 + 500, sealed.count)]) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = chunks.makeIterator()
        func startNext() {
            guard let chunk = next.next() else { return }
            group.addTask {
                let client = try await RelayClient.connect(url: url, deviceKey: Ed25519.PrivateKey(), timeout: .seconds(60),
                                                           requestTimeout: .seconds(60))
                for item in chunk {
                    _ = try await client.request(.postCard(WirePostCard.with {
                        $0.inboxKey = inbox
                        $0.itemID = Data(Random.bytes(16))
                        $0.sealed = Data(item)
                    }))
                }
                await client.close()
            }
        }
        for _ in 0..<8 { startNext() }
        while try await group.next() != nil { startNext() }
    }
}

/// The peak resident memory of one run of a command (its `VmHWM` as it exits, read through
/// `/usr/bin/time` when it is installed), in MiB; 0 when it cannot be measured.
private func peakResidentMiB(of executable: String, _ arguments: [String], environment: [String: String]) async throws -> Double {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { return 0 }
    let child = try ChildProcess("/usr/bin/time", ["-f", "peak-kib %M", executable] + arguments, environment: environment)
    let outcome = await offCooperativePool { child.waitForExit() }
    guard let line = outcome.stderr.split(separator: "\n").last(where: { $0.hasPrefix("peak-kib ") }),
          let kib = Double(line.dropFirst("peak-kib ".count))
    else { return 0 }
    return kib / 1024
}

/// A campaign's inbox as the benchmark posts it: `cards` valid cards, each from its own signer,
/// and 5 % (rounded up) hostile items, each of which the tally must reject and none of which may
/// take a valid card's place.
struct InboxItems {
    /// Every item sealed to the card key, in posting order (the hostile ones spread among the cards).
    var sealed: [[UInt8]] = []
    var hostile = 0

    /// The kinds of hostile item, taken in turn.
    enum Hostile: CaseIterable {
        /// Bytes that are no sealed box.
        case unreadable
        /// A sealed card cut short.
        case truncated
        /// A valid card for another campaign with the same card key.
        case otherCampaign
        /// A card whose signature was altered.
        case badSignature
        /// A card whose name was altered after signing.
        case alteredField
        /// A card signed 400 days ago.
        case stale
        /// A card signed 3 days from now.
        case futureDated
        /// A valid card's sealed item posted a second time.
        case duplicate
        /// An older card under another DID with a valid card's name and contact.
        case samePerson
        /// A revocation of a valid card by someone who did not sign it.
        case revocationByOther
    }

    init(campaign: Campaign, cards count: Int) {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let recipient = try! X25519.PublicKey(converting: campaign.cardKey)
        @Sendable func fields(_ index: Int, at time: UInt64) -> CardFields {
            CardFields(name: "Worker \(index)", contact: "worker\(index)@example.org", phone: "+1 555 \(100_000 + index)",
                       employer: campaign.employer, language: campaign.language, date: CardFields.utcDate(time))
        }
        @Sendable func card(_ index: Int, at time: UInt64, for target: Campaign) -> Card {
            try! Card.sign(fields(index, at: time), for: target, by: Ed25519.PrivateKey(), at: time)
        }
        // The valid cards, signed over the last 180 days (so the report's count by day has a
        // change on every day), each by its own key.
        let spacing = 180 * 86_400_000 / UInt64(max(count, 1))
        let valid = concurrentMap(count, cores: cores) { index in card(index, at: now - 1_000 - UInt64(index) * spacing, for: campaign) }
        let validSealed = concurrentMap(count, cores: cores) { index in try! CardItem.card(valid[index]).sealed(for: campaign) }

        let other = try! Campaign.create(union: "Another Union", employer: campaign.employer, unitDescription: "x", unitSize: 5,
                                         language: campaign.language, cardKey: campaign.cardKey, organizer: Ed25519.PrivateKey(),
                                         createdAt: now)
        let day: UInt64 = 86_400_000
        hostile = (count * 5 + 99) / 100
        let kinds = Hostile.allCases
        let hostileSealed = concurrentMap(hostile, cores: cores) { index -> [UInt8] in
            let target = index * 7_919 % max(count, 1)
            switch kinds[index % kinds.count] {
            case .unreadable: return Random.bytes(validSealed[target].count)
            case .truncated: return Array(validSealed[target].prefix(validSealed[target].count / 2))
            case .otherCampaign: return try! CardItem.card(card(count + index, at: now, for: other)).sealed(for: other)
            case .badSignature:
                var bytes = CardItem.card(card(count + index, at: now, for: campaign)).encoded()
                bytes[bytes.count - 1] ^= 0x01
                return SealedBox.seal(bytes, to: recipient)
            case .alteredField:
                var bytes = CardItem.card(card(count + index, at: now, for: campaign)).encoded()
                bytes[1 + 32 + 4] ^= 0x01  // the name's first byte: type, campaign hash, length
                return SealedBox.seal(bytes, to: recipient)
            case .stale: return try! CardItem.card(card(count + index, at: now - 400 * day, for: campaign)).sealed(for: campaign)
            case .futureDated: return try! CardItem.card(card(count + index, at: now + 3 * day, for: campaign)).sealed(for: campaign)
            case .duplicate: return validSealed[target]
            case .samePerson:
                let older = valid[target].signedAt - day / 2
                let copy = try! Card.sign(fields(target, at: older), for: campaign, by: Ed25519.PrivateKey(), at: older)
                return try! CardItem.card(copy).sealed(for: campaign)
            case .revocationByOther:
                return try! CardItem.revocation(CardRevocation.sign(revoking: valid[target], by: Ed25519.PrivateKey(), at: now))
                    .sealed(for: campaign)
            }
        }
        // One hostile item after every 20 cards.
        var hostileItems = hostileSealed.makeIterator()
        sealed.reserveCapacity(count + hostile)
        for (index, item) in validSealed.enumerated() {
            sealed.append(item)
            if index % 20 == 19, let next = hostileItems.next() { sealed.append(next) }
        }
        while let next = hostileItems.next() { sealed.append(next) }
    }
}

/// `[transform(0), …, transform(count - 1)]` computed on `cores` threads.
func concurrentMap<T>(_ count: Int, cores: Int, _ transform: @Sendable (Int) -> T) -> [T] {
    let out = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
    out.initialize(repeating: nil)
    nonisolated(unsafe) let shared = out
    DispatchQueue.concurrentPerform(iterations: cores) { slice in
        for index in stride(from: slice, to: count, by: cores) { shared[index] = transform(index) }
    }
    defer {
        _ = out.deinitialize()
        out.deallocate()
    }
    return out.map { $0! }
}

/// The benchmark could not run or found a wrong result.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The card language of the benchmark's campaigns.
let cardLanguage = "I authorize the Warehouse Workers Union to represent me in collective bargaining with Acme Logistics."

/// Prints what `--through-relay` measured, as text or JSON.
func printThroughRelay(_ result: ThroughRelayResult, json: Bool) {
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    let goal = 2.0
    let met = (result.tally + result.export).allSatisfy { $0 <= goal }
    if json {
        let object: [String: Any] = [
            "cards": result.cards, "hostile_items": result.hostile, "kdf": result.kdf, "post_seconds": result.postSeconds,
            "tally_seconds": result.tally, "export_seconds": result.export, "goal_seconds": goal, "goal_met_every_run": met,
            "report_seconds": result.report, "report_days": result.reportDays,
            "process_start_seconds": result.processStart, "unlock_seconds": result.unlock,
            "library_read_and_count_seconds": result.readAndCount, "cli_tally_peak_memory_mib": result.cliPeakMiB,
        ]
        print(String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        return
    }
    func runs(_ values: [Double]) -> String {
        values.map { String(format: "%.2f", $0) }.joined(separator: " ") + String(format: " s (median %.2f)", median(values))
    }
    let rest = median(result.tally) - result.processStart - result.unlock - result.readAndCount
    let figures: [(String, String)] = [
        ("inbox", "\(result.cards) cards + \(result.hostile) hostile items (5 %), posted in \(String(format: "%.1f", result.postSeconds)) s"),
        ("`caucus cards tally`, wall per run", runs(result.tally)),
        ("`caucus cards export`, wall per run", runs(result.export)),
        ("goal: ≤ 2 s wall each, on every run", met ? "met" : "NOT met"),
        ("`caucus cards report --html` (\(result.reportDays) days), wall per run", runs(result.report)),
        ("where a tally's time goes: process start (`--help`)", String(format: "%.2f s", result.processStart)),
        ("  unlocking the account (Argon2id \(result.kdf), store)", String(format: "%.2f s", result.unlock)),
        ("  reading the inbox and counting (library)", String(format: "%.2f s", result.readAndCount)),
        ("  the rest (printing, closing the store, exit)", String(format: "%.2f s", max(0, rest))),
        ("peak memory of one `caucus cards tally`", result.cliPeakMiB > 0 ? String(format: "%.0f MiB", result.cliPeakMiB) : "unknown"),
    ]
    print("card tally through a real caucus-relay and the caucus CLI")
    for (name, value) in figures { print("  \(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(value)") }
}
