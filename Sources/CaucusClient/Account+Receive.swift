import CaucusCrypto
import CaucusProtocol
import Foundation
import GRDB
import SwiftProtobuf

/// Opening what the relay delivers. Each delivery is handled in one transaction that also records
/// its id, so a crash before the acknowledgement neither loses it nor shows it twice.
extension Account {
    /// Opens, checks and stores one delivery.
    func receive(_ delivery: WireDelivery) throws(ClientError) {
        try write { db in
            let id = Data(delivery.messageID)
            guard try Data.fetchOne(db, sql: "SELECT id FROM processed WHERE id = ?", arguments: [id]) == nil else { return }
            try db.execute(sql: "INSERT INTO processed (id, at) VALUES (?, ?)", arguments: [id, ClientStore.now()])
            if delivery.groupID.isEmpty {
                try receivePairwise(db, delivery)
            } else {
                _ = try receiveGroup(db, delivery)
            }
        }
    }

    /// A problem for `note`, from inside a transaction: told only if the transaction commits.
    nonisolated func noteLater(_ text: String) { pendingNotes.withLock { $0.append(text) } }

    // MARK: Pairwise

    private nonisolated func receivePairwise(_ db: Database, _ delivery: WireDelivery) throws {
        let sender: Ed25519.PublicKey, opened: DecryptedMessage
        do {
            (sender, opened) = try openPairwise(db, Array(delivery.payload))
        } catch SessionError.duplicate {
            noteLater("a message the relay delivered again (a replay) was recognised and dropped")
            return
        } catch let error as SessionError {
            noteLater("a message that could not be opened was dropped: \(error)")
            return
        } catch let error as CryptoError {
            noteLater("a message that could not be opened was dropped: \(error)")
            return
        }
        let conversation = Conversation.direct(sender)
        if try contact(db, sender) == nil { try saveContact(db, sender, ContactRecord(did: DID(publicKey: sender).description)) }
        for event in opened.events {
            switch event {
            case .gap(let missing):
                try addLine(db, conversation, .warning, "\(missing) earlier message(s) from \(try mention(db, sender)) have not arrived (yet)")
            case .lateArrival:
                try addLine(db, conversation, .notice, "a delayed message from \(try mention(db, sender)) arrived out of order")
            }
        }
        let payload: Payload
        do { payload = try Payload(decoding: opened.plaintext) } catch {
            try addLine(db, conversation, .warning, "a message from \(try mention(db, sender)) could not be read: \(error)")
            return
        }
        switch payload {
        case let .text(stamp, text):
            try addLine(db, conversation, .text, text, sender: sender, sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds)
        case let .file(stamp, offer):
            try storeFile(db, offer, stamp: stamp, from: sender, in: conversation)
        case .profile(let name):
            try learnName(db, sender, name, in: conversation)
        case .expiry(let stamp):
            var record = try conversationRecord(db, conversation)
            record.expirySeconds = stamp.expirySeconds
            try saveConversation(db, conversation, record)
            try addLine(db, conversation, .notice, "\(try mention(db, sender)) \(Self.describeTimer(stamp.expirySeconds))", expirySeconds: 0)
        case .membership(let entry):
            try receiveRepairedEntry(db, entry, from: sender)
        case let .joinRequest(inviteID, secret, name):
            try admit(db, sender, inviteID: inviteID, secret: secret, name: name)
        case let .welcome(welcome, groupName, expiry, names):
            try joinGroup(db, welcome, from: sender, name: groupName, expiry: expiry, names: names)
        case .epochKey(let key):
            try acceptEpochKey(db, key, from: sender)
        case let .routingKey(groupID, seed):
            try acceptRoutingKey(db, groupID: groupID, seed: seed, from: sender)
        case let .cardKey(campaign, seed):
            try receiveCardKey(db, campaign: campaign, seed: seed, from: sender)
        case .receipt(let receipt):
            try receiveReceipt(db, receipt, from: sender)
        case .revocationReceipt(let receipt):
            try receiveRevocationReceipt(db, receipt)
        case let .sharedCampaign(groupID, campaign):
            try receiveSharedCampaign(db, campaign, in: groupID, from: sender)
        case .campaign:
            noteLater("\(try mention(db, sender)) sent a card campaign outside a group; ignored")
        case let .joinRefused(inviteID, reason):
            // A refusal of a request already answered (one sent again, §9.10) changes nothing.
            guard try forgetJoinRequest(db, inviteID: inviteID) else { return }
            try setMeta(db, "refused:" + Hex.encode(inviteID), Array(reason.utf8))
            noteLater("\(try mention(db, sender)) refused your request to join: \(reason)")
        }
    }

