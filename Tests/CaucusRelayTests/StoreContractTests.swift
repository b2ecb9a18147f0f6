import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import Foundation
import Testing

/// A way to make a fresh store and to reopen it; every store implementation adds one.
struct StoreKind: Sendable, CustomTestStringConvertible {
    let name: String
    /// A fresh, empty store and a function that reopens the same data.
    let make: @Sendable (StoreLimits) async throws -> (store: any RelayStore, reopen: @Sendable () async throws -> any RelayStore, cleanup: @Sendable () -> Void)

    var testDescription: String { name }

    static let sqlite = StoreKind(name: "SQLite") { limits in
        let directory = try TempDirectory()
        let path = directory.file("relay.sqlite")
        return (try SQLiteRelayStore(path: path, limits: limits),
                { try SQLiteRelayStore(path: path, limits: limits) },
                { directory.remove() })
    }

    /// A fresh database on the PostgreSQL server scripts/test starts; dropped afterwards.
    static let postgres = StoreKind(name: "PostgreSQL") { limits in
        let database = try await TestPostgres.database()
        let store = try await database.open(limits: limits)
        return (store,
                { try await database.open(limits: limits) },
                { Task { try? await store.close(); await database.drop() } })
    }

    /// SQLite always; PostgreSQL when scripts/test started a server, or under CI=true, where a
    /// missing server fails each PostgreSQL case instead of skipping it.
    static let all: [StoreKind] = {
        if TestPostgres.isConfigured || TestPostgres.isRequired { return [.sqlite, .postgres] }
        print(TestPostgres.skipMessage)
        return [.sqlite]
    }()
}

private func key() -> Data { Data(Random.bytes(32)) }
/// A published KEM prekey as clients encode it (Protocol.md §7.5): 1,252 opaque bytes to the store.
private func kemPrekey() -> Data { Data(Random.bytes(1_252)) }
private func id16() -> Data { Data(Random.bytes(16)) }
private let now: Int64 = 1_800_000_000_000
private let later: Int64 = now + 86_400_000

private func message(_ target: MessageTarget, _ payload: String = "ciphertext", id: Data = id16(), expires: Int64 = later) -> NewMessage {
    NewMessage(messageID: id, target: target, payload: Data(payload.utf8), acceptedAt: now, expiresAt: expires)
}

/// The behaviour every relay store must have. Runs unchanged against each `StoreKind`.
@Suite("Store contract", .timeLimit(.minutes(10)))
struct StoreContractTests {
    @Test("Messages are stored once per recipient, read in order, removed by acknowledgement", arguments: StoreKind.all)
    func mailboxes(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let bob = key(), carol = key()
        let ids = (0..<5).map { _ in id16() }
        let result = try await store.commit(WriteBatch(messages: ids.map { message(.devices([bob, carol, bob]), id: $0) }))
        for outcome in result.outcomes {
            guard case .stored(let recipients, let full) = outcome else { Issue.record("\(outcome)"); continue }
            #expect(recipients.map(\.key) == [bob, carol] && full.isEmpty)
        }
        let pending = try await store.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 100)
        #expect(pending.map(\.messageID) == ids)
        #expect(zip(pending, pending.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        #expect(pending.allSatisfy { $0.groupID == nil && $0.payload == Data("ciphertext".utf8) })
        let after = try await store.pendingDeliveries(recipient: bob, afterSequence: pending[1].sequence, limit: 2)
        #expect(after.map(\.messageID) == Array(ids[2..<4]))

