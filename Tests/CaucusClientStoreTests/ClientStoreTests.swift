@testable import CaucusClientStore
import CaucusCrypto
import CaucusTestSupport
import Foundation
import GRDB
import Testing

/// The store layer on its own, on real SQLite files: what it promises about seals, rows, order
/// and group state, without an account, a relay or a network.
@Suite("Client store: records, seals and order")
struct ClientStoreTests {
    let directory: TempDirectory
    let identity = Ed25519.PrivateKey()
    let path: String

    init() throws {
        directory = try TempDirectory()
        path = directory.file(ClientStore.fileName)
    }

    func open() throws -> ClientStore { try ClientStore(path: path, identity: identity) }

    @Test("A store opened with another identity is refused and left as it was")
    func otherIdentity() throws {
        defer { directory.remove() }
        let store = try open()
        try store.write { tx in try tx.setMeta("name", Array("Rosa".utf8)) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { _ = try ClientStore(path: path, identity: Ed25519.PrivateKey()) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try open().read { tx in try tx.meta("name") } == Array("Rosa".utf8))
    }

    @Test("A sealed record moved to another row does not open there")
    func sealsAreBoundToRows() throws {
        defer { directory.remove() }
        let store = try open()
        let rosa = Ed25519.PrivateKey().publicKey, tomasz = Ed25519.PrivateKey().publicKey
        try store.write { tx in
            try tx.saveContact(rosa, ContactRecord(did: DID(publicKey: rosa).description, name: "Rosa", verified: true))
            try tx.saveContact(tomasz, ContactRecord(did: DID(publicKey: tomasz).description, name: "Tomasz"))
        }
        // Rosa's record, verified mark and all, copied into Tomasz's row.
        try store.queue.write { db in
            let rosaSealed = try Data.fetchOne(db, sql: "SELECT sealed FROM contacts WHERE tag = ?", arguments: [Data(store.tag(rosa.rawRepresentation))])
            try db.execute(sql: "UPDATE contacts SET sealed = ? WHERE tag = ?", arguments: [rosaSealed, Data(store.tag(tomasz.rawRepresentation))])
        }
        #expect(try store.read { tx in try tx.contact(rosa)?.verified } == true)
        #expect(throws: StoreError.self) { _ = try store.read { tx in try tx.contact(tomasz) } }

        // The same for a line of a conversation: its row number is part of what the seal binds.
        let group = Conversation.group(GroupID(Random.bytes(32)))
        let first = StoredMessage(kind: .text, outgoing: false, sender: nil, text: "first", fileID: nil, sentAt: 1)
        let second = StoredMessage(kind: .text, outgoing: false, sender: nil, text: "second", fileID: nil, sentAt: 2)
        let (one, two) = try store.write { tx in
            (try tx.appendLine(first, to: group, at: 1, unread: true, expiresAt: nil),
             try tx.appendLine(second, to: group, at: 2, unread: true, expiresAt: nil))
        }
        try store.queue.write { db in
            let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM messages WHERE seq = ?", arguments: [two])
            try db.execute(sql: "UPDATE messages SET sealed = ? WHERE seq = ?", arguments: [sealed, one])
        }
        #expect(throws: StoreError.self) { _ = try store.read { tx in try tx.lastLines(of: group, limit: 10) } }
    }

    @Test("Lines come back in order, unread until marked, the last ones of a conversation only")
    func lines() throws {
        defer { directory.remove() }
        let store = try open()
        let group = Conversation.group(GroupID(Random.bytes(32))), peer = Conversation.direct(Ed25519.PrivateKey().publicKey)
        try store.write { tx in
            for number in 0..<5 {
                let line = StoredMessage(kind: .text, outgoing: false, sender: nil, text: "g\(number)", fileID: nil, sentAt: UInt64(number))
                _ = try tx.appendLine(line, to: group, at: Int64(number), unread: true, expiresAt: nil)
            }
            let mine = StoredMessage(kind: .text, outgoing: true, sender: nil, text: "p", fileID: nil, sentAt: 9)
            _ = try tx.appendLine(mine, to: peer, at: 9, unread: false, expiresAt: nil)
        }
        #expect(try store.read { tx in try tx.unreadLines().map(\.message.text) } == (0..<5).map { "g\($0)" })
        #expect(try store.read { tx in try tx.lastLines(of: group, limit: 2).map(\.message.text) } == ["g3", "g4"])
        #expect(try store.read { tx in try tx.lastLines(of: peer, limit: 10).map(\.conversationTag) } == [store.tag(peer)])
        try store.write { tx in try tx.markRead(group) }
        #expect(try store.read { tx in try tx.unreadLines() }.isEmpty)
    }

    @Test("The outbox gives entries back oldest first, the same after the store is opened again")
    func outboxOrder() throws {
        defer { directory.remove() }
        let ids = (0..<4).map { _ in Random.bytes(16) }
        do {
            let store = try open()
            try store.write { tx in
                for (number, id) in ids.enumerated() {
                    try tx.enqueue(number == 2 ? .route : .send, id: id, [UInt8(number)], at: 1, expiresAt: nil)
                }
            }
            let first = try #require(try store.read { tx in try tx.firstOutboxEntry() })
            #expect(first.id == Data(ids[0]) && first.kind == .send && first.body == [0])
            try store.write { tx in try tx.removeOutboxEntry(first) }
            #expect(try store.read { tx in try tx.isQueued(Data(ids[0])) } == false)
        }
        // A new process has nothing cached: the entries are opened from their sealed rows.
        let store = try open()
        let entries = try store.read { tx in try tx.outboxEntries() }
        #expect(entries.map(\.id) == ids.dropFirst().map { Data($0) })
        #expect(entries.map(\.kind) == [.send, .route, .send])
        #expect(entries.map(\.body) == [[1], [2], [3]])
        #expect(try store.read { tx in try tx.firstOutboxEntry()?.id } == Data(ids[1]))
    }

    @Test("A transaction that throws leaves nothing behind, and the cached outbox does not resurrect it")
    func rollback() throws {
        defer { directory.remove() }
        struct Stop: Error {}
        let store = try open()
        let id = Random.bytes(16)
        #expect(throws: Stop.self) {
            try store.write { tx in
                try tx.enqueue(.send, id: id, [1, 2, 3], at: 1, expiresAt: nil)
                try tx.setMeta("name", [1])
                throw Stop()
            }
        }
        #expect(try store.read { tx in try tx.outboxCount() } == 0)
        #expect(try store.read { tx in try tx.firstOutboxEntry() } == nil)
        #expect(try store.read { tx in try tx.meta("name") } == nil)
    }

