import ArgumentParser
import CaucusCrypto
import CaucusProtocol
import CaucusTestSupport
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `scripts/soak`: load and faults against a real relay process.
@main
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caucus-soak",
        abstract: "Many clients send and receive through a real caucus-relay for minutes while it is killed and restarted.",
        discussion: """
            Each client holds a WebSocket to the relay on 127.0.0.1, acknowledges what it receives and, at the \
            given total rate, sends 256-byte messages to random other clients, retrying under the same id while \
            the relay is away. The relay is killed with SIGKILL and restarted on the same file and port --kills \
            times, evenly spread. Afterwards every message the relay accepted must have reached its recipient \
            exactly as sent; a message delivered again after the relay confirmed its acknowledgement is a failure.

            Beside them runs one real client pair made with the client library: a sender keeps its account open \
            and sends encrypted messages throughout; a receiver reads every few seconds in sessions of two reads, its \
            data on an 8 MiB tmpfs that is filled (while a session is open) before the first kill and freed after it. \
            While the disk is full, deliveries the store cannot take must stay unacknowledged and reads must fail \
            with "the disk is full"; at the end the receiver must have every message the relay accepted from the \
            sender once, in order, byte for byte, and its store must pass SQLite's quick_check. Mounting needs \
            root: --full-disk-client auto skips that client (and says so) where it cannot mount, require fails.

            Exit status 1 when anything was lost, corrupted or redelivered after a confirmed ack, or the full-disk \
            client failed.
            """,
        version: CaucusRelease.versionLine("caucus-soak"))

    /// Whether the client whose disk fills up runs.
    enum FullDiskMode: String, ExpressibleByArgument, CaseIterable {
        case auto, require, off
    }

    @Option(help: "Concurrent clients.") var clients = 1_000
    @Option(help: "Seconds of load.") var duration = 300.0
    @Option(help: "Messages per second, all clients together.") var rate = 200.0
    @Option(help: "Times the relay is killed (SIGKILL) and restarted during the run.") var kills = 2
    @Option(help: "The caucus-relay executable.") var relay: String
    @Option(help: "The client whose disk fills up: auto (skipped, with a note, where a tmpfs cannot be mounted), require or off.")
    var fullDiskClient: FullDiskMode = .auto
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        guard Int(limit.rlim_cur) > clients * 2 + 64 else {
            throw ValidationError("the open-file limit (\(limit.rlim_cur)) is too low for \(clients) clients")
        }
        let teardown = Teardown()
        await teardown.runOnSignals()
        defer { teardown.run() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-soak-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        teardown.add { try? FileManager.default.removeItem(atPath: directory) }
        let process = RestartableRelay(binary: relay, dataDirectory: directory, port: try freeLoopbackPort())
        teardown.add { process.kill() }
        try await process.start()
        let (fullDisk, skipped) = try await startFullDiskClient(relayURL: process.url, directory: directory, teardown: teardown)

        var logger = Logger(label: "soak")
        logger.logLevel = .critical
        let ledger = Ledger()
        let soakClients = (0..<clients).map { SoakClient(index: $0, url: process.url, ledger: ledger, logger: logger) }
        let clock = ContinuousClock()
        let start = clock.now
        progress("\(clients) clients connecting to \(process.url)")
        let runners = soakClients.map { client in Task { await client.run() } }
        let end = start + .seconds(duration)
        let fullDiskRun = fullDisk.map { client in
            Task { await client.run(from: start, until: end, schedule: FullDiskSchedule(duration: duration, kills: kills)) }
        }

        // The sender: one message every 1/rate seconds from a random client to another.
        let sender = Task {
            var sends: [Task<Bool, Never>] = []
            var next = clock.now
            while clock.now < end {
                let from = soakClients.randomElement()!, to = soakClients.randomElement()!
                guard from !== to else { continue }
                let payload = Data(Random.bytes(256)), id = Data(Random.bytes(16))
                sends.append(Task { await from.send(payload, id: id, to: to, deadline: end + .seconds(120)) })
                next = next + .seconds(1 / rate)
                try? await Task.sleep(until: next)
            }
            var unsent = 0
            for send in sends where !(await send.value) { unsent += 1 }
            return (sends.count, unsent)
        }

        // The faults, and memory samples every 5 s.
        var lives: [[Int]] = [[]]
        var killTimes = (0..<kills).map { start + .seconds(duration * Double($0 + 1) / Double(kills + 1)) }
        var lastSample = clock.now
        while clock.now < end {
            try await Task.sleep(for: .milliseconds(250))
            if clock.now - lastSample >= .seconds(5) {
                lastSample = clock.now
                if let rss = process.residentKiB { lives[lives.count - 1].append(rss) }
                progress("t=\(Int((clock.now - start) / .seconds(1))) s: \(ledger.finish().accepted) accepted, \(ledger.outstanding) in flight, relay \(process.residentKiB.map { "\($0 / 1024) MiB" } ?? "-")")
            }
            if let kill = killTimes.first, clock.now >= kill {
                killTimes.removeFirst()
                progress("killing the relay (SIGKILL) and starting it again on the same file and port")
                process.kill()
                ledger.count { $0.kills += 1 }
                fullDisk?.relayKilled()
                try await Task.sleep(for: .seconds(1))
                try await process.start()
                lives.append([])
            }
        }
        let (sent, unsent) = await sender.value
        progress("load over: \(sent) messages sent (\(unsent) never accepted); waiting for every accepted message to arrive")
        let drainEnd = clock.now + .seconds(120)
        while ledger.outstanding > 0, clock.now < drainEnd { try await Task.sleep(for: .milliseconds(200)) }
        if let rss = process.residentKiB { lives[lives.count - 1].append(rss) }
        await fullDiskRun?.value
        let fullDiskReport = await fullDisk?.finish(deadline: clock.now + .seconds(120))
        runners.forEach { $0.cancel() }
        for runner in runners { await runner.value }
        let status = try await process.stop()

        var report = ledger.finish()
        report.clients = clients
        report.seconds = (clock.now - start) / .seconds(1)
        report.relayRSS = lives
        report.fullDisk = fullDiskReport
        report.fullDiskSkipped = skipped
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("""
                clients \(report.clients), \(String(format: "%.0f", report.seconds)) s, relay killed \(report.kills) times, \
                clean exit at the end: \(status == 0 ? "yes" : "no (status \(status))")
                accepted \(report.accepted), delivered \(report.delivered), lost \(report.lost), corrupted \(report.corrupted)
                redelivered \(report.redelivered) (after a confirmed ack: \(report.redeliveredAfterConfirmedAck)); \
                resent \(report.resent); reconnects \(report.reconnects); never accepted \(unsent)
                relay RSS per life (KiB, every 5 s): \(report.relayRSS.map { $0.map(String.init).joined(separator: " ") }.joined(separator: " | "))
                """)
            if let disk = report.fullDisk {
                print("""
                    full-disk client: sent \(disk.sent) (\(disk.queued) queued while the relay was away), accepted \(disk.accepted), \
                    delivered \(disk.delivered), lost \(disk.lost), duplicates \(disk.duplicates), corrupted \(disk.corrupted), \
                    in order: \(disk.inOrder ? "yes" : "no"); store quick_check: \(disk.quickCheck)
                    full-disk client, while full: \(disk.readsWhileFull) reads, \(disk.diskFullFailures) refused with "the disk is full", \
                    \(disk.deliveriesRefused) deliveries the store could not take (not acknowledged), \(disk.storedWhileFull) messages \
                    shown, relay killed \(disk.killsWhileFull) times; \(disk.relayUnreachableReads) reads in the run found no relay
                    """)
                if let failure = disk.failure(killed: report.kills > 0) { print("full-disk client FAILED: \(failure)") }
            } else {
                print("full-disk client SKIPPED: \(report.fullDiskSkipped ?? "turned off (--full-disk-client off)")")
            }
        }
        if report.lost > 0 || report.corrupted > 0 || report.redeliveredAfterConfirmedAck > 0 || status != 0 { throw ExitCode(1) }
        if let failure = report.fullDisk?.failure(killed: report.kills > 0) {
            if json { progress("full-disk client FAILED: \(failure)") }
            throw ExitCode(1)
        }
    }

    /// Mounts the receiver's small disk and makes the full-disk client; where mounting is refused
    /// under `auto`, returns why it is skipped instead.
    func startFullDiskClient(relayURL: String, directory: String, teardown: Teardown) async throws -> (FullDiskClient?, skipped: String?) {
        guard fullDiskClient != .off else { return (nil, nil) }
        let disk: SmallDisk
        do {
            disk = try SmallDisk(at: (directory as NSString).appendingPathComponent("receiver"), bytes: 8 << 20)
        } catch let error as SmallDisk.Failure where fullDiskClient == .auto {
            progress("note: the full-disk client is SKIPPED: \(error)")
            return (nil, error.description)
        }
        teardown.add { disk.unmount() }
        return (try await FullDiskClient.start(relayURL: relayURL, directory: directory, disk: disk), nil)
    }
}
