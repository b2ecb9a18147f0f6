// A real end-to-end session through a running relay, printed step by step: two workers make
// identities, exchange an X3DH + Double Ratchet conversation (one of them offline at first), fan a
// message out through a group route, and move an encrypted file as a blob. Used by scripts/demo
// until the terminal client (issue 5) takes over; everything here goes over the real wire protocol.
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation

func say(_ text: String) { print(text) }

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("caucus-demo: \(text)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 2, arguments[1].hasPrefix("ws") else {
    fail("usage: caucus-demo ws://HOST:PORT")
}
let url = arguments[1]

func reply<T>(_ body: WireServerFrame.OneOf_Body, _ extract: (WireServerFrame.OneOf_Body) -> T?) throws -> T {
    guard let value = extract(body) else { throw RelayClientError.unexpectedReply("\(body)") }
    return value
}

func nextDelivery(_ client: RelayClient) async throws -> WireDelivery {
    for await push in client.pushes {
        if case .delivery(let delivery) = push { return delivery }
    }
    throw RelayClientError.connectionClosed(client.closeReason ?? "ended")
}

func send(_ client: RelayClient, _ payload: [UInt8], to recipients: [Data] = [], group: Data? = nil) async throws -> WireSendAccepted {
    let body = try await client.request(.send(WireSendMessage.with {
        $0.messageID = Data(Random.bytes(16))
        $0.recipients = recipients
        if let group { $0.groupID = group }
        $0.payload = Data(payload)
    }))
    return try reply(body) { if case .sendAccepted(let a) = $0 { a } else { nil } }
}