        let acked = try await store.commit(WriteBatch(acknowledgements: [
            Acknowledgement(recipient: bob, messageIDs: Array(ids[0..<3]) + [id16()]),
            Acknowledgement(recipient: bob, messageIDs: [ids[0]]),
        ]))
        #expect(acked.removed == [3, 0])
        #expect(try await store.pendingCount(recipient: bob) == 2)
        #expect(try await store.pendingCount(recipient: carol) == 5)
    }

    @Test("A message id is accepted once, within a batch and across batches, even after delivery", arguments: StoreKind.all)
    func idempotence(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let bob = key(), id = id16()
        let first = try await store.commit(WriteBatch(messages: [message(.devices([bob]), id: id), message(.devices([bob]), id: id)]))
        #expect(first.outcomes.last == .duplicate)
        _ = try await store.commit(WriteBatch(acknowledgements: [Acknowledgement(recipient: bob, messageIDs: [id])]))
        let again = try await store.commit(WriteBatch(messages: [message(.devices([bob]), id: id)]))
        #expect(again.outcomes == [.duplicate])
        #expect(try await store.pendingCount(recipient: bob) == 0)
    }

    @Test("Ids that share their first 8 bytes are told apart, and every id is still known after reopening",
          arguments: StoreKind.all)
    func idsSharingAPrefix(_ kind: StoreKind) async throws {
        let (store, reopen, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let bob = key(), carol = key(), shared = Data(Random.bytes(8))
        let ids = (0..<3).map { _ in shared + Data(Random.bytes(8)) }
        let first = try await store.commit(WriteBatch(messages: [message(.devices([bob]), "a", id: ids[0]),
                                                                 message(.devices([bob]), "b", id: ids[1])]))
        #expect(first.outcomes.allSatisfy { if case .stored = $0 { true } else { false } })
        try await store.close()
        let reopened = try await reopen()
        let again = try await reopened.commit(WriteBatch(messages: [message(.devices([bob]), id: ids[0]),
                                                                    message(.devices([carol]), id: ids[1]),
                                                                    message(.devices([bob]), "c", id: ids[2])]))
        #expect(Array(again.outcomes.prefix(2)) == [.duplicate, .duplicate])
        guard case .stored = again.outcomes[2] else { Issue.record("\(again.outcomes)"); return }
        // Acknowledging one of them removes that one only.
        let acked = try await reopened.commit(WriteBatch(acknowledgements: [Acknowledgement(recipient: bob, messageIDs: [ids[1]])]))
        #expect(acked.removed == [1])
        let left = try await reopened.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 10)
        #expect(left.map(\.messageID) == [ids[0], ids[2]] && left.map(\.payload) == [Data("a".utf8), Data("c".utf8)])
        #expect(try await reopened.pendingCount(recipient: carol) == 0)
        try await reopened.close()
    }

    @Test("Full mailboxes are skipped; all full refuses and leaves the id unused", arguments: StoreKind.all)
    func mailboxLimit(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits(mailboxMessages: 2))
        defer { cleanup() }
        let bob = key(), carol = key()
        _ = try await store.commit(WriteBatch(messages: [message(.devices([bob])), message(.devices([bob]))]))
        let partial = try await store.commit(WriteBatch(messages: [message(.devices([bob, carol]))]))
        guard case .stored(let recipients, let full) = partial.outcomes[0] else { Issue.record("\(partial.outcomes)"); return }
        #expect(recipients.map(\.key) == [carol] && full == [bob])
        let id = id16()
        let refused = try await store.commit(WriteBatch(messages: [message(.devices([bob]), id: id)]))
        #expect(refused.outcomes == [.refused(RelayError(.mailboxFull, "every recipient's mailbox is full"))])
        let queued = try await store.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 10)
        _ = try await store.commit(WriteBatch(acknowledgements: [Acknowledgement(recipient: bob, messageIDs: queued.map(\.messageID))]))
        let retried = try await store.commit(WriteBatch(messages: [message(.devices([bob]), id: id)]))
        guard case .stored = retried.outcomes[0] else { Issue.record("\(retried.outcomes)"); return }
    }

    @Test("Group routes: serials never go back, add and remove, fan-out excludes the sender and needs membership", arguments: StoreKind.all)
    func groups(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let group = key(), admin = key(), members = (0..<50).map { _ in key() }, outsider = key()
        let created = try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 1, adminKey: admin, add: members, remove: []))
        #expect(created.serial == 1 && created.deviceCount == 50 && created.adminKey == admin && created.previousSerial == 0)
        await #expect(throws: RelayError.self) {
            try await store.updateGroupRoute(GroupRouteUpdate(groupID: key(), serial: 3, adminKey: admin, add: [outsider], remove: []))
        }
        let skipped = try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 3, adminKey: admin, add: [outsider], remove: []))
        #expect(skipped.serial == 3 && skipped.previousSerial == 1 && skipped.deviceCount == 51)
        await #expect(throws: RelayError.self) {
            try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 2, adminKey: admin, add: [], remove: [outsider]))
        }
        let changed = try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 3, adminKey: admin, add: [members[0]], remove: [members[49], outsider]))
        #expect(changed.deviceCount == 49 && changed.previousSerial == 3)
        #expect(Set(try await store.groupDevices(group)) == Set(members.dropLast()))

        let sent = try await store.commit(WriteBatch(messages: [
            message(.group(group, sender: members[0])),
            message(.group(group, sender: outsider)),
            message(.group(key(), sender: members[0])),
        ]))
        guard case .stored(let recipients, _) = sent.outcomes[0] else { Issue.record("\(sent.outcomes)"); return }
        #expect(Set(recipients.map(\.key)) == Set(members[1..<49]))
        if case .refused(let error) = sent.outcomes[1] { #expect(error.code == .forbidden) } else { Issue.record("\(sent.outcomes[1])") }
        if case .refused(let error) = sent.outcomes[2] { #expect(error.code == .notFound) } else { Issue.record("\(sent.outcomes[2])") }
        let delivered = try await store.pendingDeliveries(recipient: members[1], afterSequence: 0, limit: 10)
        #expect(delivered.first?.groupID == group)
        #expect(try await store.groupRoute(key()) == nil)
    }

    @Test("Device chains: kept only as extensions, a device in one identity's chain only; groups reach each routed identity's active computers; revoked devices get nothing",
          arguments: StoreKind.all)
    func deviceChains(_ kind: StoreKind) async throws {
        let (store, reopen, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let rosa = key(), laptop = key(), paper = key(), tomasz = key(), phone = key(), lee = key()
        // The store keeps entries as given (the relay verifies them first): any bytes do here.
        func entries(_ count: Int, _ history: UInt8 = 1) -> [Data] { (0..<count).map { Data([history, UInt8($0)]) } }
        func device(_ key: Data, _ kind: UInt8 = 1, revoked: Bool = false) -> ListedDevice { ListedDevice(key: key, kind: kind, revoked: revoked) }
        func recipients(_ outcome: AcceptOutcome) -> Set<Data>? {
            if case .stored(let stored, _) = outcome { Set(stored.map(\.key)) } else { nil }
        }
        let rosaDevices = [device(rosa), device(laptop), device(paper, 2)]
        let first = PublishedDeviceChain(identity: rosa, entries: entries(3), devices: rosaDevices)
        #expect(try await store.publishDevices(first) == DevicesPublication(entries: 3, revoked: []))
        #expect(try await store.publishDevices(first) == DevicesPublication(entries: 3, revoked: []))
        // Tomasz's first device is not his identity key, so that key gets nothing; Lee has no chain.
        _ = try await store.publishDevices(PublishedDeviceChain(identity: tomasz, entries: entries(1, 2), devices: [device(phone)]))

        let group = key()
        _ = try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 1, adminKey: key(), add: [rosa, tomasz, lee], remove: []))
        let before = try await store.commit(WriteBatch(messages: [
            message(.group(group, sender: phone)), message(.group(group, sender: tomasz)), message(.group(group, sender: laptop)),
        ]))
        #expect(recipients(before.outcomes[0]) == [rosa, laptop, lee])
        if case .refused(let error) = before.outcomes[1] { #expect(error.code == .forbidden) } else { Issue.record("\(before.outcomes[1])") }
        #expect(recipients(before.outcomes[2]) == [rosa, phone, lee])

        // Rosa revokes the laptop: an extension of her chain.
        let revocation = PublishedDeviceChain(identity: rosa, entries: entries(4),
                                              devices: [device(rosa), device(laptop, revoked: true), device(paper, 2)])
        #expect(try await store.publishDevices(revocation) == DevicesPublication(entries: 4, revoked: [laptop]))
        #expect(try await store.publishDevices(revocation) == DevicesPublication(entries: 4, revoked: []))
        // Another history, an older one, and a chain claiming Rosa's laptop for Tomasz are refused.
        for refused in [PublishedDeviceChain(identity: rosa, entries: entries(3) + [Data([9, 9])], devices: rosaDevices),
                        PublishedDeviceChain(identity: rosa, entries: entries(3), devices: rosaDevices),
                        PublishedDeviceChain(identity: tomasz, entries: entries(2, 2), devices: [device(phone), device(laptop)])] {
            await #expect(throws: RelayError.self) { try await store.publishDevices(refused) }
        }
        #expect(try await store.deviceChain(identity: rosa) == entries(4))
        #expect(try await store.deviceChain(identity: tomasz) == entries(1, 2))
        #expect(try await store.deviceChain(identity: lee) == [])

        let after = try await store.commit(WriteBatch(messages: [
            message(.group(group, sender: phone)), message(.group(group, sender: laptop)), message(.devices([laptop, lee])),
            message(.devices([laptop])),
        ]))
        #expect(recipients(after.outcomes[0]) == [rosa, lee])
        if case .refused(let error) = after.outcomes[1] { #expect(error.code == .forbidden) } else { Issue.record("\(after.outcomes[1])") }
        #expect(recipients(after.outcomes[2]) == [lee])
        #expect(recipients(after.outcomes[3]) == [])
        #expect(try await store.pendingCount(recipient: laptop) == 1)

        func expectStatus(_ view: any RelayStore) async throws {
            #expect(try await view.deviceStatus(laptop) == DeviceStatus(identity: rosa, kind: 1, revoked: true))
            #expect(try await view.deviceStatus(paper) == DeviceStatus(identity: rosa, kind: 2, revoked: false))
            #expect(try await view.deviceStatus(rosa) == DeviceStatus(identity: rosa, kind: 1, revoked: false))
            #expect(try await view.deviceStatus(lee) == nil)
            #expect(try await view.revokedDevices(among: [laptop, rosa, lee, key()]) == [laptop])
        }
        try await expectStatus(store)
        try await store.close()
        let reopened = try await reopen()
        try await expectStatus(reopened)
        #expect(try await reopened.deviceChain(identity: rosa) == entries(4))
        try await reopened.close()
    }

    @Test("Recovery boxes: the last one kept for a paper key is given back, after a restart too, and none once a chain revokes the key",
          arguments: StoreKind.all)
    func recoveryBoxes(_ kind: StoreKind) async throws {
        let (store, reopen, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let rosa = key(), paper = key(), other = key()
        func device(_ key: Data, _ kind: UInt8 = 1, revoked: Bool = false) -> ListedDevice { ListedDevice(key: key, kind: kind, revoked: revoked) }
        _ = try await store.publishDevices(PublishedDeviceChain(identity: rosa, entries: [Data([1]), Data([2])],
                                                                devices: [device(rosa), device(paper, 2)]))
        #expect(try await store.recoveryBox(paperKey: paper) == nil)
        try await store.putRecoveryBox(paperKey: paper, sealed: Data([1, 2, 3]), at: 1)
        try await store.putRecoveryBox(paperKey: paper, sealed: Data([4, 5]), at: 2)
        try await store.putRecoveryBox(paperKey: other, sealed: Data([6]), at: 2)
        #expect(try await store.recoveryBox(paperKey: paper) == Data([4, 5]))
        try await store.close()
        let reopened = try await reopen()
        #expect(try await reopened.recoveryBox(paperKey: paper) == Data([4, 5]))
        let revocation = PublishedDeviceChain(identity: rosa, entries: [Data([1]), Data([2]), Data([3])],
                                              devices: [device(rosa), device(paper, 2, revoked: true)])
        #expect(try await reopened.publishDevices(revocation) == DevicesPublication(entries: 3, revoked: [paper]))
        #expect(try await reopened.recoveryBox(paperKey: paper) == nil)
        #expect(try await reopened.recoveryBox(paperKey: other) == Data([6]))
        try await reopened.close()
    }

    @Test("One-time prekeys go out lowest id first, each exactly once even under concurrent takes", arguments: StoreKind.all)
    func prekeys(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits(maxOneTimePrekeys: 100))
        defer { cleanup() }
        let owner = key()
        #expect(try await store.takePrekeyBundle(owner: owner) == nil)
        let keys = (1...60).map { OneTimePrekeyRecord(id: UInt32($0), publicKey: key()) }
        #expect(try await store.publishPrekeys(owner: owner, signedPrekey: Data("signed".utf8), oneTime: keys,
                                               kemLastResort: nil, kemOneTime: []) == PrekeyCounts(oneTime: 60, kemOneTime: 0))
        let first = try await store.takePrekeyBundle(owner: owner)
        #expect(first?.oneTime == keys[0] && first?.remaining == 59 && first?.signedPrekey == Data("signed".utf8))
        #expect(first?.kemPrekey == nil && first?.kemPrekeyIsOneTime == false && first?.kemRemaining == 0)
        let taken = try await withThrowingTaskGroup(of: UInt32?.self, returning: [UInt32].self) { group in
            for _ in 0..<70 { group.addTask { try await store.takePrekeyBundle(owner: owner)?.oneTime?.id } }
            return try await group.reduce(into: []) { if let id = $1 { $0.append(id) } }
        }
        #expect(taken.count == 59 && Set(taken).count == 59 && !taken.contains(1))
        #expect(try await store.prekeyCounts(owner: owner) == PrekeyCounts(oneTime: 0, kemOneTime: 0))
        let empty = try await store.takePrekeyBundle(owner: owner)
        #expect(empty?.oneTime == nil && empty?.signedPrekey == Data("signed".utf8))
        await #expect(throws: RelayError.self) {
            try await store.publishPrekeys(owner: owner, signedPrekey: nil, oneTime: (1...101).map { OneTimePrekeyRecord(id: UInt32($0), publicKey: key()) },
                                           kemLastResort: nil, kemOneTime: [])
        }
    }

    @Test("One-time KEM prekeys go out oldest first, each exactly once even under concurrent takes, then the last-resort one every time",
          arguments: StoreKind.all)
    func kemPrekeys(_ kind: StoreKind) async throws {
        let (store, reopen, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let owner = key(), other = key()
        let signed = Data("signed".utf8), lastResort = kemPrekey(), kems = (0..<50).map { _ in kemPrekey() }
        // KEM prekeys without a signed prekey make no bundle, and none is taken.
        #expect(try await store.publishPrekeys(owner: owner, signedPrekey: nil, oneTime: [], kemLastResort: lastResort,
                                               kemOneTime: Array(kems[0..<30])) == PrekeyCounts(oneTime: 0, kemOneTime: 30))
        #expect(try await store.takePrekeyBundle(owner: owner) == nil)
        #expect(try await store.publishPrekeys(owner: owner, signedPrekey: signed, oneTime: [], kemLastResort: nil,
                                               kemOneTime: Array(kems[30...])) == PrekeyCounts(oneTime: 0, kemOneTime: 50))
        #expect(try await store.publishPrekeys(owner: other, signedPrekey: signed, oneTime: [], kemLastResort: nil,
                                               kemOneTime: [kemPrekey()]) == PrekeyCounts(oneTime: 0, kemOneTime: 1))

        var inOrder: [Data] = []
        for left in stride(from: 49, to: 44, by: -1) {
            let bundle = try #require(try await store.takePrekeyBundle(owner: owner))
            #expect(bundle.kemPrekeyIsOneTime && bundle.kemRemaining == left && bundle.signedPrekey == signed)
            inOrder.append(try #require(bundle.kemPrekey))
        }
        #expect(inOrder == Array(kems[0..<5]))
        // A restart loses nothing: 45 left, the last-resort one too.
        try await store.close()
        let reopened = try await reopen()
        #expect(try await reopened.prekeyCounts(owner: owner) == PrekeyCounts(oneTime: 0, kemOneTime: 45))
        let taken = try await withThrowingTaskGroup(of: PrekeyBundleRecord?.self, returning: [PrekeyBundleRecord].self) { group in
            for _ in 0..<60 { group.addTask { try await reopened.takePrekeyBundle(owner: owner) } }
            return try await group.reduce(into: []) { if let bundle = $1 { $0.append(bundle) } }
        }
        let oneTime = taken.filter(\.kemPrekeyIsOneTime).compactMap(\.kemPrekey)
        #expect(oneTime.count == 45 && Set(oneTime) == Set(kems[5...]))
        #expect(taken.filter { !$0.kemPrekeyIsOneTime }.allSatisfy { $0.kemPrekey == lastResort } && taken.count == 60)
        #expect(try await reopened.prekeyCounts(owner: owner) == PrekeyCounts(oneTime: 0, kemOneTime: 0))
        #expect(try await reopened.prekeyCounts(owner: other) == PrekeyCounts(oneTime: 0, kemOneTime: 1))
        for _ in 0..<2 {
            let bundle = try await reopened.takePrekeyBundle(owner: owner)
            #expect(bundle?.kemPrekey == lastResort && bundle?.kemPrekeyIsOneTime == false && bundle?.kemRemaining == 0)
        }

        // A new last-resort prekey replaces the one stored; a publication without one keeps it.
        let replacement = kemPrekey()
        #expect(try await reopened.publishPrekeys(owner: owner, signedPrekey: nil, oneTime: [], kemLastResort: replacement,
                                                kemOneTime: []) == PrekeyCounts(oneTime: 0, kemOneTime: 0))
        #expect(try await reopened.publishPrekeys(owner: owner, signedPrekey: Data("signed 2".utf8), oneTime: [],
                                                kemLastResort: nil, kemOneTime: []) == PrekeyCounts(oneTime: 0, kemOneTime: 0))
        let replaced = try await reopened.takePrekeyBundle(owner: owner)
        #expect(replaced?.kemPrekey == replacement && replaced?.kemPrekeyIsOneTime == false)
        #expect(replaced?.signedPrekey == Data("signed 2".utf8))
        try await reopened.close()
    }

    @Test("At most 100 one-time KEM prekeys are stored for a device; a refused publication stores nothing", arguments: StoreKind.all)
    func kemPrekeyQuota(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let owner = key(), signed = Data("signed".utf8), lastResort = kemPrekey()
        #expect(try await store.publishPrekeys(owner: owner, signedPrekey: signed, oneTime: [], kemLastResort: lastResort,
                                               kemOneTime: (0..<60).map { _ in kemPrekey() }) == PrekeyCounts(oneTime: 0, kemOneTime: 60))
        #expect(try await store.publishPrekeys(owner: owner, signedPrekey: nil, oneTime: [], kemLastResort: nil,
                                               kemOneTime: (0..<40).map { _ in kemPrekey() }) == PrekeyCounts(oneTime: 0, kemOneTime: 100))
        let refused = await relayError {
            _ = try await store.publishPrekeys(owner: owner, signedPrekey: Data("other".utf8),
                                               oneTime: [OneTimePrekeyRecord(id: 1, publicKey: key())],
                                               kemLastResort: kemPrekey(), kemOneTime: [kemPrekey()])
        }
        #expect(refused?.code == .quotaExceeded)
        #expect(try await store.prekeyCounts(owner: owner) == PrekeyCounts(oneTime: 0, kemOneTime: 100))
        // The refused request's signed prekey and last-resort KEM prekey were not kept either.
        var last: PrekeyBundleRecord?
        for _ in 0..<101 { last = try await store.takePrekeyBundle(owner: owner) }
        #expect(last?.signedPrekey == signed && last?.oneTime == nil)
        #expect(last?.kemPrekey == lastResort && last?.kemPrekeyIsOneTime == false)
    }

    @Test("Blobs: sequential chunks, resends, conflicts, owners, quota, reads across chunks", arguments: StoreKind.all)
    func blobs(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits(blobQuotaBytes: 1_000, maxBlobBytes: 600))
        defer { cleanup() }
        let owner = key(), other = key(), blob = id16()
        let bytes = Data(Random.bytes(500))
        func put(_ offset: Int, _ end: Int, last: Bool = false, by who: Data? = nil, id: Data? = nil) async throws -> BlobState {
            try await store.putBlobChunk(BlobChunkWrite(owner: who ?? owner, blobID: id ?? blob, offset: UInt64(offset),
                                                        data: bytes[offset..<end], last: last, createdAt: now, expiresAt: later))
        }
        #expect(try await put(0, 200) == BlobState(size: 200, complete: false))
        #expect(try await put(0, 200) == BlobState(size: 200, complete: false))  // resend
        await #expect(throws: RelayError.self) { try await put(300, 400) }     // gap
        await #expect(throws: RelayError.self) { try await put(200, 300, by: other) }
        await #expect(throws: RelayError.self) { try await store.readBlob(blobID: blob, offset: 0, length: 10) }  // incomplete
        #expect(try await put(200, 450) == BlobState(size: 450, complete: false))
        #expect(try await put(450, 500, last: true) == BlobState(size: 500, complete: true))
        let extra = BlobChunkWrite(owner: owner, blobID: blob, offset: 500, data: Data(count: 10), last: true, createdAt: now, expiresAt: later)
        await #expect(throws: RelayError.self) { try await store.putBlobChunk(extra) }  // complete
        #expect(try await put(450, 500, last: true) == BlobState(size: 500, complete: true))  // resend of the last chunk
        let read = try await store.readBlob(blobID: blob, offset: 150, length: 200)
        #expect(read.data == bytes[150..<350] && read.totalSize == 500)
        let tail = try await store.readBlob(blobID: blob, offset: 480, length: 200)
        #expect(tail.data == bytes[480..<500])
        // Quota: 500 stored, 1000 allowed; a second blob of 600 is over the blob size, 501 over the quota.
        let second = id16()
        let big = Data(count: 501)
        await #expect(throws: RelayError.self) {
            try await store.putBlobChunk(BlobChunkWrite(owner: owner, blobID: second, offset: 0, data: big, last: true, createdAt: now, expiresAt: later))
        }
        _ = try await store.putBlobChunk(BlobChunkWrite(owner: owner, blobID: second, offset: 0, data: Data(count: 500), last: true, createdAt: now, expiresAt: later))
        await #expect(throws: RelayError.self) { try await store.readBlob(blobID: id16(), offset: 0, length: 1) }
    }

    @Test("A resent blob chunk is answered unchanged only when its bytes equal those stored at its offset", arguments: StoreKind.all)
    func blobResends(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let owner = key(), blob = id16()
        let bytes = Data(Random.bytes(300))
        func put(_ offset: Int, _ data: Data, last: Bool = false) async throws -> BlobState {
            try await store.putBlobChunk(BlobChunkWrite(owner: owner, blobID: blob, offset: UInt64(offset), data: data,
                                                        last: last, createdAt: now, expiresAt: later))
        }
        func conflict(_ offset: Int, _ data: Data, last: Bool = false) async -> Bool {
            await relayError { _ = try await put(offset, data, last: last) }?.code == .conflict
        }
        var changed = bytes[100..<200]
        changed[changed.startIndex + 50] ^= 1
        #expect(try await put(0, bytes[0..<100]) == BlobState(size: 100, complete: false))
        #expect(try await put(100, bytes[100..<200]) == BlobState(size: 200, complete: false))
        #expect(try await put(100, bytes[100..<200]) == BlobState(size: 200, complete: false))   // the same chunk again
        #expect(try await put(0, bytes[0..<100]) == BlobState(size: 200, complete: false))       // an earlier one again
        #expect(await conflict(100, changed))                                                   // one byte differs
        #expect(await conflict(0, bytes[100..<200]))                                            // another chunk's bytes
        #expect(await conflict(150, bytes[150..<250]))                                          // runs past the end
        #expect(try await put(200, bytes[200..<300], last: true) == BlobState(size: 300, complete: true))
        #expect(try await put(200, bytes[200..<300], last: true) == BlobState(size: 300, complete: true))
        #expect(await conflict(200, Data(count: 100), last: true))
        #expect(try await store.readBlob(blobID: blob, offset: 0, length: 300).data == bytes)
    }

    @Test("Card inboxes keep each item once, in order, paged", arguments: StoreKind.all)
    func cards(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let inbox = key(), otherInbox = key()
        let items = (0..<25).map { _ in id16() }
        for item in items { #expect(try await store.postCard(inboxKey: inbox, itemID: item, sealed: Data(item), postedAt: now)) }
        #expect(try await store.postCard(inboxKey: inbox, itemID: items[3], sealed: Data("changed".utf8), postedAt: now) == false)
        #expect(try await store.postCard(inboxKey: otherInbox, itemID: items[3], sealed: Data("x".utf8), postedAt: now))
        #expect(try await store.cardCount(inboxKey: inbox) == 25)
        var seen: [Data] = []
        var cursor: Int64 = 0
        while true {
            let page = try await store.readCards(inboxKey: inbox, afterSequence: cursor, limit: 10)
            seen += page.items.map(\.itemID)
            cursor = page.items.last?.sequence ?? cursor
            if !page.more { break }
        }
        #expect(seen == items)
        let third = try await store.readCards(inboxKey: inbox, afterSequence: 0, limit: 25)
        #expect(third.items[3].sealed == Data(items[3]) && !third.more)
    }

    @Test("Expiry removes messages, their deliveries and blobs, and fixes mailbox counts", arguments: StoreKind.all)
    func expiry(_ kind: StoreKind) async throws {
        let (store, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let bob = key(), soonID = id16()
        _ = try await store.commit(WriteBatch(messages: [
            message(.devices([bob]), id: soonID, expires: now + 1_000),
            message(.devices([bob]), expires: later),
        ]))
        _ = try await store.putBlobChunk(BlobChunkWrite(owner: bob, blobID: id16(), offset: 0, data: Data(count: 10), last: true, createdAt: now, expiresAt: now + 1_000))
        let counts = try await store.expire(now: now + 2_000)
        #expect(counts == ExpiryCounts(messages: 1, deliveries: 1, blobs: 1))
        #expect(try await store.pendingCount(recipient: bob) == 1)
        // Once expired, the id is forgotten.
        let again = try await store.commit(WriteBatch(messages: [message(.devices([bob]), id: soonID)]))
        guard case .stored = again.outcomes[0] else { Issue.record("\(again.outcomes)"); return }
    }

    @Test("Everything committed is there after the store is closed and reopened", arguments: StoreKind.all)
    func reopen(_ kind: StoreKind) async throws {
        let (store, reopen, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let bob = key(), group = key()
        _ = try await store.commit(WriteBatch(messages: [message(.devices([bob]), "kept")]))
        _ = try await store.updateGroupRoute(GroupRouteUpdate(groupID: group, serial: 1, adminKey: key(), add: [bob], remove: []))
        try await store.close()
        let reopened = try await reopen()
        #expect(try await reopened.pendingDeliveries(recipient: bob, afterSequence: 0, limit: 10).map(\.payload) == [Data("kept".utf8)])
        #expect(try await reopened.groupRoute(group)?.serial == 1)
        try await reopened.close()
    }

    @Test("Bans are kept once with their first time, lifted, and counted; card inboxes go whole or not at all", arguments: StoreKind.all)
    func administration(_ kind: StoreKind) async throws {
        let (made, _, cleanup) = try await kind.make(StoreLimits())
        defer { cleanup() }
        let store = try #require(made as? any RelayAdminStore)
        let mallory = key(), eve = key(), bob = key()
        #expect(try await store.ban(mallory, at: now) == (DeviceBan(key: mallory, bannedAt: now), true))
        #expect(try await store.ban(mallory, at: later) == (DeviceBan(key: mallory, bannedAt: now), false))
        _ = try await store.ban(eve, at: later)
        #expect(try await store.isBanned(mallory))
        #expect(try await !store.isBanned(bob))
        #expect(try await store.bannedDevices() == [DeviceBan(key: mallory, bannedAt: now), DeviceBan(key: eve, bannedAt: later)])
        #expect(try await store.unban(eve))
        #expect(try await !store.unban(eve))
        #expect(try await !store.isBanned(eve))

        let first = try await store.commit(WriteBatch(messages: [message(.devices([bob, eve]))]))
        guard case .stored = first.outcomes[0] else { Issue.record("\(first.outcomes)"); return }
        _ = try await store.commit(WriteBatch(messages: [message(.devices([bob]))]))
        let closed = key(), open = key(), missing = key()
        for _ in 0..<3 { _ = try await store.postCard(inboxKey: closed, itemID: id16(), sealed: Data("s".utf8), postedAt: now) }
        _ = try await store.postCard(inboxKey: open, itemID: id16(), sealed: Data("s".utf8), postedAt: now)
        var expected = StoreStatistics()
        (expected.devices, expected.mailboxes, expected.deliveries, expected.messages) = (2, 2, 3, 2)
        (expected.oldestUndeliveredAt, expected.cardInboxes, expected.cardItems, expected.bannedDevices) = (now, 2, 4, 1)
        var statistics = try await store.statistics()
        #expect(statistics.storeBytes > 0)
        statistics.storeBytes = 0
        #expect(statistics == expected)

        await #expect(throws: StoreAdminError.noSuchCardInbox(missing)) { try await store.deleteCardInboxes([closed, missing]) }
        #expect(try await store.cardCount(inboxKey: closed) == 3)
        #expect(try await store.deleteCardInboxes([closed]) == [3])
        #expect(try await store.cardCount(inboxKey: closed) == 0)
        #expect(try await store.cardCount(inboxKey: open) == 1)
    }
}
