import ArgumentParser
import CaucusProtocol
import CaucusRelay
import Foundation

/// `caucus-relay stats`: what a relay's store holds, as counts and sizes; never a key, id or payload.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Shows what the relay's store holds: devices, mailboxes, backlog, blobs, card inboxes, bans, size.",
        discussion: """
            Safe while the relay runs: it reads the store in one short transaction of its own. It shows \
            counts and sizes only, never a key, an id or a payload. The backlog is the deliveries not yet \
            acknowledged (one per message and recipient), including those expired but not yet swept. The \
            size is relay.sqlite with its WAL and shared-memory files, or the PostgreSQL database's size.
            """)

    /// The daemon, whose --data-dir and --store the parser may have given these options to.
    @ParentCommand var daemon: CaucusRelayCommand

    @OptionGroup var location: AdminStoreOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// What `--json` prints; times in Unix milliseconds, sizes in bytes.
    struct Report: Encodable {
        let store: String
        let location: String
        let devices: Int
        let mailboxes: Int
        let deliveriesWaiting: Int
        let messagesWaiting: Int
        let oldestUndeliveredAtMs: Int64?
        let oldestUndeliveredAgeSeconds: Int64?
        let groups: Int
        let blobs: Int
        let blobBytes: Int64
        let cardInboxes: Int
        let cardItems: Int
        let bannedDevices: Int
        let storeBytes: Int64
    }

    func run() async throws {
        try await location.withStore(daemon: daemon) { opened in
            let counts = try await opened.store.statistics()
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let age = counts.oldestUndeliveredAt.map { max(0, now - $0) / 1000 }
            let report = Report(
                store: opened.kind, location: opened.location, devices: counts.devices, mailboxes: counts.mailboxes,
                deliveriesWaiting: counts.deliveries, messagesWaiting: counts.messages,
                oldestUndeliveredAtMs: counts.oldestUndeliveredAt, oldestUndeliveredAgeSeconds: age,
                groups: counts.groups, blobs: counts.blobs, blobBytes: counts.blobBytes, cardInboxes: counts.cardInboxes,
                cardItems: counts.cardItems, bannedDevices: counts.bannedDevices, storeBytes: counts.storeBytes)
            if json { return try printJSON(report) }
            print(Self.text(report))
        }
    }

    /// The report as lines for people.
    static func text(_ report: Report) -> String {
        let oldest = report.oldestUndeliveredAgeSeconds.map { "; the oldest accepted \(duration($0)) ago" } ?? ""
        let kind = report.store == "sqlite" ? "SQLite" : "PostgreSQL"
        return """
            store:        \(report.location) (\(kind)), \(ByteCountText.describe(UInt64(max(0, report.storeBytes))))
            devices:      \(report.devices) known, \(report.mailboxes) with undelivered messages
            backlog:      \(report.deliveriesWaiting) deliveries waiting, of \(report.messagesWaiting) messages\(oldest)
            groups:       \(report.groups) routes
            blobs:        \(report.blobs), \(ByteCountText.describe(UInt64(max(0, report.blobBytes))))
            card inboxes: \(report.cardInboxes), \(report.cardItems) items
            banned:       \(report.bannedDevices) devices
            """
    }

    /// Seconds as the two largest units: `45 s`, `3 min 20 s`, `5 h 12 min`, `2 d 4 h`.
    static func duration(_ seconds: Int64) -> String {
        switch seconds {
        case ..<60: "\(seconds) s"
        case ..<3_600: "\(seconds / 60) min \(seconds % 60) s"
        case ..<86_400: "\(seconds / 3_600) h \(seconds % 3_600 / 60) min"
        default: "\(seconds / 86_400) d \(seconds % 86_400 / 3_600) h"
        }
    }
}