func run() async throws {
    let rosa = Ed25519.PrivateKey(), tomasz = Ed25519.PrivateKey(), amira = Ed25519.PrivateKey()
    let rosaID = Data(rosa.publicKey.rawRepresentation)
    let tomaszID = Data(tomasz.publicKey.rawRepresentation)
    let amiraID = Data(amira.publicKey.rawRepresentation)
    say("identities (made on each device, never sent anywhere):")
    say("  Rosa    \(DID(publicKey: rosa.publicKey))")
    say("  Tomasz  \(DID(publicKey: tomasz.publicKey))")
    say("  Amira   \(DID(publicKey: amira.publicKey))")

    // Tomasz publishes prekeys, then goes offline.
    let t = try await RelayClient.connect(url: url, deviceKey: tomasz)
    say("Tomasz connects to \(t.address) (version \(t.welcome?.version ?? 0), challenge signed with his key)")
    let signed = SignedPrekey(id: 1, identity: tomasz)
    let oneTime = (1...5).map { OneTimePrekey(id: UInt32($0)) }
    let published = try reply(try await t.request(.publishPrekeys(WirePublishPrekeys.with {
        $0.signedPrekey = Data(signed.publishedBytes)
        $0.oneTimePrekeys = oneTime.map { key in
            WireOneTimePrekey.with { $0.id = key.id; $0.publicKey = Data(key.privateKey.publicKey.rawRepresentation) }
        }
    }))) { if case .prekeysPublished(let p) = $0 { p } else { nil } }
    say("Tomasz publishes a signed prekey and \(published.oneTimePrekeys) one-time prekeys, then goes offline")
    await t.close()

    // Rosa fetches his bundle, starts a session, and writes while he is offline.
    let r = try await RelayClient.connect(url: url, deviceKey: rosa)
    let bundleReply = try reply(try await r.request(.fetchPrekeys(WireFetchPrekeys.with { $0.owner = tomaszID }))) {
        if case .prekeyBundle(let b) = $0 { b } else { nil }
    }
    let bundle = try PrekeyBundle(
        identity: Array(bundleReply.owner), publishedSignedPrekey: Array(bundleReply.signedPrekey),
        oneTimePrekey: (bundleReply.oneTimePrekey.id, Array(bundleReply.oneTimePrekey.publicKey)))
    guard bundle.hasValidSignature else { fail("Tomasz's signed prekey does not verify") }
    say("Rosa fetches Tomasz's bundle (one-time prekey \(bundleReply.oneTimePrekey.id), handed out once) and checks its signature")
    var rosaSession = try Session.initiate(identity: rosa, bundle: bundle)
    let first = "Meeting Thursday 6pm at the library, back room."
    let accepted = try await send(r, rosaSession.encrypt(Array(first.utf8)), to: [tomaszID])
    say("Rosa sends (X3DH + Double Ratchet) while Tomasz is offline: stored durably for \(accepted.recipients) device")

    // Tomasz comes back and reads it.
    let t2 = try await RelayClient.connect(url: url, deviceKey: tomasz)
    let delivery = try await nextDelivery(t2)
    var (tomaszSession, opened) = try Session.respond(
        to: Array(delivery.payload), identity: tomasz,
        signedPrekey: { $0 == signed.id ? signed : nil },
        oneTimePrekey: { id in oneTime.first { $0.id == id } })
    say("Tomasz reconnects; the relay pushes the waiting message; he decrypts: \"\(String(decoding: opened.plaintext, as: UTF8.self))\"")
    _ = try await t2.request(.ack(WireAckMessages.with { $0.messageIds = [delivery.messageID] }))
    let answer = "I'll be there, and I'll bring Amira."
    _ = try await send(t2, tomaszSession.encrypt(Array(answer.utf8)), to: [rosaID])
    let back = try await nextDelivery(r)
    say("Tomasz acknowledges (the relay deletes it) and answers; Rosa reads: \"\(String(decoding: try rosaSession.decrypt(Array(back.payload)).plaintext, as: UTF8.self))\"")
    _ = try await r.request(.ack(WireAckMessages.with { $0.messageIds = [back.messageID] }))

    // A group route: the relay learns a random id and three device keys, nothing more.
    let a = try await RelayClient.connect(url: url, deviceKey: amira)
    let group = Data(Random.bytes(32)), routingAdmin = Ed25519.PrivateKey()
    let members = [rosaID, tomaszID, amiraID]
    let statement = RelayProtocol.groupRoutingStatement(
        groupID: group, serial: 1, adminKey: Data(routingAdmin.publicKey.rawRepresentation), add: members, remove: [])
    let route = try reply(try await r.request(.updateGroupRouting(WireUpdateGroupRouting.with {
        $0.groupID = group
        $0.serial = 1
        $0.adminKey = Data(routingAdmin.publicKey.rawRepresentation)
        $0.add = members
        $0.signature = Data(routingAdmin.signature(for: statement).rawRepresentation)
    }))) { if case .groupRoutingUpdated(let u) = $0 { u } else { nil } }
    say("Rosa creates a group route (signed by its routing admin key) for \(route.devices) devices")
    // The group's content key travels to each member in an anonymous sealed box to their key
    // (the full client uses group epochs from CaucusCrypto); the notice itself is one ciphertext.
    let groupKey = SymmetricKey()
    let keyBytes = groupKey.bytes.withUnsafeBytes { Array($0) }
    for member in [tomasz, amira] {
        let box = SealedBox.seal(keyBytes, to: try X25519.PublicKey(converting: member.publicKey))
        _ = try await send(r, box, to: [Data(member.publicKey.rawRepresentation)])
    }
    let notice = "Committee: cards go out Monday."
    let sealed = XChaCha20Poly1305.seal(Array(notice.utf8), using: groupKey)
    let fanned = try await send(r, sealed, group: group)
    say("Rosa seals the group key to Tomasz and Amira, then sends one ciphertext to the group: stored once, \(fanned.recipients) delivery entries")
    for (name, client, key) in [("Tomasz", t2, tomasz), ("Amira", a, amira)] {
        let keyMessage = try await nextDelivery(client)
        let memberKey = try SymmetricKey(bytes: SecureBytes(copying: try SealedBox.open(
            Array(keyMessage.payload), with: X25519.PrivateKey(converting: key))))
        let got = try await nextDelivery(client)
        let text = String(decoding: try XChaCha20Poly1305.open(Array(got.payload), using: memberKey), as: UTF8.self)
        say("  \(name) opens the key, then the group message: \"\(text)\"")
        _ = try await client.request(.ack(WireAckMessages.with { $0.messageIds = [keyMessage.messageID, got.messageID] }))
    }

    // A file as an encrypted blob, uploaded in chunks.
    let file = Array(repeating: Array("sign-up sheet row\n".utf8), count: 20_000).flatMap { $0 }
    let fileKey = SymmetricKey()
    let encrypted = XChaCha20Poly1305.seal(file, using: fileKey)
    let blobID = Data(Random.bytes(16))
    let chunk = 256 << 10
    var offset = 0
    while offset < encrypted.count {
        let end = min(offset + chunk, encrypted.count)
        _ = try await r.request(.putBlobChunk(WirePutBlobChunk.with {
            $0.blobID = blobID
            $0.offset = UInt64(offset)
            $0.data = Data(encrypted[offset..<end])
            $0.last = end == encrypted.count
        }))
        offset = end
    }
    var downloaded = [UInt8]()
    while downloaded.count < encrypted.count {
        let part = try reply(try await a.request(.getBlobChunk(WireGetBlobChunk.with {
            $0.blobID = blobID
            $0.offset = UInt64(downloaded.count)
            $0.length = UInt32(chunk)
        }))) { if case .blobChunk(let c) = $0 { c } else { nil } }
        downloaded += part.data
    }
    let restored = try XChaCha20Poly1305.open(downloaded, using: fileKey)
    say("Rosa uploads a \(file.count)-byte file encrypted, in \((encrypted.count + chunk - 1) / chunk) chunks; Amira downloads and decrypts it: \(restored == file ? "identical" : "DIFFERENT")")
    guard restored == file else { fail("the file did not survive the round trip") }

    for client in [r, t2, a] { await client.close() }
    say("done: every step went through the relay as ciphertext")
}

do {
    try await run()
} catch {
    fail("\(error)")
}
