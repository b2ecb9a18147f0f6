// The benchmark's figures, as a plain-text table or JSON.
import Foundation

struct BenchReport: Codable, Sendable {
    var build: String
    var cores: Int
    var setup: String
    var storeDirectory: String
    var fileSystem: String
    var storageBaseline: StorageBaselineResult?
    var throughput: [ThroughputResult] = []
    var idleMemory: IdleMemoryResult?
    var groupFanout: GroupFanoutResult?
    var storeCommit: StoreCommitResult?

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        var out: [String] = []
        out.append("Caucus relay benchmark")
        out.append("  \(setup)")
        out.append("  store: \(storeDirectory) (\(fileSystem)); build: \(build); \(cores) cores")
        if build == "debug" {
            out.append("  debug build: the figures are not representative (scripts/bench-relay builds release)")
        }

        if let b = storageBaseline {
            out.append("")
            out.append("0. Storage alone, in this run: GRDB inserts of \(bytes(b.payloadBytes)) rows into SQLite "
                       + "(WAL, synchronous=FULL), \(String(format: "%.0f", b.seconds)) s each")
            out.append(contentsOf: align([
                ["1 row per commit", String(format: "%.0f rows/s", b.rowsPerSecondOnePerCommit)],
                ["\(b.batchRows) rows per commit", String(format: "%.0f rows/s", b.rowsPerSecondBatched)],
            ]).map { "   " + $0 })
        }

        if !throughput.isEmpty {
            let first = throughput[0]
            out.append("")
            let load = first.offeredPerSecond.map { String(format: "open loop at %.0f msg/s offered in all", $0) }
                ?? "\(first.inFlightPerSender) sends in flight per sender"
            out.append("1. End-to-end delivery: \(bytes(first.payloadBytes)) messages, each sender to one receiver, "
                       + "\(load), acks in batches of \(first.ackBatch)")
            out.append("   msg/s: Delivery pushes read by receivers inside the window; "
                       + String(format: "warm-up %.1f s before it excluded", first.warmupSeconds))
            out.append("   latency: send request \(first.offeredPerSecond == nil ? "issued" : "planned") -> Delivery push read "
                       + "by the receiver (HdrHistogram, µs), for every message sent inside the window")
            var rows = [["store", "connections", "senders", "receivers", "window s", "delivered", "msg/s", "samples",
                         "p50 µs", "p90 µs", "p99 µs", "max µs", "errors", "connect s", "vs 1/commit", "vs 64/commit"]]
            for r in throughput {
                rows.append([
                    r.store, "\(r.connections)", "\(r.senders)", "\(r.receivers)", String(format: "%.2f", r.measuredSeconds),
                    "\(r.deliveredInWindow)", String(format: "%.0f", r.deliveredPerSecond), "\(r.latencySamples)",
                    "\(r.latencyP50Microseconds)", "\(r.latencyP90Microseconds)", "\(r.latencyP99Microseconds)",
                    "\(r.latencyMaxMicroseconds)", "\(r.sendErrors + r.ackErrors + r.undelivered)",
                    String(format: "%.2f", r.connectSeconds),
                    storageBaseline.map { String(format: "%.2f", r.deliveredPerSecond / $0.rowsPerSecondOnePerCommit) } ?? "-",
                    storageBaseline.map { String(format: "%.2f", r.deliveredPerSecond / $0.rowsPerSecondBatched) } ?? "-",
                ])
            }
            out.append(contentsOf: align(rows).map { "   " + $0 })
            let costed = throughput.filter { $0.cpu != nil || $0.generator == .lean }
            if !costed.isEmpty {
                out.append("   Load generator and CPU over the window, as % of one core and µs per message delivered in it")
                out.append("   (generator: this whole process, getrusage; relay: the caucus-relay process, /proc/PID/stat);")
                out.append("   send lag: how late the lean generator's sends left after their planned times, its own delay")
                out.append("   inside the latency above:")
                var cost = [["store", "connections", "generator", "generator %", "generator µs/msg", "send lag p50 / p99 µs",
                             "relay %", "relay µs/msg", "acks", "ids/ack"]]
                for r in costed {
                    cost.append([
                        r.store, "\(r.connections)", r.generator.rawValue,
                        r.cpu.map { String(format: "%.1f", $0.generatorPercentOfCore) } ?? "-",
                        r.cpu.map { String(format: "%.1f", $0.generatorMicrosecondsPerMessage) } ?? "-",
                        r.sendLagP50Microseconds.flatMap { p50 in r.sendLagP99Microseconds.map { "\(p50) / \($0)" } } ?? "-",
                        r.cpu?.relayPercentOfCore.map { String(format: "%.1f", $0) } ?? "-",
                        r.cpu?.relayMicrosecondsPerMessage.map { String(format: "%.1f", $0) } ?? "-",
                        r.acksSent.map { "\($0)" } ?? "-",
                        r.acksSent.flatMap { acks in
                            r.acknowledgedIDs.map { acks > 0 ? String(format: "%.1f", Double($0) / Double(acks)) : "-" }
                        } ?? "-",
                    ])
                }
                out.append(contentsOf: align(cost).map { "   " + $0 })
            }
            if storageBaseline != nil {
                out.append("   vs …/commit: delivered msg/s divided by part 0's rows/s (each message also writes a delivery")
                out.append("   row, its acknowledgement deletes it, and both travel over WebSocket)")
            }
            let sqlite = [BenchStore.sqlite.label, BenchStore.sqliteProcess.label]
            let baselines = Dictionary(throughput.filter { sqlite.contains($0.store) }.map { ($0.connections, $0) },
                                       uniquingKeysWith: { first, _ in first })
            let compared = throughput.filter { !sqlite.contains($0.store) && baselines[$0.connections] != nil }
            if !compared.isEmpty {
                out.append("   Against the single SQLite relay at the same connections, in this run "
                           + "(msg/s: higher is better; p99: lower is better):")
                var ratios = [["store", "connections", "msg/s ratio", "p99 ratio"]]
                for r in compared {
                    let base = baselines[r.connections]!
                    ratios.append([r.store, "\(r.connections)",
                                   String(format: "%.2f", r.deliveredPerSecond / max(base.deliveredPerSecond, 1e-9)),
                                   String(format: "%.2f", Double(r.latencyP99Microseconds) / Double(max(base.latencyP99Microseconds, 1)))])
                }
                out.append(contentsOf: align(ratios).map { "   " + $0 })
                out.append("   Every relay instance and every client run in this one process on these cores, beside the")
                out.append("   PostgreSQL server: two instances here share the machine one would have; they show the cost")
                out.append("   of crossing instances, not the gain of a second machine.")
            }
            for r in throughput where r.sendErrors + r.ackErrors + r.undelivered > 0 {
                out.append("   \(r.store), \(r.connections) connections: \(r.sendErrors) send errors, \(r.ackErrors) ack errors, "
                           + "\(r.undelivered) accepted but undelivered; first: \(r.firstError ?? "none")")
            }
        }

