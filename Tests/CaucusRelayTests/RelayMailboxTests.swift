import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import Testing

/// A real relay on a loopback port, real WebSocket clients.
@Suite("Relay: mailboxes, fan-out, prekeys, blobs, cards", .timeLimit(.minutes(10)))
struct RelayMailboxTests {
    @Test("A message sent while the recipient is offline arrives when it connects, and an ack deletes it")
    func offlineDelivery() async throws {
        let relay = try await TestRelay.start()
        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        let payload = Data("ciphertext for bob".utf8)
        let id = newMessageID()
        let accepted = try await a.send(payload, to: [bob.id], id: id)
        #expect(accepted.recipients == 1 && !accepted.duplicate)

        let b = try await relay.connect(bob.key)
        let got = try await b.deliveries(1)
        #expect(got[0].payload == payload)
        #expect(got[0].messageID.data == id)
        #expect(try await b.ack([id]) == 1)
        #expect(try await relay.store.pendingCount(recipient: bob.id) == 0)
        await b.close()

        // Nothing is delivered again after the ack.
        let again = try await relay.connect(bob.key)
        let pending = try await relay.store.pendingDeliveries(recipient: bob.id, afterSequence: 0, limit: 10)
        #expect(pending.isEmpty)
        await again.close()
        await a.close()
        await relay.stop()
    }