    @Test("Keys by prefix match the prefix literally, wildcards included")
    func metaPrefix() throws {
        defer { directory.remove() }
        let store = try open()
        try store.write { tx in
            for key in ["join-request:aa", "join-request:bb", "join-requestXaa", "unreadable:1", "a%b:1", "a_b:1", "axb:1"] {
                try tx.setMeta(key, [1])
            }
        }
        #expect(Set(try store.read { tx in try tx.metaKeys(prefix: "join-request:") }) == ["join-request:aa", "join-request:bb"])
        #expect(try store.read { tx in try tx.metaKeys(prefix: "a%b") } == ["a%b:1"])
        #expect(try store.read { tx in try tx.metaKeys(prefix: "a_b") } == ["a_b:1"])
        #expect(try store.write { tx in try tx.deleteMeta("unreadable:1") } == true)
        #expect(try store.write { tx in try tx.deleteMeta("unreadable:1") } == false)
    }

    @Test("A group state saved in parts reads back whole in a new process, and a change rewrites only what changed")
    func groupStateInParts() throws {
        defer { directory.remove() }
        let founder = Ed25519.PrivateKey()
        var (session, _) = try GroupSession.found(founder: founder, members: (0..<100).map { _ in (Ed25519.PrivateKey().publicKey, .member) })
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: "Warehouse 5")
        let routing = Ed25519.PrivateKey()
        do {
            let store = try open()
            try store.write { tx in try tx.saveGroup(info, session, routing: routing) }
            let entriesBefore = try store.queue.read { db in try Data.fetchAll(db, sql: "SELECT sealed FROM group_entries ORDER BY seq") }
            // A message sent: the sender chain and the tip move, the membership does not.
            _ = try session.encrypt(Array("hello".utf8), device: founder)
            try store.write { tx in try tx.saveGroup(info, session, routing: routing) }
            let entriesAfter = try store.queue.read { db in try Data.fetchAll(db, sql: "SELECT sealed FROM group_entries ORDER BY seq") }
            #expect(entriesAfter == entriesBefore, "membership entries were rewritten for a message")
        }
        let store = try open()
        let row = try #require(try store.read { tx in try tx.groupRow(GroupID(session.groupID)) })
        #expect(row.info.name == "Warehouse 5")
        #expect(row.routing?.publicKey == routing.publicKey)
        #expect(row.session.serialized().withUnsafeBytes { Array($0) } == session.serialized().withUnsafeBytes { Array($0) })
        #expect(try store.read { tx in try tx.storedGroupStateBytes(GroupID(session.groupID)) } > 0)
    }

    @Test("Deliveries put aside come back once, oldest first; those kept too long are dropped")
    func putAside() throws {
        defer { directory.remove() }
        let store = try open()
        try store.write { tx in
            try tx.putAside(MessageID.random(), [0], at: 100)
            try tx.putAside(MessageID.random(), [1], at: 200)
            try tx.putAside(MessageID.random(), [2], at: 300)
        }
        #expect(try store.write { tx in try tx.takePutAside(keptSince: 150) } == [[1], [2]])
        #expect(try store.write { tx in try tx.takePutAside(keptSince: 0) }.isEmpty)
    }

    @Test("Prekeys: the newest signed one, one-time ones by id, replaced ones erased after their grace")
    func prekeys() throws {
        defer { directory.remove() }
        let store = try open()
        try store.write { tx in
            try tx.addPrekey(.signed, id: 1, secret: SecureBytes(copying: [1]), at: 1_000)
            try tx.addPrekey(.signed, id: 2, secret: SecureBytes(copying: [2]), at: 5_000)
            try tx.addPrekey(.oneTime, id: 1, secret: SecureBytes(copying: [9]), at: 1_000)
        }
        let newest = try #require(try store.read { tx in try tx.newestPrekey(.signed) })
        #expect(newest.id == 2 && newest.secret.withUnsafeBytes { Array($0) } == [2])
        #expect(try store.read { tx in try tx.prekey(.oneTime, id: 1)?.withUnsafeBytes { Array($0) } } == [9])
        #expect(try store.read { tx in try tx.prekey(.signed, id: 9) } == nil)
        // Replaced by one made at 5,000: kept while the grace runs (made before 4,000 is not yet).
        try store.write { tx in try tx.deleteReplacedPrekeys(.signed, replacedBefore: 4_000) }
        #expect(try store.read { tx in try tx.prekey(.signed, id: 1) } != nil)
        try store.write { tx in try tx.deleteReplacedPrekeys(.signed, replacedBefore: 6_000) }
        #expect(try store.read { tx in try tx.prekey(.signed, id: 1) } == nil)
        #expect(try store.read { tx in try tx.prekey(.signed, id: 2) } != nil)
        #expect(try store.read { tx in try tx.newestPrekeyCreated(.signed) } == 5_000)
    }
}