    // MARK: Groups

    /// Opens a group delivery; returns false when it was put aside until its keys arrive.
    nonisolated func receiveGroup(_ db: Database, _ delivery: WireDelivery) throws -> Bool {
        let groupID = Array(delivery.groupID)
        guard let (info, session, routing) = try groupRow(db, groupID) else {
            try putAside(db, delivery)
            return false
        }
        var state = session
        let conversation = Conversation.group(groupID)
        let message: GroupMessage
        do {
            message = try state.decrypt(Array(delivery.payload))
        } catch GroupError.unknownEpoch(let epoch) where epoch > state.currentEpoch {
            try putAside(db, delivery)
            return false
        } catch GroupError.replay {
            try addLine(db, conversation, .warning, "a group message the relay delivered again (a replay) was recognised and dropped")
            return true
        } catch GroupError.unknownEpoch {
            // From before this member joined (or an epoch already discarded): not ours to read.
            return true
        } catch {
            try addLine(db, conversation, .warning, "a group message that could not be opened was dropped: \(error)")
            return true
        }
        let sender = message.sender
        for event in message.events {
            switch event {
            case .gap(let missing):
                try addLine(db, conversation, .warning, "\(missing) earlier message(s) from \(try mention(db, sender)) have not arrived (yet)")
            case .lateArrival:
                try addLine(db, conversation, .notice, "a delayed message from \(try mention(db, sender)) arrived out of order")
            case .unseenPredecessors where info.quietPredecessors > 0:
                break
            case .unseenPredecessors(let count):
                try addLine(db, conversation, .warning, """
                    \(try mention(db, sender)) had seen \(count) message(s) you have not received: \
                    the relay may be withholding them
                    """)
            }
        }
        var newInfo = info
        newInfo.quietPredecessors = max(0, info.quietPredecessors - 1)
        let payload: Payload
        do { payload = try Payload(decoding: message.plaintext) } catch {
            try saveGroup(db, newInfo, state, routing: routing)
            try addLine(db, conversation, .warning, "a message from \(try mention(db, sender)) could not be read: \(error)")
            return true
        }
        switch payload {
        case let .text(stamp, text):
            try saveGroup(db, newInfo, state, routing: routing)
            try addLine(db, conversation, .text, text, sender: sender, sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds)
        case let .file(stamp, offer):
            try saveGroup(db, newInfo, state, routing: routing)
            try storeFile(db, offer, stamp: stamp, from: sender, in: conversation)
        case .profile(let name):
            try saveGroup(db, newInfo, state, routing: routing)
            try learnName(db, sender, name, in: conversation)
        case .expiry where state.chain.roster[sender] != .admin:
            // Only admins set a group's timer (§9.8): a member could otherwise turn it off for everyone.
            try saveGroup(db, newInfo, state, routing: routing)
            try addLine(db, conversation, .warning, """
                \(try mention(db, sender)) tried to change the disappearing-message timer, which only an admin may do; \
                refused: the timer stays \(info.expirySeconds == 0 ? "off" : Duration.describe(seconds: info.expirySeconds))
                """)
        case .expiry(let stamp):
            newInfo.expirySeconds = stamp.expirySeconds
            try saveGroup(db, newInfo, state, routing: routing)
            try addLine(db, conversation, .notice, "\(try mention(db, sender)) \(Self.describeTimer(stamp.expirySeconds))", expirySeconds: 0)
        case .membership(let entry) where entry.groupID == groupID:
            try applyMembership(db, entry, info: newInfo, session: state, routing: routing)
        case .campaign(let campaign):
            try saveGroup(db, newInfo, state, routing: routing)
            try receiveCampaign(db, campaign, from: sender, in: groupID, session: state)
        default:
            try saveGroup(db, newInfo, state, routing: routing)
            try addLine(db, conversation, .warning, "\(try mention(db, sender)) sent a message that does not belong in a group; ignored")
        }
        return true
    }

