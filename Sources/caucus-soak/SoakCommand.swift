import ArgumentParser
import CaucusCrypto
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
            exactly as sent; a message delivered again after the relay confirmed its acknowledgement is a failure. \
            Exit status 1 when anything was lost, corrupted or redelivered after a confirmed ack.
            """)

    @Option(help: "Concurrent clients.") var clients = 1_000
    @Option(help: "Seconds of load.") var duration = 300.0
    @Option(help: "Messages per second, all clients together.") var rate = 200.0
    @Option(help: "Times the relay is killed (SIGKILL) and restarted during the run.") var kills = 2
    @Option(help: "The caucus-relay executable.") var relay: String
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        guard Int(limit.rlim_cur) > clients * 2 + 64 else {
            throw ValidationError("the open-file limit (\(limit.rlim_cur)) is too low for \(clients) clients")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-soak-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = RelayProcess(binary: relay, dataDirectory: directory, port: try RelayProcess.freePort())
        try await process.start()

        var logger = Logger(label: "soak")
        logger.logLevel = .critical
        let ledger = Ledger()
        let soakClients = (0..<clients).map { SoakClient(index: $0, url: process.url, ledger: ledger, logger: logger) }
        let clock = ContinuousClock()
        let start = clock.now
        progress("\(clients) clients connecting to \(process.url)")
        let runners = soakClients.map { client in Task { await client.run() } }

        // The sender: one message every 1/rate seconds from a random client to another.
        let end = start + .seconds(duration)
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
        runners.forEach { $0.cancel() }
        for runner in runners { await runner.value }
        let status = process.stop()

        var report = ledger.finish()
        report.clients = clients
        report.seconds = (clock.now - start) / .seconds(1)
        report.relayRSS = lives
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
        }
        if report.lost > 0 || report.corrupted > 0 || report.redeliveredAfterConfirmedAck > 0 || status != 0 { throw ExitCode(1) }
    }

    func progress(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
}
