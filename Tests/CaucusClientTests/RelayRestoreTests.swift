import CaucusLock
import CaucusTestSupport
import Foundation
import GRDB
import Testing

/// An operator backs up a running `caucus-relay` with `caucus-relay backup`, membership changes
/// follow, and the relay is restored from the copy: real relay and client processes, real files.
@Suite("Relay backup and restore: groups stay safe", .serialized, .timeLimit(.minutes(10)))
struct RelayRestoreTests {
    @Test("After a restore that lost a removal, a welcome and a join request, one admin sync repairs the group: the removed member reads nothing new, the others write and read, the joiners get in")
    func restoreLosesMembershipChanges() async throws {
        try await withRelayProcess { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira", "Chen"], relayURL: relay.url, in: directory)
            let (rosa, tomasz, amira, chen) = (workers[0], workers[1], workers[2], workers[3])
            try await rosa.succeed("send", CLIWorker.group, "before the backup")
            for worker in workers.dropFirst() { try await worker.succeed("read") }

            let backup = directory.file("relay-backup.sqlite")
            let copied = try await relay.backup(to: backup)
            #expect(copied.status == 0 && copied.stdout.contains("quick_check ok"), "\(copied)")
            // A second backup to the same file is refused unless asked for (the store found
            // through the relay's settings file this time).
            let again = try await relay.backup(to: backup, throughConfig: true)
            #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again)")

            // After the backup: Rosa removes Chen (Tomasz takes it in, Amira and Chen do not); Rosa
            // admits Ed, who does not come back for his welcome before the restore; and Dana asks
            // to join while Rosa's caucus is not running.
            try await rosa.succeed("group", "remove", CLIWorker.group, "Chen")
            try await tomasz.succeed("sync")
            let ed = try await CLIWorker.make("Ed", in: directory, relayURL: nil)
            let asked = try await ed.succeed("join", try await rosa.invite(), "--wait", "0", "--json")
            #expect((asked.json as? [String: Any])?["pending"] as? Bool == true, "\(asked)")
            try await eventually("Rosa to admit Ed", within: .seconds(90)) {
                try await rosa.succeed("sync")
                return try await rosa.memberNames() == ["Amira", "Ed", "Rosa", "Tomasz"]
            }
            let dana = try await CLIWorker.make("Dana", in: directory, relayURL: nil)
            let pending = try await dana.succeed("join", try await rosa.invite(), "--wait", "0", "--json")
            #expect((pending.json as? [String: Any])?["pending"] as? Bool == true, "\(pending)")

            try await relay.restore(from: backup)

            // One sync by Rosa repairs the group: Amira, who had seen neither the removal nor its
            // key, gets both from Rosa, Chen learns he was removed, and Ed gets his welcome again.
            try await rosa.succeed("sync")
            for worker in [tomasz, chen] { try await worker.succeed("sync") }
            try await eventually("Amira to see Chen removed and Ed added", within: .seconds(90)) {
                try await amira.succeed("sync")
                // Ed has not told the group his name yet: four members, Chen not among them.
                let members = try #require(try await amira.json("group", "members", "--sync", CLIWorker.group) as? [[String: Any]])
                return members.count == 4 && !members.contains { $0["name"] as? String == "Chen" }
            }
            try await eventually("Ed to be in the group", within: .seconds(90)) {
                try await ed.succeed("sync")
                return try await ed.groupNames() == [CLIWorker.group]
            }
            let chenGroups = try #require(try await chen.json("group", "list", "--sync") as? [[String: Any]])
            #expect(chenGroups.first?["removed"] as? Bool == true, "Chen's caucus should know he was removed: \(chenGroups)")
            let texts = ["Amira after the restore", "Tomasz after the restore", "Rosa after the restore", "Ed after the restore"]
            for (worker, text) in zip([amira, tomasz, rosa, ed], texts) {
                try await worker.succeed("send", CLIWorker.group, text)
            }
            try await expectRead(texts, by: [rosa, tomasz, amira, ed])

            // Dana's caucus sends her unanswered request again; Rosa's next sync admits her.
            try await dana.succeed("sync")
            try await rosa.succeed("sync")
            try await eventually("Dana to be admitted", within: .seconds(90)) {
                try await dana.succeed("sync")
                return try await dana.groupNames() == [CLIWorker.group]
            }
            try await dana.succeed("send", CLIWorker.group, "Dana after the restore")
            try await expectRead(["Dana after the restore"], by: [rosa, tomasz, amira, ed])

            try await chen.succeed("sync")
            for text in texts + ["Dana after the restore"] {
                #expect(try await chen.historyLines(withText: text).isEmpty, "Chen, removed after the backup, read \(text)")
            }
            #expect(try await chen.historyLines(withText: "before the backup").count == 1)
        }
    }