        if let m = idleMemory {
            out.append("")
            out.append("2. Memory per idle authenticated connection (VmRSS before and after opening them"
                       + (m.allocatorTrimmed ? "; malloc_trim(0) before the first reading)" : ")"))
            out.append(contentsOf: align([
                ["idle connections", "\(m.connections)"],
                ["VmRSS before", "\(m.residentBeforeKiB) KiB"],
                ["VmRSS after", "\(m.residentAfterKiB) KiB"],
                ["client+relay per connection (both ends in this process)",
                 String(format: "%.1f KiB", m.clientPlusRelayKiBPerConnection)],
            ] + (m.relayOnlyKiBPerConnection.map { relayOnly in [
                ["caucus-relay daemon VmRSS before (own process)", "\(m.daemonResidentBeforeKiB ?? 0) KiB"],
                ["caucus-relay daemon VmRSS after", "\(m.daemonResidentAfterKiB ?? 0) KiB"],
                ["relay alone per connection", String(format: "%.1f KiB", relayOnly)],
            ] } ?? [])).map { "   " + $0 })
            if let note = m.daemonNote { out.append("   relay alone: not measured: \(note)") }
        }

        if let g = groupFanout {
            out.append("")
            out.append("3. One group message (\(bytes(g.payloadBytes))) to a route of \(g.groupDevices) devices "
                       + "(\(g.recipients) recipients: all but the sender)")
            out.append(contentsOf: align([
                ["route creation (\(g.routeChanges) signed UpdateGroupRouting, \(g.groupDevices) devices)",
                 ms(g.routeCreationMilliseconds)],
                ["(a) all offline: send -> SendAccepted (stored once + \(g.recipients) delivery rows, durable)",
                 ms(g.offlineSendAcceptedMilliseconds)],
                ["(b) \(g.connectedDevices) connected, \(g.recipients - g.connectedDevices) offline: send -> SendAccepted",
                 ms(g.connectedSendAcceptedMilliseconds)],
                ["    send -> first connected device has the Delivery push", ms(g.firstPushMilliseconds)],
                ["    send -> median connected device has it", ms(g.medianPushMilliseconds)],
                ["    send -> p99 connected device has it", ms(g.p99PushMilliseconds)],
                ["    send -> all \(g.connectedDevices) connected devices have it", ms(g.allConnectedPushedMilliseconds)],
            ]).map { "   " + $0 })
            if g.connectedMissed > 0 {
                out.append("   \(g.connectedMissed) connected devices never got the push")
            }
        }
        if let s = storeCommit {
            out.append("")
            out.append("4. The store alone, no network: \(s.commits) commits on one thread, each of \(s.messagesPerCommit) "
                       + "one-recipient \(bytes(s.payloadBytes)) messages to \(s.recipients) devices and the")
            out.append("   acknowledgements of the messages two commits before (SQLite WAL synchronous=FULL, the relay's settings)")
            out.append(contentsOf: align([
                ["committing thread CPU per message (stored, delivery row, acknowledged)",
                 String(format: "%.1f µs", s.cpuMicrosecondsPerMessage)],
                ["committing thread CPU per request (\(s.requests) messages and acknowledgements)",
                 String(format: "%.1f µs", s.cpuMicrosecondsPerRequest)],
                ["wall time per commit, fdatasync included", String(format: "%.2f ms", s.wallMillisecondsPerCommit)],
                ["messages per second", String(format: "%.0f", s.messagesPerSecond)],
            ]).map { "   " + $0 })
        }
        return out.joined(separator: "\n")
    }

    private func bytes(_ count: Int) -> String {
        count % 1024 == 0 ? "\(count / 1024) KiB" : "\(count) B"
    }

    private func ms(_ value: Double?) -> String {
        value.map { String(format: "%.1f ms", $0) } ?? "n/a"
    }

    /// Columns padded to their widest cell; the first column left-aligned, the rest right.
    private func align(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
    }
}
