@testable import CaucusClient
@testable import CaucusCrypto
import CaucusClientStore
import CaucusPayloads
import CaucusTestSupport
import Foundation
import Testing

/// `vectors/groups.json` (Protocol.md §8, §9.1, §9.4, §9.7): a membership chain with every action,
/// the epochs it starts with their secret trees and sender chains, group messages across two epochs,
/// a join, a member's second device and its removal, the Welcomes and EpochKeys of §8.3, one payload
/// of each kind of §9.1, two invite codes and three files sealed in chunks, all from fixed seeds and
/// inputs. Records are only ever added after the ones already there (the second device came last). Ed25519 signatures are
/// deterministic; AEAD nonces are random (§1.1), so a group message or a file's chunks kept in the
/// file are reused as long as the code's own receivers open them to exactly what the code makes now.
/// The generator lives here, where the group core, the payloads, the invite codes and the file
/// chunks are all in reach, so that one place makes the one file.
/// `scripts/check-group-vectors.py` checks the same file from Protocol.md alone, with PyNaCl.
@Suite("Groups: the test vectors in vectors/groups.json match the code, and the independent Python checker accepts them")
struct GroupVectorTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let file = repository.appendingPathComponent("vectors/groups.json")
    static let cardsFile = repository.appendingPathComponent("vectors/cards.json")

    /// The fixed inputs: seeds (four identities and the device key of Rosa's laptop), group id, the
    /// three epoch secrets chosen at random in real use.
    static let seeds: [(name: String, byte: UInt8)] = [("rosa", 0x21), ("tomasz", 0x22), ("amira", 0x23), ("lee", 0x24), ("rosa-laptop", 0x25)]
    static let groupID = [UInt8](0x40..<0x60)
    static let creationSecret = [UInt8](0x80..<0xa0)
    static let removalSecret = [UInt8](0xc0..<0xe0)
    static let deviceRemovalSecret = [UInt8](0xe0...0xff)
    /// The membership actions by code (Protocol.md §8.1), as an epoch record names the one that started it.
    static let actionNames = ["create", "add", "remove", "set role", "add device", "remove device"]
    /// Sender chain steps listed per member and epoch.
    static let generations = 3
    /// The files of §9.7, sealed in chunks of `fileChunkSize` bytes: 40 bytes of text (chunks of 16, 16
    /// and 8), 32 bytes (two full chunks, the second the last) and an empty file (one empty chunk).
    static let files: [[UInt8]] = [Array("Strike vote Friday at 7 pm, union hall.\n".utf8), Array("Bring the sign-up sheets, please".utf8), []]
    static let fileChunkSize = 16
    /// File `number`'s key: 0xa0..<0xc0, 0xc0..<0xe0, 0xe0...0xff.
    static func fileKey(_ number: Int) -> [UInt8] { (0..<32).map { UInt8(0xa0 + 0x20 * number + $0) } }
    /// File `number`'s blob id: 0x60..<0x70, 0x70..<0x80, 0x80..<0x90.
    static func fileBlobID(_ number: Int) -> [UInt8] { (0..<16).map { UInt8(0x60 + 0x10 * number + $0) } }

    struct VectorError: Error, CustomStringConvertible {
        let description: String
    }

    private static func key(_ byte: UInt8) -> Ed25519.PrivateKey {
        try! Ed25519.PrivateKey(seed: SecureBytes(copying: [UInt8](repeating: byte, count: 32)))
    }

    private static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
    private static func hex(_ bytes: SecureBytes) -> String { Hex.encode(bytes.withUnsafeBytes { Array($0) }) }

    /// `value`, or an error naming what is missing.
    private static func need<T>(_ value: T?, _ what: String) throws -> T {
        guard let value else { throw VectorError(description: "missing: \(what)") }
        return value
    }

    private static func object(_ value: Any?, _ key: String) -> Any? { (value as? [String: Any])?[key] }

    /// The vectors as a JSON object, built by the reference code. `stored` is the file as it is:
    /// its group message ciphertexts are kept when the code's receivers open them to the same messages.
    static func vectors(stored: [String: Any]?) throws -> [String: Any] {
        let keys = Dictionary(uniqueKeysWithValues: seeds.map { ($0.name, key($0.byte)) })
        let names = Dictionary(uniqueKeysWithValues: seeds.map { (keys[$0.name]!.publicKey, $0.name) })
        let rosa = keys["rosa"]!, tomasz = keys["tomasz"]!, amira = keys["amira"]!, lee = keys["lee"]!, laptop = keys["rosa-laptop"]!

        // 1. The membership chain (§8.1).
        let creation = MembershipEntry(groupID: groupID, sequence: 0, previous: [UInt8](repeating: 0, count: 32), action: .create,
                                       signedBy: rosa)
        var chain = try MembershipChain(creation: creation)
        var chains = [chain]
        let changes: [(MembershipEntry.Action, Ed25519.PrivateKey)] = [
            (.add(tomasz.publicKey, .member), rosa), (.add(amira.publicKey, .member), rosa), (.setRole(tomasz.publicKey, .admin), rosa),
            (.remove(amira.publicKey), tomasz), (.add(lee.publicKey, .member), tomasz),
            (.addDevice(laptop.publicKey), rosa), (.removeDevice(laptop.publicKey), tomasz),
        ]
        for (action, author) in changes {
            _ = try chain.make(action, by: author)
            chains.append(chain)
        }
        let entries = chain.entries
        let entryRecords: [[String: Any]] = entries.map { entry in
            let (code, subject, role) = entry.actionFields
            return ["sequence": entry.sequence, "action": Int(code), "subject": names[subject]!, "role": Int(role),
                    "author": names[entry.author]!, "previous": hex(entry.previous), "signed_bytes": hex(entry.statement.bytes),
                    "signature": hex(entry.signature.rawRepresentation), "encoded": hex(entry.encoded()), "hash": hex(entry.hash)]
        }

        // 2. Epochs and their secret trees (§8.2).
        var epochs = [UInt64: GroupEpoch]()
        var epochRecords = [[String: Any]]()
        var previousEpoch: GroupEpoch?
        var secrets = [UInt64: SecureBytes]()
        for entry in entries where entry.startsEpoch {
            let state = chains[Int(entry.sequence)]
            let secret: SecureBytes
            var record: [String: Any] = ["number": entry.sequence]
            switch entry.action {
            case .add, .addDevice: secret = previousEpoch!.additionSecret(entryHash: entry.hash)
            case .remove: secret = SecureBytes(copying: removalSecret)
            case .removeDevice: secret = SecureBytes(copying: deviceRemovalSecret)
            default: secret = SecureBytes(copying: creationSecret)
            }
            record["started_by"] = actionNames[Int(entry.actionFields.code)]
            let epoch = GroupEpoch(number: entry.sequence, secret: secret, groupID: groupID, leaves: state.leaves, leafCount: state.leafCount)
            let root = try need(epoch.tree.nodes[SecretTree.Span(lo: 0, hi: state.leafCount)], "tree root")
            record["secret"] = hex(secret)
            record["prk"] = hex(HKDF.extract(salt: groupID, inputKeyMaterial: secret))
            record["header_key"] = hex(epoch.headerKey.bytes)
            record["tree_root"] = hex(root)
            record["successor_seed"] = hex(epoch.successorSeed)
            record["leaf_count"] = Int(state.leafCount)
            record["leaves"] = Dictionary(uniqueKeysWithValues: state.leaves.map { (names[$0.key]!, Int($0.value)) })
            record["tree"] = try treeNodes(root, lo: 0, hi: state.leafCount, taking: epoch.tree)
            var senders = [[String: Any]]()
            for (device, leaf) in state.leaves.sorted(by: { $0.value < $1.value }) {
                var tree = epoch.tree
                var sender = SenderChain(chainKey: try need(tree.take(leaf), "leaf \(leaf)"))
                var steps = [[String: Any]]()
                for counter in 0..<UInt32(generations) {
                    let chainKey = sender.chainKey
                    let (messageKey, _, _) = try sender.key(for: counter)
                    steps.append(["counter": Int(counter), "chain_key": hex(chainKey), "message_key": hex(messageKey)])
                }
                // "member" names the device; "owner" its member, for a device that is not the member's identity key.
                var senderRecord: [String: Any] = ["member": names[device]!, "leaf": Int(leaf), "chain": steps]
                if let owner = state.owner(of: device), owner != device { senderRecord["owner"] = names[owner]! }
                senders.append(senderRecord)
            }
            record["senders"] = senders
            epochRecords.append(record)
            epochs[entry.sequence] = epoch
            secrets[entry.sequence] = secret
            previousEpoch = epoch
        }

        // 3. Group messages (§8.4), from sessions joined by welcome at epoch 2, then across the removal's
        // epoch 4 and Lee's join at epoch 5. Each message is opened by everyone else in the group.
        func welcome(through sequence: Int) -> GroupWelcome {
            GroupWelcome(entries: Array(entries[...sequence]), epoch: UInt64(sequence), secret: secrets[UInt64(sequence)]!)
        }
        var sessions = [String: GroupSession]()
        for name in ["rosa", "tomasz", "amira"] {
            sessions[name] = try GroupSession(welcome: welcome(through: 2), me: keys[name]!.publicKey, device: keys[name]!.publicKey,
                                              from: rosa.publicKey)
        }
        let storedMessages = (stored?["group_messages"] as? [[String: Any]])?.map { ($0["message"] as? String).flatMap(Hex.decode) }
        var messageRecords = [[String: Any]]()
        func messageKey(_ epoch: UInt64, _ name: String, _ counter: UInt32) throws -> SecureBytes {
            var tree = epochs[epoch]!.tree
            var sender = SenderChain(chainKey: try need(tree.take(epochs[epoch]!.leaves[keys[name]!.publicKey]!), "leaf of \(name)"))
            return try sender.key(for: counter).0
        }
        func send(_ text: String, from name: String, to receivers: [String]) throws {
            let epochNumber = sessions[name]!.currentEpoch
            let plaintext = Array(text.utf8)
            let fresh = try sessions[name]!.encrypt(plaintext, device: keys[name]!)
            func open(_ message: [UInt8]) -> ([String: GroupSession], [GroupMessage])? {
                var copy = sessions
                var opened = [GroupMessage]()
                for receiver in receivers {
                    guard let message = try? copy[receiver]!.decrypt(message) else { return nil }
                    opened.append(message)
                }
                return (copy, opened)
            }
            var (after, opened) = try need(open(fresh), "a fresh group message opened by its receivers")
            var wire = fresh
            let index = messageRecords.count
            if let storedMessages, index < storedMessages.count, let keptWire = storedMessages[index], let kept = open(keptWire),
               kept.1 == opened {
                (after, opened) = kept
                wire = keptWire
            }
            sessions = after
            let message = opened[0]
            let owner = try need(chain.owner(of: keys[name]!.publicKey), "the owner of \(name)")
            guard message.plaintext == plaintext,
                  opened.allSatisfy({ $0.hash == message.hash && $0.sender == owner && $0.device == keys[name]!.publicKey })
            else { throw VectorError(description: "receivers disagree on a group message") }
            let (content, previous, signature) = try GroupSession.parseContent(
                try XChaCha20Poly1305.open(Array(wire[85...]), using: try SymmetricKey(bytes: messageKey(epochNumber, name, message.counter)),
                                           authenticating: Array(wire[..<85])))
            let statement = GroupSession.statement(groupID: groupID, epoch: epochNumber, sender: message.device, counter: message.counter,
                                                   previous: previous, plaintext: content)
            var header = message.device.rawRepresentation
            header.appendU32(message.counter)
            var record: [String: Any] = [
                "sender": name, "received_by": receivers, "epoch": epochNumber, "counter": Int(message.counter), "text": text,
                "plaintext": hex(plaintext), "prev": previous.map(hex), "signed_bytes": hex(statement.bytes),
                "signature": hex(signature.rawRepresentation), "hash": hex(message.hash), "header": hex(header),
                "message_key": hex(try messageKey(epochNumber, name, message.counter)), "message": hex(wire),
            ]
            // "sender" names the device in the header; "owner" its member, for a device that is not the member's identity key.
            if message.sender != message.device { record["owner"] = names[message.sender]! }
            messageRecords.append(record)
        }
        try send("Meeting Thursday at 6, break room B.", from: "rosa", to: ["tomasz", "amira"])
        try send("I'll bring the sign-up sheets.", from: "tomasz", to: ["rosa", "amira"])
        try send("Thanks. Tomasz will co-chair.", from: "rosa", to: ["tomasz", "amira"])
        for name in ["rosa", "tomasz"] {
            try sessions[name]!.apply(entries[3])
            try sessions[name]!.apply(entries[4])
            try sessions[name]!.receive(epochKey: GroupEpochKey(groupID: groupID, epoch: 4, secret: secrets[4]!), from: tomasz.publicKey)
        }
        try send("Amira has left the committee.", from: "tomasz", to: ["rosa"])
        try send("Noted; Lee joins tomorrow.", from: "rosa", to: ["tomasz"])
        for name in ["rosa", "tomasz"] { try sessions[name]!.apply(entries[5]) }
        sessions["lee"] = try GroupSession(welcome: welcome(through: 5), me: lee.publicKey, device: lee.publicKey, from: tomasz.publicKey)
        try send("Hello, everyone: Lee here.", from: "lee", to: ["rosa", "tomasz"])
        // Rosa gives the group her laptop (entry 6): her own device welcomes it; Tomasz, an admin,
        // removes it again (entry 7) and sends the new epoch's key to every remaining device.
        for name in ["rosa", "tomasz", "lee"] { try sessions[name]!.apply(entries[6]) }
        sessions["rosa-laptop"] = try GroupSession(welcome: welcome(through: 6), me: rosa.publicKey, device: laptop.publicKey,
                                                   from: rosa.publicKey)
        try send("Rosa here, writing from my laptop.", from: "rosa-laptop", to: ["rosa", "tomasz", "lee"])
        let deviceEpochKey = GroupEpochKey(groupID: groupID, epoch: 7, secret: secrets[7]!)
        for name in ["rosa", "tomasz", "lee"] {
            try sessions[name]!.apply(entries[7])
            try sessions[name]!.receive(epochKey: deviceEpochKey, from: tomasz.publicKey)
        }
        try send("Rosa's laptop is out of the group: it was lost on the bus.", from: "tomasz", to: ["rosa", "lee"])

        // 4. What travels over pairwise sessions (§8.3), and one payload of each kind (§9.1).
        let epochKey = GroupEpochKey(groupID: groupID, epoch: 4, secret: secrets[4]!)
        let leeWelcome = welcome(through: 5)
        let laptopWelcome = welcome(through: 6)
        let pairwise: [String: Any] = [
            "epoch_key": ["epoch": 4, "secret": hex(secrets[4]!), "encoded": hex(epochKey.serialized())] as [String: Any],
            "welcome": ["epoch": 5, "secret": hex(secrets[5]!), "entries": 6, "encoded": hex(leeWelcome.serialized())] as [String: Any],
            "device_welcome": ["epoch": 6, "secret": hex(secrets[6]!), "entries": 7, "from": "rosa", "to": "rosa-laptop",
                               "encoded": hex(laptopWelcome.serialized())] as [String: Any],
            "device_epoch_key": ["epoch": 7, "secret": hex(secrets[7]!), "from": "tomasz", "to": ["lee", "rosa"],
                                 "encoded": hex(deviceEpochKey.serialized())] as [String: Any],
        ]
        let cards = try JSONSerialization.jsonObject(with: Data(contentsOf: cardsFile))
        func card(_ path: String...) throws -> [UInt8] {
            var value: Any? = cards
            for step in path {
                if let index = Int(step) { value = (value as? [Any])?[index] } else { value = object(value, step) }
            }
            return try need(Hex.decode(try need(value as? String, "cards.json \(path)")), "cards.json \(path)")
        }
        let campaign = try Campaign(encoded: try card("campaign", "encoded"))
        let stamp = MessageStamp(id: [UInt8](0x01...0x10), sentAt: 1_780_000_000_000, expirySeconds: 0)
        let timerStamp = MessageStamp(id: [UInt8](0x11...0x20), sentAt: 1_780_000_060_000, expirySeconds: 86_400)
        let inviteID = [UInt8](0xb0..<0xc0), inviteSecret = [UInt8](0xd0..<0xe0)
        let routingSeed = [UInt8](repeating: 0x31, count: 32), cardKeySeed = [UInt8](repeating: 0x02, count: 32)
        let offer = FileOffer(blobID: [UInt8](0x60..<0x70), key: [UInt8](0x70..<0x90), size: 123_456, chunkSize: 65_536,
                              digest: [UInt8](0x90..<0xb0), name: "minutes-Ω.pdf")
        // Rosa's device chain: her first device, then a laptop (seed 32 bytes of 0x25), signed at fixed times.
        let rosaLaptop = key(0x25)
        var rosaDevices = DeviceChain(identity: rosa, signedAt: 1_780_000_000)
        _ = try rosaDevices.add(rosaLaptop.publicKey, kind: .computer,
                                deviceSignature: rosaLaptop.signature(for: DeviceEntry.deviceStatement(identity: rosa.publicKey,
                                                                                                      device: rosaLaptop.publicKey)),
                                by: rosa, signedAt: 1_780_000_100)
        func stampFields(_ stamp: MessageStamp) -> [String: Any] {
            ["message_id": hex(stamp.id), "sent_at_ms": stamp.sentAt, "timer_s": Int(stamp.expirySeconds)]
        }
        let payloads: [(Payload, [String: Any])] = [
            (.text(stamp, "Meeting Thursday ✊ — bring a friend"), ["stamp": stampFields(stamp), "text": "Meeting Thursday ✊ — bring a friend"]),
            (.file(stamp, offer), ["stamp": stampFields(stamp), "blob_id": hex(offer.blobID), "file_key": hex(offer.key), "size": offer.size,
                                   "chunk_size": Int(offer.chunkSize), "digest": hex(offer.digest), "file_name": offer.name]),
            (.profile(name: "Rosa Díaz"), ["display_name": "Rosa Díaz"]),
            (.expiry(timerStamp), ["stamp": stampFields(timerStamp)]),
            (.membership(entries[3]), ["entry": hex(entries[3].encoded())]),
            (.joinRequest(inviteID: inviteID, secret: inviteSecret, name: "Lee"),
             ["invite_id": hex(inviteID), "invite_secret": hex(inviteSecret), "display_name": "Lee"]),
            (.welcome(leeWelcome, groupName: "Site 5 organizing", expirySeconds: 604_800,
                      names: [(rosa.publicKey, "Rosa Díaz"), (tomasz.publicKey, "Tomasz")]),
             ["welcome": hex(leeWelcome.serialized()), "group_name": "Site 5 organizing", "timer_s": 604_800,
              "names": [["key": hex(rosa.publicKey.rawRepresentation), "display_name": "Rosa Díaz"],
                        ["key": hex(tomasz.publicKey.rawRepresentation), "display_name": "Tomasz"]]]),
            (.epochKey(epochKey), ["epoch_key": hex(epochKey.serialized())]),
            (.routingKey(groupID: groupID, seed: routingSeed), ["group_id": hex(groupID), "seed": hex(routingSeed)]),
            (.joinRefused(inviteID: inviteID, reason: "this invite does not exist (or was withdrawn)"),
             ["invite_id": hex(inviteID), "reason": "this invite does not exist (or was withdrawn)"]),
            (.campaign(campaign), ["record": "cards.json campaign"]),
            (.cardKey(campaign: campaign.hash, seed: cardKeySeed), ["campaign_hash": hex(campaign.hash), "seed": hex(cardKeySeed)]),
            (.receipt(try CardReceipt(encoded: try card("receipt", "encoded"))), ["record": "cards.json receipt"]),
            (.revocationReceipt(try RevocationReceipt(encoded: try card("revocation_receipt", "encoded"))),
             ["record": "cards.json revocation_receipt"]),
            (.sharedCampaign(groupID: groupID, campaign: campaign), ["group_id": hex(groupID), "record": "cards.json campaign"]),
            (.unreadable(count: 3), ["count": 3]),
            (.tallyProof(try TallyProof(encoded: try card("tally_proofs", "0", "encoded"))), ["record": "cards.json tally_proofs 0"]),
            (.devicesChanged(rosaDevices.entries), ["entries": rosaDevices.entries.map { hex($0.encoded()) }]),
            (.sent(to: tomasz.publicKey, .text(stamp, "Meeting Thursday ✊ — bring a friend")),
             ["peer": hex(tomasz.publicKey.rawRepresentation), "payload": hex(Payload.text(stamp, "Meeting Thursday ✊ — bring a friend").encoded())]),
            (.rejoin(groupID: groupID), ["group_id": hex(groupID)]),
        ]
        let payloadRecords: [[String: Any]] = payloads.map { payload, fields in
            let encoded = payload.encoded()
            return ["kind": Int(encoded[1]), "fields": fields, "encoded": hex(encoded)]
        }

        // 5. Files (§9.7), sealed by the code's own writer. A file's stored chunks are kept when the
        // code's reader opens them to exactly the chunks the writer makes now.
        let storedFiles = stored?["files"] as? [[String: Any]]
        var fileRecords = [[String: Any]]()
        for (number, plaintext) in files.enumerated() {
            let key = fileKey(number), blobID = fileBlobID(number)
            let cipher = FileChunkCipher(key: try SymmetricKey(bytes: SecureBytes(copying: key)), blobID: blobID)
            var writer = FileBlobWriter(cipher: cipher, chunkSize: fileChunkSize, size: UInt64(plaintext.count))
            var chunks = [[UInt8]](), lasts = [Bool](), sealed = [[UInt8]]()
            while !writer.finished {
                let start = Int(writer.done)
                chunks.append(Array(plaintext[start..<min(start + fileChunkSize, plaintext.count)]))
                sealed.append(writer.seal(chunks.last!))
                lasts.append(writer.finished)
            }
            if let storedFiles, number < storedFiles.count,
               let kept = (storedFiles[number]["chunks"] as? [[String: Any]])?.compactMap({ ($0["sealed"] as? String).flatMap(Hex.decode) }),
               (try? readBlob(kept, cipher: cipher, chunkSize: fileChunkSize)) == chunks {
                sealed = kept
            }
            let chunkRecords: [[String: Any]] = chunks.indices.map { index in
                ["index": index, "last": lasts[index], "associated_data": hex(cipher.associatedData(index: UInt64(index), last: lasts[index])),
                 "plaintext": hex(chunks[index]), "sealed": hex(sealed[index])]
            }
            fileRecords.append([
                "chunk_size": fileChunkSize, "file_key": hex(key), "blob_id": hex(blobID), "plaintext": hex(plaintext), "chunks": chunkRecords,
                "blob": hex(sealed.flatMap { $0 }), "size": plaintext.count, "digest": hex(try BLAKE2b.hash(plaintext)),
                "file_id": Account.fileID(blobID),
            ])
        }

        // 6. Invite codes (§9.4): version 2 with its expiry, and version 1 without.
        let invites = [InviteCode(inviter: rosa.publicKey, inviteID: inviteID, secret: inviteSecret, relay: "wss://relay.example.org",
                                  expiresAt: Date(timeIntervalSince1970: 1_780_604_800)),
                       InviteCode(inviter: rosa.publicKey, inviteID: inviteID, secret: inviteSecret, relay: "ws://127.0.0.1:8443")]
        let inviteRecords: [[String: Any]] = invites.map { invite in
            var record: [String: Any] = ["text": invite.text, "version": invite.expiresAt == nil ? 1 : 2, "inviter": "rosa",
                                         "invite_id": hex(invite.inviteID), "secret": hex(invite.secret), "relay": invite.relay]
            if let expiresAt = invite.expiresAt { record["expires_at_s"] = UInt64(expiresAt.timeIntervalSince1970) }
            return record
        }

        // 7. Linking a device (§9.13): Rosa's first device makes the code, her laptop asks, the
        // first device answers. The link keys come from fixed scalars (32 bytes of 0x26, the
        // laptop's; 0x27, the answer's); AEAD nonces are random, so a stored sealed request or
        // answer is kept when the code opens it to exactly what it seals now.
        let linkCode = LinkCode(identity: rosa.publicKey, device: rosa.publicKey, secret: [UInt8](0x30..<0x50),
                                expiresAt: Date(timeIntervalSince1970: 1_780_000_700), relay: "wss://relay.example.org")
        let laptopLinkKey = X25519.PrivateKey(scalar: SecureBytes(copying: [UInt8](repeating: 0x26, count: 32)))
        let answeringKey = X25519.PrivateKey(scalar: SecureBytes(copying: [UInt8](repeating: 0x27, count: 32)))
        let linkRequest = LinkMessage.Request(
            device: rosaLaptop.publicKey,
            proof: rosaLaptop.signature(for: DeviceEntry.deviceStatement(identity: rosa.publicKey, device: rosaLaptop.publicKey)),
            linkKey: laptopLinkKey.publicKey, name: "laptop")
        let contents = LinkContents(identitySeed: rosa.seed, chain: rosaDevices.entries, displayName: "Rosa",
                                    deviceNames: [(rosa.publicKey, "first device"), (rosaLaptop.publicKey, "laptop")],
                                    contacts: [(tomasz.publicKey, ContactRecord(did: DID(publicKey: tomasz.publicKey).description,
                                                                                name: "Tomasz", verified: true)),
                                               (amira.publicKey, ContactRecord(did: DID(publicKey: amira.publicKey).description))],
                                    groups: 1).encoded()
        let storedLink = stored.flatMap { object($0, "device_link") }
        var sealedRequest = LinkMessage.seal(linkRequest, for: linkCode)
        if let kept = (object(storedLink, "request") as? String).flatMap(Hex.decode),
           LinkMessage.openRequest(kept, for: linkCode) == linkRequest {
            sealedRequest = kept
        }
        var sealedAnswer = try LinkMessage.sealAnswer(contents, to: linkRequest, for: linkCode, answering: answeringKey)
        if let kept = (object(storedLink, "answer") as? String).flatMap(Hex.decode), Array(kept.prefix(33)) == Array(sealedAnswer.prefix(33)),
           LinkMessage.openAnswer(kept, linkKey: laptopLinkKey, device: rosaLaptop.publicKey, for: linkCode) == contents {
            sealedAnswer = kept
        }
        let linkRecord: [String: Any] = [
            "code": ["text": linkCode.text, "identity": "rosa", "device": "rosa", "secret": hex(linkCode.secret),
                     "expires_at_s": 1_780_000_700, "relay": linkCode.relay],
            "request_key": hex(LinkMessage.requestKey(linkCode).bytes.withUnsafeBytes { Array($0) }),
            "new_device": "rosa-laptop", "name": "laptop",
            "link_key_scalar": hex([UInt8](repeating: 0x26, count: 32)), "link_key": hex(laptopLinkKey.publicKey.rawRepresentation),
            "proof": hex(linkRequest.proof.rawRepresentation), "request": hex(sealedRequest),
            "answering_key_scalar": hex([UInt8](repeating: 0x27, count: 32)),
            "answering_key": hex(answeringKey.publicKey.rawRepresentation),
            "answer_key": hex(LinkMessage.answerKey(linkCode, shared: try answeringKey.sharedSecret(with: laptopLinkKey.publicKey))
                .bytes.withUnsafeBytes { Array($0) }),
            "contents": hex(contents), "answer": hex(sealedAnswer),
            "contents_fields": ["chain": rosaDevices.entries.map { hex($0.encoded()) }, "display_name": "Rosa",
                                "device_names": [["device": "rosa", "name": "first device"], ["device": "rosa-laptop", "name": "laptop"]],
                                "contacts": [["identity": "tomasz", "name": "Tomasz", "verified": true],
                                             ["identity": "amira", "name": "", "verified": false]],
                                "groups": 1],
        ]

        // 8. Per-device copies (§9.12): the relay message id of each copy of one message.
        let copyRecords: [[String: Any]] = [("rosa", rosa.publicKey), ("rosa-laptop", rosaLaptop.publicKey)].map { name, device in
            ["message_id": hex(stamp.id), "person": "rosa", "device": name, "copy_id": hex(Account.copyID(stamp.id, for: device, of: rosa.publicKey))]
        }

        // 9. A recovery box (§9.15), sealed to the paper key of secret 00..0f (vectors/sessions.json
        // paper_keys 0). A sealed box's ephemeral key is random: a stored box is kept when it opens
        // to exactly these contents.
        let paper = try PaperKey(secret: SecureBytes(copying: [UInt8](0x00..<0x10))).signingKey
        let box = RecoveryContents(
            identitySeed: amira.seed, displayName: "Amira",
            contacts: [(rosa.publicKey, ContactRecord(did: DID(publicKey: rosa.publicKey).description, name: "Rosa", verified: true))],
            groups: [RecoveryContents.Group(id: groupID, name: "Warehouse 5", admins: [rosa.publicKey])]).encoded()
        var sealedBox = SealedBox.seal(box, to: try X25519.PublicKey(converting: paper.publicKey))
        if let kept = (object(stored.flatMap { object($0, "recovery_box") }, "sealed") as? String).flatMap(Hex.decode),
           (try? SealedBox.open(kept, with: X25519.PrivateKey(converting: paper))) == box {
            sealedBox = kept
        }
        let recoveryRecord: [String: Any] = [
            "paper_key_public": hex(paper.publicKey.rawRepresentation), "identity": "amira", "display_name": "Amira",
            "contacts": [["identity": "rosa", "name": "Rosa", "verified": true]],
            "groups": [["group_id": hex(groupID), "name": "Warehouse 5", "admins": ["rosa"]]],
            "contents": hex(box), "sealed": hex(sealedBox),
        ]

        return [
            "description": "Protocol.md sections 8, 9.1, 9.4 and 9.7: a membership chain, its epochs, secret trees and sender chains, "
                + "group messages, the pairwise Welcomes and EpochKeys, one payload of each kind, two invite codes and three files sealed in "
                + "chunks of 16 bytes (40 bytes, 32 bytes, empty), from fixed seeds (32 bytes of 0x21 rosa, 0x22 tomasz, 0x23 amira, 0x24 "
                + "lee; 0x25 rosa-laptop, the device key of Rosa's second device) and fixed inputs. Entries 6 and 7 add and remove "
                + "rosa-laptop; a sender's or message's \"member\" or \"sender\" names the device, and \"owner\" its member when that "
                + "device is not the member's identity key. Group message and file chunk nonces are random: decrypt to check. "
                + "Payloads of kinds 11, 13, 14, 15 and 17 wrap records of vectors/cards.json. device_link (section 9.13): a link "
                + "code, the laptop's request and the first device's answer, with link keys from fixed scalars (0x26 the "
                + "laptop's, 0x27 the answer's); their AEAD nonces are random: decrypt to check. copy_ids (section 9.12): the relay message ids of a message's copies per "
                + "device. recovery_box (section 9.15): a box's contents for amira, sealed to the paper key of secret 00..0f "
                + "(vectors/sessions.json paper_keys 0); open it to check. Regenerate with scripts/regen-vectors; "
                + "checked by swift test and scripts/check-group-vectors.py.",
            "seeds": Dictionary(uniqueKeysWithValues: seeds.map { ($0.name, hex([UInt8](repeating: $0.byte, count: 32))) }),
            "group_id": hex(groupID),
            "creation_secret": hex(creationSecret),
            "removal_secret": hex(removalSecret),
            "device_removal_secret": hex(deviceRemovalSecret),
            "membership_chain": entryRecords,
            "epochs": epochRecords,
            "group_messages": messageRecords,
            "pairwise": pairwise,
            "payloads": payloadRecords,
            "invites": inviteRecords,
            "files": fileRecords,
            "device_link": linkRecord,
            "copy_ids": copyRecords,
            "recovery_box": recoveryRecord,
        ]
    }

    /// The plaintext chunks the code's reader gives for a blob fed as `pieces`, the last of them reaching the blob's end.
    static func readBlob(_ pieces: [[UInt8]], cipher: FileChunkCipher, chunkSize: Int) throws(FileBlobReader.Refusal) -> [[UInt8]] {
        var reader = FileBlobReader(cipher: cipher, chunkSize: chunkSize)
        var chunks = [[UInt8]]()
        for (number, piece) in pieces.enumerated() { chunks += try reader.open(piece, reachesEnd: number == pieces.count - 1) }
        return chunks
    }

    /// Every node of the secret tree over leaves `lo..<hi` (§8.2), splitting with the code's own
    /// `SecretTree.child`; each leaf must equal what `SecretTree.take` gives for it.
    private static func treeNodes(_ secret: SecureBytes, lo: UInt32, hi: UInt32, taking tree: SecretTree) throws -> [[String: Any]] {
        var nodes: [[String: Any]] = [["lo": Int(lo), "hi": Int(hi), "secret": hex(secret)]]
        if hi - lo == 1 {
            var copy = tree
            let taken = try need(copy.take(lo), "leaf \(lo)")
            guard taken.withUnsafeBytes({ Array($0) }) == secret.withUnsafeBytes({ Array($0) }) else {
                throw VectorError(description: "leaf \(lo) differs from SecretTree.take")
            }
            return nodes
        }
        let middle = SecretTree.Span(lo: lo, hi: hi).middle
        nodes += try treeNodes(SecretTree.child(secret, 0), lo: lo, hi: middle, taking: tree)
        nodes += try treeNodes(SecretTree.child(secret, 1), lo: middle, hi: hi, taking: tree)
        return nodes
    }

    static func text(stored: [String: Any]?) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: try vectors(stored: stored),
                                              options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The file as stored, parsed; nil when there is none yet.
    static func stored() -> [String: Any]? {
        (try? Data(contentsOf: file)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    @Test("The file holds exactly what the code makes (scripts/regen-vectors rewrites it)")
    func fileMatchesCode() throws {
        let made = try Self.text(stored: Self.stored())
        if ProcessInfo.processInfo.environment["CAUCUS_REGEN_VECTORS"] == "1" {
            try made.write(to: Self.file, atomically: true, encoding: .utf8)
        }
        let stored = try String(contentsOf: Self.file, encoding: .utf8)
        #expect(stored == made, "vectors/groups.json differs from what the code makes: run scripts/regen-vectors and review the diff")
    }

    @Test("Every encoding in the file parses, verifies and decrypts with the code")
    func fileParses() throws {
        let vectors = try #require(Self.stored())
        func bytes(_ object: Any?, _ key: String) throws -> [UInt8] {
            let text = try #require(Self.object(object, key) as? String)
            return try #require(Hex.decode(text))
        }
        let groupID = try bytes(vectors, "group_id")
        let records = try #require(vectors["membership_chain"] as? [[String: Any]])
        let entries = try records.map { try MembershipEntry(encoded: try bytes($0, "encoded")) }
        let chain = try MembershipChain.verify(entries)
        #expect(chain.groupID == groupID && chain.entries.count == 8)
        let rosa = Self.key(0x21).publicKey, laptop = Self.key(0x25).publicKey
        #expect(chain.owner(of: laptop) == rosa && chain.leaves[laptop] == nil && chain.devices(of: rosa) == [rosa])
        for (entry, record) in zip(entries, records) { #expect(Hex.encode(entry.hash) == record["hash"] as? String) }

        let pairwise = vectors["pairwise"]
        let epochKey = try GroupEpochKey(serialized: SecureBytes(copying: try bytes(Self.object(pairwise, "epoch_key"), "encoded")))
        #expect(epochKey.groupID == groupID && epochKey.epoch == 4
                && Hex.encode(epochKey.secret.withUnsafeBytes { Array($0) }) == Self.object(Self.object(pairwise, "epoch_key"), "secret") as? String)
        let welcome = try GroupWelcome(serialized: SecureBytes(copying: try bytes(Self.object(pairwise, "welcome"), "encoded")))
        let lee = Self.key(0x24).publicKey, tomasz = Self.key(0x22).publicKey
        let joined = try GroupSession(welcome: welcome, me: lee, device: lee, from: tomasz)
        #expect(joined.currentEpoch == 5 && joined.chain.head == entries[5].hash)
        // Rosa's laptop joins from her own device's welcome, then learns of its removal and gets no key.
        let deviceWelcome = try GroupWelcome(serialized: SecureBytes(copying: try bytes(Self.object(pairwise, "device_welcome"), "encoded")))
        var onLaptop = try GroupSession(welcome: deviceWelcome, me: rosa, device: laptop, from: rosa)
        #expect(onLaptop.currentEpoch == 6 && onLaptop.chain.leaves[laptop] == 4)
        let deviceEpochKey = try GroupEpochKey(serialized: SecureBytes(copying: try bytes(Self.object(pairwise, "device_epoch_key"), "encoded")))
        try onLaptop.apply(entries[7])
        #expect(throws: GroupError.notInGroup) { try onLaptop.receive(epochKey: deviceEpochKey, from: tomasz) }

        for message in try #require(vectors["group_messages"] as? [[String: Any]]) {
            let wire = try bytes(message, "message")
            try #require(wire.count > 85 + 40)
            let epoch = try #require((message["epoch"] as? NSNumber)?.uint64Value)
            let epochRecord = try #require((vectors["epochs"] as? [[String: Any]])?.first { ($0["number"] as? NSNumber)?.uint64Value == epoch })
            let headerKey = try SymmetricKey(bytes: SecureBytes(copying: try bytes(epochRecord, "header_key")))
            let header = try XChaCha20Poly1305.open(Array(wire[9..<85]), using: headerKey, authenticating: Array(wire[..<9]))
            #expect(Hex.encode(header) == message["header"] as? String)
            let messageKey = try SymmetricKey(bytes: SecureBytes(copying: try bytes(message, "message_key")))
            let (plaintext, previous, signature) = try GroupSession.parseContent(
                try XChaCha20Poly1305.open(Array(wire[85...]), using: messageKey, authenticating: Array(wire[..<85])))
            let sender = try Ed25519.PublicKey(rawRepresentation: Array(header[..<32]))
            let counter = header[32...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let statement = GroupSession.statement(groupID: groupID, epoch: epoch, sender: sender, counter: counter, previous: previous,
                                                   plaintext: plaintext)
            #expect(sender.isValidSignature(signature, for: statement))
            #expect(Hex.encode(statement.hash(signedWith: signature)) == message["hash"] as? String)
            #expect(Hex.encode(plaintext) == message["plaintext"] as? String && previous.map(Hex.encode) == message["prev"] as? [String])
        }

        for record in try #require(vectors["payloads"] as? [[String: Any]]) {
            let encoded = try bytes(record, "encoded")
            let payload = try Payload(decoding: encoded)
            #expect(payload.encoded() == encoded && Int(encoded[1]) == (record["kind"] as? NSNumber)?.intValue)
        }
        #expect((vectors["payloads"] as? [Any])?.count == 20)

        let files = try #require(vectors["files"] as? [[String: Any]])
        #expect(files.count == Self.files.count)
        var fortyBytes: (cipher: FileChunkCipher, sealed: [[UInt8]])?
        for record in files {
            let chunkSize = try #require((record["chunk_size"] as? NSNumber)?.intValue)
            let blobID = try bytes(record, "blob_id"), plaintext = try bytes(record, "plaintext"), blob = try bytes(record, "blob")
            let cipher = FileChunkCipher(key: try SymmetricKey(bytes: SecureBytes(copying: try bytes(record, "file_key"))), blobID: blobID)
            let chunkRecords = try #require(record["chunks"] as? [[String: Any]])
            let sealed = try chunkRecords.map { try bytes($0, "sealed") }
            #expect(sealed.flatMap { $0 } == blob)
            for (index, chunk) in chunkRecords.enumerated() {
                let last = try #require(chunk["last"] as? Bool)
                #expect((chunk["index"] as? NSNumber)?.intValue == index && last == (index == chunkRecords.count - 1))
                #expect(Hex.encode(cipher.associatedData(index: UInt64(index), last: last)) == chunk["associated_data"] as? String)
            }
            // The whole blob in one piece, and in pieces of one sealed chunk each.
            for pieces in [[blob], sealed] {
                let chunks = try Self.readBlob(pieces, cipher: cipher, chunkSize: chunkSize)
                #expect(chunks.flatMap { $0 } == plaintext && chunks.map { Hex.encode($0) } == chunkRecords.compactMap { $0["plaintext"] as? String })
            }
            #expect((record["size"] as? NSNumber)?.intValue == plaintext.count)
            #expect(Hex.encode(try BLAKE2b.hash(plaintext)) == record["digest"] as? String)
            #expect(Account.fileID(blobID) == record["file_id"] as? String)
            if plaintext.count == 40 { fortyBytes = (cipher, sealed) }
        }
        // The reader refuses the 40-byte file's blob with its last chunk dropped, two chunks swapped, or
        // cut inside a chunk, whether that chunk ends the blob or not; and a blob that ends without a last chunk.
        let (cipher, sealed) = try #require(fortyBytes)
        try #require(sealed.count == 3)
        func refusal(_ pieces: [[UInt8]]) -> FileBlobReader.Refusal? {
            do { _ = try Self.readBlob(pieces, cipher: cipher, chunkSize: Self.fileChunkSize) } catch { return error }
            return nil
        }
        #expect(refusal([sealed[0] + sealed[1]]) == .chunkDoesNotOpen(index: 1))
        #expect(refusal([sealed[0], sealed[1]]) == .chunkDoesNotOpen(index: 1))
        #expect(refusal([sealed[1] + sealed[0] + sealed[2]]) == .chunkDoesNotOpen(index: 0))
        #expect(refusal([sealed[0] + sealed[2] + sealed[1]]) == .chunkDoesNotOpen(index: 1))
        #expect(refusal([sealed[0] + sealed[1] + sealed[2].dropLast(3)]) == .chunkDoesNotOpen(index: 2))
        #expect(refusal([sealed[0] + sealed[1].prefix(20)]) == .chunkDoesNotOpen(index: 1))
        #expect(refusal([sealed[0] + sealed[1].prefix(20), Array(sealed[1].dropFirst(20)) + sealed[2]]) == .partialChunk)
        #expect(refusal([sealed[0] + sealed[1], []]) == .noLastChunk)
        #expect(refusal([[]]) == .noLastChunk)

        for record in try #require(vectors["invites"] as? [[String: Any]]) {
            let text = try #require(record["text"] as? String)
            let invite = try InviteCode(parsing: text)
            #expect(invite.inviter == Self.key(0x21).publicKey && Hex.encode(invite.inviteID) == record["invite_id"] as? String
                    && Hex.encode(invite.secret) == record["secret"] as? String && invite.relay == record["relay"] as? String)
            #expect(invite.expiresAt.map { UInt64($0.timeIntervalSince1970) } == (record["expires_at_s"] as? NSNumber)?.uint64Value)
        }
    }

    @Test("scripts/check-group-vectors.py, written from Protocol.md with PyNaCl, accepts the file")
    func pythonAccepts() async throws {
        let checker = Self.repository.appendingPathComponent("scripts/check-group-vectors.py").path
        let outcome = try await ChildProcess.run("/usr/bin/env", ["python3", checker, Self.file.path],
                                                 environment: ProcessInfo.processInfo.environment)
        #expect(outcome.status == 0 && outcome.stdout.contains("all group vectors check"), "\(outcome)")
    }
}