    /// Waits until each reader has every one of `texts` that it did not write itself.
    private func expectRead(_ texts: [String], by readers: [CLIWorker]) async throws {
        for reader in readers {
            try await eventually("\(reader.name) to read every message sent after the restore", within: .seconds(90)) {
                try await reader.succeed("sync")
                for text in texts where !text.hasPrefix(reader.name) {
                    guard try await !reader.historyLines(withText: text).isEmpty else { return false }
                }
                return true
            }
        }
    }

    @Test("A removal whose route change the relay refuses is not reported as done")
    func refusedRouteIsNotSuccess() async throws {
        try await withRelayProcess { relay, directory in
            let workers = try await makeGroup(["Rosa", "Tomasz", "Amira"], relayURL: relay.url, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            // The operator (or whoever holds the relay) moves the route ahead of the membership list.
            try await relay.editStore { db in try db.execute(sql: "UPDATE groups SET serial = serial + 5") }

            let removal = try await rosa.run("group", "remove", CLIWorker.group, "Amira")
            #expect(removal.status != 0, "\(removal)")
            #expect(!removal.stdout.contains("Removed"), "\(removal)")
            #expect(removal.stderr.contains("the relay's route does not follow it"), "\(removal)")
            // The group itself moved on: the others still hear from Rosa, in the new epoch.
            try await rosa.succeed("send", CLIWorker.group, "after the refused route change")
            try await eventually("Tomasz to read Rosa", within: .seconds(90)) {
                try await tomasz.succeed("sync")
                return try await !tomasz.historyLines(withText: "after the refused route change").isEmpty
            }
        }
    }
}

/// A real `caucus-relay` process on a real SQLite file, restartable on the same port.
final class RestorableRelay: Sendable {
    let directory: TempDirectory
    let dataDirectory: String
    let port: Int
    /// The running process, replaced on restart.
    private let current: Locked<RelayProcess>

    var url: String { "ws://127.0.0.1:\(port)" }
    var storePath: String { (dataDirectory as NSString).appendingPathComponent("relay.sqlite") }

    init(directory: TempDirectory) async throws {
        self.directory = directory
        dataDirectory = directory.file("relay-data")
        let process = try await RelayProcess.start(dataDirectory: dataDirectory)
        port = process.port
        current = Locked(process)
    }

    /// `caucus-relay backup DEST --data-dir DIR` while the relay runs; `throughConfig`: with
    /// `--config FILE` instead, FILE naming the data directory.
    func backup(to destination: String, throughConfig: Bool = false) async throws -> ChildProcess.Outcome {
        var location = ["--data-dir", dataDirectory]
        if throughConfig {
            let config = directory.file("relay.conf")
            try "data-dir = \(dataDirectory)\n".write(toFile: config, atomically: true, encoding: .utf8)
            location = ["--config", config]
        }
        return try await ChildProcess.run(RelayProcess.executable, ["backup", destination] + location,
                                          environment: ProcessInfo.processInfo.environment)
    }

    /// Stops the relay, puts `backup` in place as relay.sqlite (removing the WAL and shared
    /// memory files), and starts it again on the same port: the README's restore.
    func restore(from backup: String) async throws {
        try await stopped {
            let files = FileManager.default
            for suffix in ["", "-wal", "-shm"] { try? files.removeItem(atPath: storePath + suffix) }
            try files.copyItem(atPath: backup, toPath: storePath)
        }
    }

    /// Stops the relay, changes its store directly, and starts it again.
    func editStore(_ change: @escaping @Sendable (Database) throws -> Void) async throws {
        try await stopped {
            let queue = try DatabaseQueue(path: storePath)
            try queue.write(change)
            try queue.close()
        }
    }

    private func stopped(_ body: () throws -> Void) async throws {
        let status = try await current.withLock { $0 }.terminate()
        try #require(status == 0, "caucus-relay exited with \(status)")
        try body()
        let started = try await RelayProcess.start(dataDirectory: dataDirectory, port: port)
        current.withLock { $0 = started }
    }

    func stop() async {
        _ = try? await current.withLock { $0 }.terminate()
    }
}

/// Runs `body` with a relay process and a directory for the relay's and the workers' files.
func withRelayProcess(_ body: (RestorableRelay, TempDirectory) async throws -> Void) async throws {
    let directory = try TempDirectory()
    defer { directory.remove() }
    let relay = try await RestorableRelay(directory: directory)
    do { try await body(relay, directory) } catch {
        await relay.stop()
        throw error
    }
    await relay.stop()
}