    /// Tells the group what a membership entry did.
    nonisolated func describe(_ db: Database, _ entry: MembershipEntry, in conversation: Conversation) throws {
        let author = try mention(db, entry.author)
        switch entry.action {
        case .create:
            try addLine(db, conversation, .notice, "\(author) created the group", expirySeconds: 0)
        case .add(let member, let role):
            let name = try mention(db, member)
            let verified = (try contact(db, member)?.verified ?? false) || member == identity.publicKey
            try addLine(db, conversation, .notice, "\(author) added \(name)\(role == .admin ? " as an admin" : "")", expirySeconds: 0)
            if !verified {
                try addLine(db, conversation, .warning, "new member \(name) is not verified: compare safety numbers before trusting them", expirySeconds: 0)
            }
        case .remove(let member):
            let text = member == identity.publicKey ? "\(author) removed you from the group" : "\(author) removed \(try mention(db, member))"
            try addLine(db, conversation, .notice, text, expirySeconds: 0)
        case .setRole(let member, let role):
            try addLine(db, conversation, .notice, "\(author) made \(try mention(db, member)) \(role == .admin ? "an admin" : "a member")", expirySeconds: 0)
        }
    }

    static func describeTimer(_ seconds: UInt32) -> String {
        seconds == 0 ? "turned disappearing messages off" : "set messages to disappear after \(Duration.describe(seconds: seconds))"
    }

    /// Keeps a group delivery whose group or epoch key has not arrived yet.
    private nonisolated func putAside(_ db: Database, _ delivery: WireDelivery) throws {
        let id = Array(delivery.messageID)
        try db.execute(sql: "INSERT OR IGNORE INTO deferred (id, sealed, at) VALUES (?, ?, ?)", arguments: [
            Data(id), Data(store.seal(try delivery.serializedBytes(), table: "deferred", tag: id)), ClientStore.now(),
        ])
    }

    /// Tries the deliveries put aside again (after a welcome or an epoch key); drops those older than a week.
    nonisolated func retryPutAside(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM deferred WHERE at < ?", arguments: [ClientStore.now() - 7 * 86_400_000])
        for row in try Row.fetchAll(db, sql: "SELECT id, sealed FROM deferred ORDER BY rowid") {
            let id: Data = row["id"]
            try db.execute(sql: "DELETE FROM deferred WHERE id = ?", arguments: [id])
            let bytes = try store.open(Array(row["sealed"] as Data), table: "deferred", tag: Array(id))
            guard let delivery = try? WireDelivery(serializedBytes: bytes) else { continue }
            _ = try receiveGroup(db, delivery)
        }
    }
}

extension Duration {
    /// "30 s", "5 min", "2 h", "1 d" for a timer.
    static func describe(seconds: UInt32) -> String {
        switch seconds {
        case let s where s % 86_400 == 0: "\(s / 86_400) d"
        case let s where s % 3_600 == 0: "\(s / 3_600) h"
        case let s where s % 60 == 0: "\(s / 60) min"
        default: "\(seconds) s"
        }
    }
}
