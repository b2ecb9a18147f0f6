@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import CaucusTestSupport
import Foundation
import GRDB
import Testing

/// How the client store lays out its file (Protocol.md §9.9): small pages, and no index over
/// random ids, so that a message writes a few small pages to the log, not 4 KiB ones.
@Suite("Client: the store's pages", .timeLimit(.minutes(10)))
struct ClientStoreLayoutTests {
    static let passphrase = Passphrase("a passphrase for the layout test")

    @Test("A new store has 512-byte pages, in WAL mode, and no index over outbox or handled ids")
    func newStoreLayout() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let account = try await Account.create(home: ClientHome(explicit: directory.path), passphrase: Self.passphrase,
                                                displayName: "Rosa", parameters: .interactive, allowWeakPassphrase: true)
        let layout = try await account.rawRead { db in try Self.layout(db) }
        await account.close()
        #expect(layout.pageSize == ClientStore.pageSize && layout.pageSize == 512)
        #expect(layout.journalMode == "wal")
        #expect(layout.indexes.isEmpty, "indexes over outbox or processed: \(layout.indexes)")
        #expect(layout.processedWithoutRowID)
    }

    @Test("A store an older client made with 4 KiB pages is rewritten with small pages and keeps what it held")
    func olderStoreIsConverted() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let home = ClientHome(explicit: directory.path)
        let members = (0..<3).map { _ in Ed25519.PrivateKey().publicKey }
        // In a function of its own, so that the account (and its connection) is gone after it.
        func fill() async throws -> (group: GroupID, queued: [MessageID], path: String) {
            let account = try await Account.create(home: home, passphrase: Self.passphrase, displayName: "Rosa",
                                                    parameters: .interactive, allowWeakPassphrase: true)
            let group = try await account.foundGroupForBenchmark(name: "Old pages", members: members)
            for number in 0..<5 { _ = try await account.send("queued \(number)", to: .group(group)) }
            let queued = try await account.queuedMessagesForBenchmark().map(\.messageID)
            let path = await account.store.path
            await account.close()
            return (group, queued, path)
        }
        let (group, queued, path) = try await fill()

        // Make it the file an older client left: 4 KiB pages, and the outbox and `processed` with
        // a unique index over their ids, as before migration v13.
        try Self.makeOlder(path)
        #expect(try Self.withFile(path) { db in try Self.layout(db) }.pageSize == 4096)

        // While another connection has the file open, the rewrite cannot happen: the store opens
        // as it is, with its usual wait for locks, and works.
        do {
            let holder = try DatabaseQueue(path: path)
            func openWhileHeld() async throws {
                let account = try await Account.open(home: home, passphrase: Self.passphrase)
                let (pageSize, wait) = try await account.rawRead { db in
                    (try Int.fetchOne(db, sql: "PRAGMA page_size"), try Int.fetchOne(db, sql: "PRAGMA busy_timeout"))
                }
                #expect(pageSize == 4096 && wait == ClientStore.busyMilliseconds)
                #expect(try await account.queuedMessagesForBenchmark().map(\.messageID) == queued)
                await account.close()
            }
            try await openWhileHeld()
            try holder.close()
        }

        let reopened = try await Account.open(home: home, passphrase: Self.passphrase)
        let layout = try await reopened.rawRead { db in try Self.layout(db) }
        #expect(layout.pageSize == 512 && layout.journalMode == "wal" && layout.indexes.isEmpty && layout.processedWithoutRowID)
        // The outbox keeps its order, the history its lines, the group its members.
        #expect(try await reopened.queuedMessagesForBenchmark().map(\.messageID) == queued)
        let lines = try await reopened.history(.group(group)).map(\.message.text)
        #expect(lines == (0..<5).map { "queued \($0)" })
        #expect(try await reopened.members(of: "Old pages").count == members.count + 1)
        guard case .queued = try await reopened.send("after the conversion", to: .group(group)) else {
            Issue.record("a send with no relay should wait in the outbox"); return
        }
        #expect(try await reopened.queuedMessagesForBenchmark().count == queued.count + 1)
        await reopened.close()
    }

    struct Layout {
        let pageSize: Int
        let journalMode: String
        /// Indexes on `outbox` or `processed` (none are wanted).
        let indexes: [String]
        let processedWithoutRowID: Bool
    }

    static func layout(_ db: Database) throws -> Layout {
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'processed'") ?? ""
        return Layout(
            pageSize: try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0,
            journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
            indexes: try String.fetchAll(db, sql: "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('outbox', 'processed')"),
            processedWithoutRowID: sql.uppercased().contains("WITHOUT ROWID"))
    }

    static func withFile<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.writeWithoutTransaction(body)
    }

    /// Rewrites the store as a client before migration v13 with 4 KiB pages left it.
    static func makeOlder(_ path: String) throws {
        try withFile(path) { db in
            try db.execute(sql: """
                CREATE TABLE outbox_old (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
                                         expires_at INTEGER);
                INSERT INTO outbox_old (rowid, id, sealed, created_at, expires_at)
                    SELECT rowid, id, sealed, created_at, expires_at FROM outbox;
                DROP TABLE outbox;
                ALTER TABLE outbox_old RENAME TO outbox;
                CREATE TABLE processed_old (id BLOB PRIMARY KEY, at INTEGER NOT NULL);
                INSERT INTO processed_old (id, at) SELECT id, at FROM processed;
                DROP TABLE processed;
                ALTER TABLE processed_old RENAME TO processed;
                DELETE FROM grdb_migrations WHERE identifier = 'v13-no-random-indexes';
                """)
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE") == "delete")
            try db.execute(sql: "PRAGMA page_size = 4096")
            try db.execute(sql: "VACUUM")
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal")
        }
    }
}
