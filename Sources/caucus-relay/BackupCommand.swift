import ArgumentParser
import CaucusRelay
import Foundation

/// `caucus-relay backup DEST`: a consistent copy of a relay's SQLite store, safe while it runs.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copies the relay's SQLite store to DEST, consistently, while the relay runs.",
        discussion: """
            Uses SQLite's online backup API: the copy is relay.sqlite as one commit left it, taken \
            without stopping the relay, then checked with PRAGMA quick_check. The store is \
            relay.sqlite in --data-dir (or CAUCUS_RELAY_DATA_DIR, or the --config file's data-dir), as for the daemon. To restore: stop the \
            relay, put the copy in the data directory as relay.sqlite, delete relay.sqlite-wal and \
            relay.sqlite-shm, start the relay. Clients repair their groups when they next connect \
            (README: backup and restore). A PostgreSQL store is backed up with pg_dump instead.
            """)

    /// The daemon's options: `--data-dir` (or CAUCUS_RELAY_DATA_DIR, or `--config`) names the store to copy.
    @ParentCommand var relay: CaucusRelayCommand

    // Declared for this command's help too; the parser may hand them to the daemon's options.
    @Option(help: "The relay's configuration file, for its data-dir. [CAUCUS_RELAY_CONFIG]")
    var config: String?

    @Option(help: "The relay's data directory, holding relay.sqlite. [CAUCUS_RELAY_DATA_DIR, default ./caucus-relay-data]")
    var dataDir: String?

    @Argument(help: "Where to write the copy (a new file).")
    var destination: String

    @Flag(help: "Overwrite DEST if it exists.")
    var force = false

    func run() throws {
        let directory = try RelaySettings(configPath: config ?? relay.config).dataDirectory(dataDir ?? relay.dataDir)
        let source = (directory as NSString).appendingPathComponent("relay.sqlite")
        let report: SQLiteRelayBackup.Report
        do { report = try SQLiteRelayBackup.backup(from: source, to: destination, overwrite: force) } catch {
            throw failing(error.description)
        }
        print("copied \(source) to \(report.destination): \(report.pages) pages, \(report.bytes) bytes, quick_check ok")
    }
}