    @Test("Asked for in Hello, QueueEmpty comes once, after the whole backlog and before later deliveries; an empty mailbox gets QueueEmpty{0}; unasked, never")
    func queueEmptyAfterTheBacklog() async throws {
        let relay = try await TestRelay.start()
        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        // More than one page of the store (256): the marker waits for every page.
        var sent: [Data] = []
        for index in 0..<300 {
            let id = newMessageID()
            sent.append(id)
            try await a.send(Data("backlog \(index)".utf8), to: [bob.id], id: id)
        }

        let b = try await relay.connect(bob.key)
        let pushes = try await b.pushesUntilQueueEmpty()
        let backlog = pushes.compactMap { push -> Data? in if case .delivery(let delivery) = push { delivery.messageID.data } else { nil } }
        #expect(backlog == sent)
        guard case .queueEmpty(let pushed)? = pushes.last else { Issue.record("no QueueEmpty last: \(pushes.count)"); return }
        #expect(pushed == 300)

        // Later messages are pushed after it, and no second marker comes on this connection.
        let later = newMessageID()
        try await a.send(Data("later".utf8), to: [bob.id], id: later)
        let marker = newMessageID()
        try await a.send(Data("marker".utf8), to: [bob.id], id: marker)
        var after: [Data] = []
        for await push in b.pushes {
            switch push {
            case .delivery(let delivery): after.append(delivery.messageID.data)
            case .queueEmpty: Issue.record("a second QueueEmpty on one connection")
            default: break
            }
            if after.count == 2 { break }
        }
        #expect(after == [later, marker])

        // A device with nothing waiting is told at once.
        let carol = try await relay.connect(Device().key)
        let nothing = try await carol.pushesUntilQueueEmpty()
        #expect(nothing.count == 1)
        if case .queueEmpty(let pushed)? = nothing.first { #expect(pushed == 0) } else { Issue.record("\(nothing)") }

        // A client whose Hello did not ask is never sent it: its backlog, then the next delivery.
        let dave = Device()
        let waiting = newMessageID(), next = newMessageID()
        try await a.send(Data("waiting".utf8), to: [dave.id], id: waiting)
        let d = try await RelayClient.open(url: relay.url, timeout: TestRelay.clientTimeout, requestTimeout: TestRelay.clientTimeout)
        try await d.hello(wantQueueEmpty: false)
        try await d.authenticate(deviceKey: dave.key)
        var seen: [String] = []
        for await push in d.pushes {
            switch push {
            case .delivery(let delivery): seen.append(delivery.messageID.data == waiting ? "waiting" : "next")
            case .queueEmpty: seen.append("QueueEmpty")
            default: continue
            }
            if seen == ["waiting"] { try await a.send(Data("next".utf8), to: [dave.id], id: next) }
            if seen.count == 2 { break }
        }
        #expect(seen == ["waiting", "next"])
        await d.close(); await carol.close(); await b.close(); await a.close()
        await relay.stop()
    }

    @Test("A connected recipient gets the message pushed, and deliveries carry no sender")
    func livePush() async throws {
        let relay = try await TestRelay.start()
        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        let b = try await relay.connect(bob.key)
        for i in 0..<20 { try await a.send(Data("m\(i)".utf8), to: [bob.id]) }
        let got = try await b.deliveries(20)
        #expect(got.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<20).map { "m\($0)" })
        #expect(zip(got, got.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        // Nothing pushed to Bob carries Alice's key, anywhere in its bytes.
        for delivery in got {
            let bytes = delivery.serialized()
            #expect(Data(bytes).range(of: alice.id) == nil)
        }
        await a.close(); await b.close()
        await relay.stop()
    }

    @Test("Resending with the same message id stores and delivers it once")
    func idempotentResend() async throws {
        let relay = try await TestRelay.start()
        let alice = Device(), bob = Device()
        let a = try await relay.connect(alice.key)
        let id = newMessageID()
        let first = try await a.send(Data("once".utf8), to: [bob.id], id: id)
        let second = try await a.send(Data("once".utf8), to: [bob.id], id: id)
        #expect(!first.duplicate && second.duplicate)
        let b = try await relay.connect(bob.key)
        _ = try await b.deliveries(1)
        try await b.ack([id])
        // Even after delivery and ack, the id stays known: a late resend is not delivered again.
        let third = try await a.send(Data("once".utf8), to: [bob.id], id: id)
        #expect(third.duplicate)
        #expect(try await relay.store.pendingCount(recipient: bob.id) == 0)
        await a.close(); await b.close()
        await relay.stop()
    }

    @Test("A group message to 100 devices is stored once and reaches every connected device")
    func groupFanOut() async throws {
        let relay = try await TestRelay.start()
        let admin = Ed25519.PrivateKey()
        let devices = (0..<100).map { _ in Device() }
        let sender = Device()
        let group = Data(Random.bytes(32))
        let s = try await relay.connect(sender.key)
        let route = try await s.updateRoute(group: group, serial: 1, signer: admin, add: devices.map(\.id) + [sender.id])
        #expect(route.devices == 101)
        var clients: [RelayClient] = []
        for device in devices { clients.append(try await relay.connect(device.key)) }
        let accepted = try await s.sendToGroup(Data("to all".utf8), group: group)
        #expect(accepted.recipients == 100)
        var received: [(RelayClient, Delivery)] = []
        try await withThrowingTaskGroup(of: (RelayClient, Delivery).self) { tasks in
            for client in clients { tasks.addTask { (client, try await client.deliveries(1)[0]) } }
            for try await (client, delivery) in tasks {
                #expect(delivery.payload == Data("to all".utf8))
                #expect(delivery.groupID?.data == group)
                received.append((client, delivery))
            }
        }
        // One stored payload, one delivery row per device.
        let payloads = try countRows(relay.databasePath, "SELECT COUNT(*) FROM payloads")
        let rows = try countRows(relay.databasePath, "SELECT COUNT(*) FROM deliveries")
        #expect(payloads == 1 && rows == 100)
        // The payload goes with the last acknowledgement; the message's id stays until it expires.
        for (client, delivery) in received.dropLast() { try await client.ack([delivery.messageID.data]) }
        #expect(try countRows(relay.databasePath, "SELECT COUNT(*) FROM payloads") == 1)
        let (last, delivery) = try #require(received.last)
        try await last.ack([delivery.messageID.data])
        #expect(try countRows(relay.databasePath, "SELECT COUNT(*) FROM payloads") == 0)
        #expect(try countRows(relay.databasePath, "SELECT COUNT(*) FROM messages") == 1)
        for client in clients { await client.close() }
        await s.close()
        await relay.stop()
    }

    @Test("Group routes change only with the admin key's signature and a serial not below the route's")
    func groupRouting() async throws {
        let relay = try await TestRelay.start()
        let admin = Ed25519.PrivateKey(), intruder = Ed25519.PrivateKey()
        let member = Device(), outsider = Device()
        let group = Data(Random.bytes(32))
        let m = try await relay.connect(member.key)
        try await m.updateRoute(group: group, serial: 1, signer: admin, add: [member.id])
        // A change signed by someone else is refused.
        let forged = await relayError { try await m.updateRoute(group: group, serial: 2, signer: intruder, newAdmin: admin, add: [outsider.id]) }
        #expect(forged?.code == .badSignature)
        // A change below the route's serial (a replay) is refused; the current serial re-asserts the
        // route, and a later one skips ahead (a route restored from a backup catching up); each
        // reply says the serial before it.
        let added = try await m.updateRoute(group: group, serial: 2, signer: admin, add: [outsider.id])
        #expect(added.serial == 2 && added.previousSerial == 1 && added.devices == 2)
        let replay = await relayError { try await m.updateRoute(group: group, serial: 1, signer: admin, add: [outsider.id]) }
        #expect(replay?.code == .conflict)
        let reasserted = try await m.updateRoute(group: group, serial: 2, signer: admin)
        #expect(reasserted.serial == 2 && reasserted.previousSerial == 2 && reasserted.devices == 2)
        let skipped = try await m.updateRoute(group: group, serial: 5, signer: admin, remove: [outsider.id])
        #expect(skipped.serial == 5 && skipped.previousSerial == 2 && skipped.devices == 1)
        let hijack = await relayError { try await m.updateRoute(group: group, serial: 1, signer: intruder, add: [outsider.id]) }
        #expect(hijack?.code == .conflict)
        #expect(try await relay.store.groupDevices(group) == [member.id])
        // A device not routed for the group cannot send to it.
        let o = try await relay.connect(outsider.key)
        let refused = await relayError { try await o.sendToGroup(Data("spam".utf8), group: group) }
        #expect(refused?.code == .forbidden)
        // The admin can hand over to a new key; the old one then stops working.
        let next = Ed25519.PrivateKey()
        try await m.updateRoute(group: group, serial: 6, signer: admin, newAdmin: next, add: [outsider.id])
        let old = await relayError { try await m.updateRoute(group: group, serial: 7, signer: admin, remove: [outsider.id]) }
        #expect(old?.code == .badSignature)
        try await m.updateRoute(group: group, serial: 7, signer: next, remove: [outsider.id])
        #expect(try await relay.store.groupDevices(group) == [member.id])
        await m.close(); await o.close()
        await relay.stop()
    }

    @Test("Concurrent prekey fetches never hand out a one-time prekey twice, and the owner is warned when low")
    func concurrentPrekeyFetches() async throws {
        let relay = try await TestRelay.start { $0.prekeyLowWatermark = 5 }
        let owner = Device()
        let o = try await relay.connect(owner.key)
        let keys = (1...40).map { i in WireOneTimePrekey.with { $0.id = UInt32(i); $0.publicKey = Data(Random.bytes(32)) } }
        let reply = try await o.request(.publishPrekeys(WirePublishPrekeys.with {
            $0.signedPrekey = Data(Random.bytes(100))
            $0.oneTimePrekeys = keys
        }))
        guard case .prekeysPublished(let published) = reply else { Issue.record("\(reply)"); return }
        #expect(published.oneTimePrekeys == 40)

        let fetchers = try await withThrowingTaskGroup(of: RelayClient.self, returning: [RelayClient].self) { group in
            for _ in 0..<10 { group.addTask { try await relay.connect(Device().key) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let handedOut = try await withThrowingTaskGroup(of: UInt32?.self, returning: [UInt32].self) { group in
            for fetcher in fetchers {
                for _ in 0..<5 {
                    group.addTask {
                        let reply = try await fetcher.request(.fetchPrekeys(WireFetchPrekeys.with { $0.owner = owner.id }))
                        guard case .prekeyBundle(let bundle) = reply else { return nil }
                        return bundle.hasOneTimePrekey ? bundle.oneTimePrekey.id : nil
                    }
                }
            }
            return try await group.reduce(into: []) { if let id = $1 { $0.append(id) } }
        }
        // 50 fetches, 40 keys: each key exactly once, 10 bundles without one.
        #expect(handedOut.count == 40)
        #expect(Set(handedOut).count == 40)
        var warned = false
        for await push in o.pushes {
            if case .prekeysLow(let remaining, _) = push, remaining < 5 { warned = true; break }
        }
        #expect(warned)
        for fetcher in fetchers { await fetcher.close() }
        await o.close()
        await relay.stop()
    }

    @Test("A blob uploads in chunks and downloads byte for byte; size and quota are enforced")
    func blobs() async throws {
        let relay = try await TestRelay.start {
            $0.maxBlobChunkBytes = 64 << 10
            $0.storeLimits.maxBlobBytes = 1 << 20
            $0.storeLimits.blobQuotaBytes = 1_500_000
        }
        let owner = Device(), reader = Device()
        let o = try await relay.connect(owner.key)
        let blob = Data(Random.bytes(700_000))
        let blobID = Data(Random.bytes(16))
        var offset = 0
        while offset < blob.count {
            let end = min(offset + (64 << 10), blob.count)
            let reply = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
                $0.blobID = blobID
                $0.offset = UInt64(offset)
                $0.data = blob[offset..<end]
                $0.last = end == blob.count
            }))
            guard case .blobChunkStored(let stored) = reply else { Issue.record("\(reply)"); return }
            #expect(stored.size == UInt64(end))
            offset = end
        }
        let r = try await relay.connect(reader.key)
        var downloaded = Data()
        while downloaded.count < blob.count {
            let reply = try await r.request(.getBlobChunk(WireGetBlobChunk.with {
                $0.blobID = blobID
                $0.offset = UInt64(downloaded.count)
                $0.length = 50_000
            }))
            guard case .blobChunk(let chunk) = reply else { Issue.record("\(reply)"); return }
            #expect(chunk.totalSize == UInt64(blob.count))
            downloaded.append(chunk.data)
        }
        #expect(downloaded == blob)

        // A second blob would pass the per-device quota.
        let second = Data(Random.bytes(16))
        var quota: RelayError?
        var at = 0
        while quota == nil && at < 1_000_000 {
            let chunk = Data(Random.bytes(64 << 10))
            quota = await relayError {
                _ = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
                    $0.blobID = second; $0.offset = UInt64(at); $0.data = chunk
                }))
            }
            at += chunk.count
        }
        #expect(quota?.code == .quotaExceeded)
        // A chunk over the frame's chunk limit.
        let big = await relayError {
            _ = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
                $0.blobID = Data(Random.bytes(16)); $0.data = Data(count: (64 << 10) + 1)
            }))
        }
        #expect(big?.code == .payloadTooLarge)
        await o.close(); await r.close()
        await relay.stop()
    }

    @Test("A blob chunk resent with the same bytes is answered as before; one with other bytes is CONFLICT")
    func blobChunkResends() async throws {
        let relay = try await TestRelay.start()
        let owner = Device()
        let o = try await relay.connect(owner.key)
        let blobID = Data(Random.bytes(16))
        let bytes = Data(Random.bytes(2_000))
        func put(_ range: Range<Int>, _ data: Data? = nil, last: Bool = false) async throws -> WireBlobChunkStored? {
            let reply = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
                $0.blobID = blobID; $0.offset = UInt64(range.lowerBound); $0.data = data ?? bytes[range]; $0.last = last
            }))
            guard case .blobChunkStored(let stored) = reply else { Issue.record("\(reply)"); return nil }
            return stored
        }
        #expect(try await put(0..<1_000)?.size == 1_000)
        // The reply was lost, say: the same chunk again changes nothing.
        let again = try await put(0..<1_000)
        #expect(again?.size == 1_000 && again?.complete == false)
        var altered = bytes[0..<1_000]
        altered[altered.startIndex + 999] ^= 0x80
        let refused = await relayError { _ = try await put(0..<1_000, altered) }
        #expect(refused?.code == .conflict)
        // An offset near 2^64, unfinished and finished: refused, and the relay goes on.
        for offset in [UInt64.max - 10, UInt64.max] {
            let huge = await relayError { _ = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
                $0.blobID = blobID; $0.offset = offset; $0.data = bytes[0..<100]
            })) }
            #expect(huge?.code == .conflict, "\(String(describing: huge))")
        }
        #expect(try await put(1_000..<2_000, last: true)?.complete == true)
        let past = await relayError { _ = try await o.request(.putBlobChunk(WirePutBlobChunk.with {
            $0.blobID = blobID; $0.offset = UInt64.max - 10; $0.data = bytes[0..<100]
        })) }
        #expect(past?.code == .conflict, "\(String(describing: past))")
        let whole = try await o.request(.getBlobChunk(WireGetBlobChunk.with { $0.blobID = blobID; $0.length = 4_000 }))
        guard case .blobChunk(let chunk) = whole else { Issue.record("\(whole)"); return }
        #expect(chunk.data == bytes)
        await o.close()
        await relay.stop()
    }

    @Test("Anyone posts to a card inbox; only a holder of the inbox key reads it")
    func cardInbox() async throws {
        let relay = try await TestRelay.start()
        let inbox = Ed25519.PrivateKey()
        let inboxKey = Data(inbox.publicKey.rawRepresentation)
        let worker = Device(), organizer = Device(), snoop = Device()
        let w = try await relay.connect(worker.key)
        let itemID = Data(Random.bytes(16))
        // An empty item is malformed, not too large.
        let empty = await relayError {
            _ = try await w.request(.postCard(WirePostCard.with { $0.inboxKey = inboxKey; $0.itemID = itemID; $0.sealed = Data() }))
        }
        #expect(empty?.code == .invalidArgument && empty?.message.contains("sealed is empty") == true, "\(String(describing: empty))")
        for _ in 0..<2 {
            _ = try await w.request(.postCard(WirePostCard.with {
                $0.inboxKey = inboxKey; $0.itemID = itemID; $0.sealed = Data("sealed card".utf8)
            }))
        }
        // Someone without the inbox key cannot read it, even with a signature from another key.
        let s = try await relay.connect(snoop.key)
        let unopened = await relayError {
            _ = try await s.request(.readCards(WireReadCards.with { $0.inboxKey = inboxKey }))
        }
        #expect(unopened?.code == .forbidden)
        let wrongKey = await relayError {
            let statement = RelayProtocol.cardInboxOpenStatement(relayAddress: s.address, challenge: s.welcome!.challenge, inboxKey: inboxKey)
            _ = try await s.request(.openCardInbox(WireOpenCardInbox.with {
                $0.inboxKey = inboxKey
                $0.signature = Data(snoop.key.signature(for: statement).rawRepresentation)
            }))
        }
        #expect(wrongKey?.code == .badSignature)

        let o = try await relay.connect(organizer.key)
        let statement = RelayProtocol.cardInboxOpenStatement(relayAddress: o.address, challenge: o.welcome!.challenge, inboxKey: inboxKey)
        let opened = try await o.request(.openCardInbox(WireOpenCardInbox.with {
            $0.inboxKey = inboxKey
            $0.signature = Data(inbox.signature(for: statement).rawRepresentation)
        }))
        guard case .cardInboxOpened(let count) = opened else { Issue.record("\(opened)"); return }
        #expect(count.items == 1)
        let read = try await o.request(.readCards(WireReadCards.with { $0.inboxKey = inboxKey }))
        guard case .cards(let cards) = read else { Issue.record("\(read)"); return }
        #expect(cards.items.map(\.sealed) == [Data("sealed card".utf8)])
        // The same signature does not open the inbox on another connection (its challenge differs).
        let replayed = await relayError {
            _ = try await s.request(.openCardInbox(WireOpenCardInbox.with {
                $0.inboxKey = inboxKey
                $0.signature = Data(inbox.signature(for: statement).rawRepresentation)
            }))
        }
        #expect(replayed?.code == .badSignature)
        await w.close(); await s.close(); await o.close()
        await relay.stop()
    }
}

/// Counts with one SQL query on the relay's file, opened read-only by the sqlite3 library.
func countRows(_ path: String, _ sql: String) throws -> Int {
    try SQLiteInspector.scalar(path: path, sql: sql)
}
