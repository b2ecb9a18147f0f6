import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Opening what the relay delivers. Each delivery is handled in one transaction that also records
/// its id, so a crash before the acknowledgement neither loses it nor shows it twice.
extension Account {
    /// How many copies of one relay message id may fail to open before it is acknowledged as
    /// unreadable (Protocol.md §9.6): a copy damaged on the way must not cost the genuine one.
    static let openAttempts = 3

    /// Opens, checks and stores one delivery. Returns true when it is handled (to acknowledge), false
    /// when this copy failed to open and the next one should be tried: it is then not acknowledged,
    /// and the relay sends it again on the next connection.
    @discardableResult
    func receive(_ delivery: Delivery) throws(ClientError) -> Bool {
        try write { tx in
            let id = delivery.messageID
            guard try !tx.isHandled(id) else { return true }
            let failure = delivery.groupID == nil ? try receivePairwise(tx, delivery) : try receiveGroup(tx, delivery).failure
            if let failure {
                let attempts = try tx.failedOpenings(id) + 1
                guard attempts >= Self.openAttempts else {
                    try tx.recordFailedOpenings(id, attempts: attempts, at: ClientStore.now())
                    return false
                }
                // Garbage is acknowledged in the end, so it cannot fill the mailbox.
                try reportDropped(tx, delivery, attempts: attempts, failure: failure)
            }
            try tx.markHandled(id, at: ClientStore.now())
            return true
        }
    }

    /// Tells where it belongs that a delivery was dropped after `attempts` copies failed to open.
    private nonisolated func reportDropped(_ tx: StoreTransaction, _ delivery: Delivery, attempts: Int, failure: String) throws {
        let lost = "could not be opened in \(attempts) deliveries and was dropped: \(failure)"
        if let groupID = delivery.groupID {
            try addLine(tx, .group(groupID), .warning, "a group message that \(lost)")
            return
        }
        if let peer = try unreadableStart(tx, delivery) {
            let name = try mention(tx, peer)
            try addLine(tx, .direct(peer), .warning, """
                the first message(s) from \(name) could not be opened (in \(attempts) deliveries): \(failure). \
                The relay may have replaced your one-time prekey; a new conversation is starting, and \(name) \
                is asked to send them again
                """, expirySeconds: 0)
        } else if let peer = try knownSender(tx, delivery) {
            try addLine(tx, .direct(peer), .warning, "a message claiming to be from \(try mention(tx, peer)) \(lost)", expirySeconds: 0)
        } else {
            noteLater("a message that \(lost)")
        }
    }

    /// A problem for `note`, from inside a transaction: told only if the transaction commits.
    nonisolated func noteLater(_ text: String) { pendingNotes.withLock { $0.append(text) } }

    // MARK: Pairwise

    /// Opens a pairwise delivery; returns why it failed to open (nothing is changed then), or nil.
    private nonisolated func receivePairwise(_ tx: StoreTransaction, _ delivery: Delivery) throws -> String? {
        switch delivery.payload.first {
        case LinkMessage.requestByte:
            // A new device asking to be linked (§9.13): kept for the `device add` waiting for it.
            try keepLinkRequest(tx, delivery)
            return nil
        case LinkMessage.answerByte:
            // Only a device being linked waits for one; an account that has its identity drops it.
            return nil
        default: break
        }
        let named: PairwiseEnvelope.Sender, opened: DecryptedMessage
        do {
            (named, opened) = try openPairwise(tx, Array(delivery.payload))
        } catch SessionError.duplicate {
            let replay = "the relay delivered again (a replay) was recognised and dropped"
            if let peer = try knownSender(tx, delivery) {
                try addLine(tx, .direct(peer), .warning, "a message from \(try mention(tx, peer)) \(replay)", expirySeconds: 0)
            } else {
                noteLater("a message \(replay)")
            }
            return nil
        } catch let error as SessionError {
            return "\(error)"
        } catch let error as CryptoError {
            return "\(error)"
        } catch let error as UncertifiedDevice {
            return "\(error)"
        }
        let sender = named.identity
        let conversation = Conversation.direct(sender)
        if try contact(tx, sender) == nil { try saveContact(tx, sender, ContactRecord(did: DID(publicKey: sender).description)) }
        for event in opened.events {
            switch event {
            case .gap(let missing):
                try addLine(tx, conversation, .warning, "\(missing) earlier message(s) from \(try mention(tx, sender)) have not arrived (yet)")
            case .lateArrival:
                try addLine(tx, conversation, .notice, "a delayed message from \(try mention(tx, sender)) arrived out of order")
            }
        }
        let payload: Payload
        do { payload = try Payload(decoding: opened.plaintext) } catch {
            try addLine(tx, conversation, .warning, "a message from \(try mention(tx, sender)) could not be read: \(error)")
            return nil
        }
        switch payload {
        case let .text(stamp, text):
            try addLine(tx, conversation, .text, text, sender: sender, sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds)
        case let .file(stamp, offer):
            try storeFile(tx, offer, stamp: stamp, from: sender, in: conversation)
        case .profile(let name):
            try learnName(tx, sender, name, in: conversation)
        case .expiry(let stamp):
            var record = try tx.conversationRecord(conversation)
            record.expirySeconds = stamp.expirySeconds
            try tx.saveConversation(conversation, record)
            try addLine(tx, conversation, .notice, "\(try mention(tx, sender)) \(Self.describeTimer(stamp.expirySeconds))", expirySeconds: 0)
        case .membership(let entry):
            try receiveRepairedEntry(tx, entry, from: sender)
        case let .joinRequest(inviteID, secret, name):
            try admit(tx, sender, requester: named.device, inviteID: inviteID, secret: secret, name: name)
        case let .welcome(welcome, groupName, expiry, names):
            try joinGroup(tx, welcome, from: sender, name: groupName, expiry: expiry, names: names)
        case .epochKey(let key):
            try acceptEpochKey(tx, key, from: sender)
        case let .routingKey(groupID, seed):
            try acceptRoutingKey(tx, groupID: groupID, seed: seed, from: sender)
        case let .cardKey(campaign, seed):
            try receiveCardKey(tx, campaign: campaign, seed: seed, from: sender)
        case .receipt(let receipt):
            try receiveReceipt(tx, receipt, from: sender)
        case .revocationReceipt(let receipt):
            try receiveRevocationReceipt(tx, receipt)
        case .tallyProof(let proof):
            try receiveTallyProof(tx, proof)
        case let .sharedCampaign(groupID, campaign):
            try receiveSharedCampaign(tx, campaign, in: groupID, from: sender)
        case .campaign:
            noteLater("\(try mention(tx, sender)) sent a card campaign outside a group; ignored")
        case .devicesChanged(let entries):
            try receiveDevicesChanged(tx, entries, from: sender, in: conversation)
        case let .sent(peer, inner):
            try receiveSentCopy(tx, inner, to: peer, from: sender)
        case .rejoin(let groupID):
            try readmit(tx, sender, requester: named.device, groupID: groupID)
        case .unreadable(let count):
            let resent = try resendUnconfirmedStarts(tx, count: count, to: named.device)
            let outcome = switch resent {
            case 0: "if you wrote to them, send it again"
            case Int(count): "your \(resent) message(s) were sent again in it"
            default: "your last \(resent) message(s) were sent again in it; if you wrote more, send it again"
            }
            try addLine(tx, conversation, .warning, """
                \(try mention(tx, sender)) could not open \(count) message(s) that claimed to be from you (the relay may have \
                replaced their one-time prekey) and started a new conversation: \(outcome)
                """, expirySeconds: 0)
        case let .joinRefused(inviteID, reason):
            // A refusal of a request already answered (one sent again, §9.10) changes nothing.
            guard try forgetJoinRequest(tx, inviteID: inviteID) else { return nil }
            try setMeta(tx, "refused:" + Hex.encode(inviteID), Array(reason.utf8))
            noteLater("\(try mention(tx, sender)) refused your request to join: \(reason)")
        }
        return nil
    }

    /// For a session start that could not be opened: the sender it claims, who is then asked (once
    /// this transaction commits, by `askToResend`) to send again over a session this client starts.
    /// A swapped one-time prekey (not signed, §6.1) breaks every start message of that session.
    private nonisolated func unreadableStart(_ tx: StoreTransaction, _ delivery: Delivery) throws -> Ed25519.PublicKey? {
        guard let envelope = try? PairwiseEnvelope(parsing: Array(delivery.payload)), envelope.isSessionStart,
              let peer = try? envelope.sender(openedWith: device).identity, peer != identity.publicKey else { return nil }
        if try contact(tx, peer) == nil { try saveContact(tx, peer, ContactRecord(did: DID(publicKey: peer).description)) }
        let key = Self.unreadableKey + Hex.encode(store.tag(peer.rawRepresentation))
        let count = (try getMeta(tx, key)).map { $0.dropFirst(32).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } } ?? 0
        try setMeta(tx, key, peer.rawRepresentation + withUnsafeBytes(of: (count + 1).bigEndian, Array.init))
        resendWanted.withLock { $0 = true }
        return peer
    }

    static let unreadableKey = "unreadable:"

    /// Starts a new session with each sender whose session start could not be opened and asks them
    /// to send again (`Payload.unreadable`); what cannot go now stays pending for the next time.
    func askToResend() async {
        let pending = (try? read { tx in
            try tx.metaKeys(prefix: Self.unreadableKey).compactMap { key in
                try getMeta(tx, key).map { (key, $0) }
            }
        }) ?? []
        for (key, value) in pending where value.count == 36 {
            guard let peer = try? Ed25519.PublicKey(rawRepresentation: Array(value.prefix(32))) else { continue }
            let count = value.dropFirst(32).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            do {
                try await ensureSession(with: peer)
                try write { tx in
                    _ = try enqueuePairwise(tx, .unreadable(count: count), to: peer)
                    try forgetUnreadable(tx, key, asked: count)
                }
            } catch .relayUnreachable(let url, let reason) {
                note("could not ask \(DID(publicKey: peer).short) to send again yet (the relay \(url) cannot be reached: \(reason))")
            } catch {
                // No keys for them, or keys not signed by them: asking cannot work.
                note("could not ask \(DID(publicKey: peer).short) to send again: \(error)")
                try? write { tx in try forgetUnreadable(tx, key, asked: count) }
            }
        }
        if !pending.isEmpty { try? await flushOutbox() }
    }

    /// Removes a pending request once `asked` lost starts were reported; starts lost meanwhile stay.
    private nonisolated func forgetUnreadable(_ tx: StoreTransaction, _ key: String, asked: UInt32) throws {
        guard let value = try getMeta(tx, key), value.count == 36 else { return }
        let now = value.dropFirst(32).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if now > asked {
            try setMeta(tx, key, Array(value.prefix(32)) + withUnsafeBytes(of: (now - asked).bigEndian, Array.init))
        } else {
            try tx.deleteMeta(key)
        }
    }

    /// The sender a pairwise delivery claims, when this user already knows them: a failure is told
    /// in that conversation (a stranger's name opens no conversation).
    private nonisolated func knownSender(_ tx: StoreTransaction, _ delivery: Delivery) throws -> Ed25519.PublicKey? {
        guard let peer = claimedSender(Array(delivery.payload))?.identity, try contact(tx, peer) != nil else { return nil }
        return peer
    }

    // MARK: Groups

    /// What became of a group delivery.
    enum GroupReceipt {
        /// Shown, refused with a warning, or recognised as a replay.
        case handled
        /// Put aside until its group or epoch key arrives.
        case putAside
        /// It failed to open (why); nothing was changed.
        case unopened(String)

        var failure: String? { if case .unopened(let why) = self { why } else { nil } }
    }

    /// Opens a group delivery.
    nonisolated func receiveGroup(_ tx: StoreTransaction, _ delivery: Delivery) throws -> GroupReceipt {
        let groupID = delivery.groupID?.bytes ?? []
        guard let (info, session, routing) = try groupRow(tx, groupID) else {
            try putAside(tx, delivery)
            return .putAside
        }
        var state = session
        let conversation = Conversation.group(GroupID(groupID))
        let message: GroupMessage
        do {
            message = try state.decrypt(Array(delivery.payload))
        } catch GroupError.unknownEpoch(let epoch) where epoch > state.currentEpoch {
            try putAside(tx, delivery)
            return .putAside
        } catch GroupError.replay {
            try addLine(tx, conversation, .warning, "a group message the relay delivered again (a replay) was recognised and dropped")
            return .handled
        } catch GroupError.unknownEpoch {
            // From before this member joined (or an epoch already discarded): not ours to read.
            return .handled
        } catch {
            return .unopened("\(error)")
        }
        let sender = message.sender
        var removedBy: Ed25519.PublicKey?
        for event in message.events {
            switch event {
            case .senderRemoved(let entry):
                removedBy = state.chain.entries[Int(entry)].author
            case .gap(let missing):
                try addLine(tx, conversation, .warning, "\(missing) earlier message(s) from \(try mention(tx, sender)) have not arrived (yet)")
            case .lateArrival:
                try addLine(tx, conversation, .notice, "a delayed message from \(try mention(tx, sender)) arrived out of order")
            case .unseenPredecessors where info.quietPredecessors > 0:
                break
            case .unseenPredecessors(let count):
                try addLine(tx, conversation, .warning, """
                    \(try mention(tx, sender)) had seen \(count) message(s) you have not received: \
                    the relay may be withholding them
                    """)
            }
        }
        var newInfo = info
        newInfo.quietPredecessors = max(0, info.quietPredecessors - 1)
        let payload: Payload
        do { payload = try Payload(decoding: message.plaintext) } catch {
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .warning, "a message from \(try mention(tx, sender)) could not be read: \(error)")
            return .handled
        }
        if let admin = removedBy {
            // Sent in an epoch before the sender's removal, opened after it (§8.4): a text or file
            // is shown behind a warning; anything that would change the group is refused.
            let name = try mention(tx, sender), by = try mention(tx, admin)
            switch payload {
            case .text, .file:
                try addLine(tx, conversation, .warning, """
                    \(by) removed \(name) from the group; the next message from \(name) is from before that epoch \
                    and may have been written after the removal, while the relay kept \(name) unaware of it
                    """, expirySeconds: 0)
            default:
                try saveGroup(tx, newInfo, state, routing: routing)
                try addLine(tx, conversation, .warning, "\(by) removed \(name) from the group; a change \(name) sent from before that was refused",
                            expirySeconds: 0)
                return .handled
            }
        }
        switch payload {
        case let .text(stamp, text):
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .text, text, sender: sender, sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds)
        case let .file(stamp, offer):
            try saveGroup(tx, newInfo, state, routing: routing)
            try storeFile(tx, offer, stamp: stamp, from: sender, in: conversation)
        case .profile(let name):
            try saveGroup(tx, newInfo, state, routing: routing)
            try learnName(tx, sender, name, in: conversation)
        case .expiry where state.chain.roster[sender] != .admin:
            // Only admins set a group's timer (§9.8): a member could otherwise turn it off for everyone.
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .warning, """
                \(try mention(tx, sender)) tried to change the disappearing-message timer, which only an admin may do; \
                refused: the timer stays \(info.expirySeconds == 0 ? "off" : Duration.describe(seconds: info.expirySeconds))
                """)
        case .expiry(let stamp):
            newInfo.expirySeconds = stamp.expirySeconds
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .notice, "\(try mention(tx, sender)) \(Self.describeTimer(stamp.expirySeconds))", expirySeconds: 0)
        case .membership(let entry) where entry.groupID == groupID:
            try applyMembership(tx, entry, info: newInfo, session: state, routing: routing)
        case .campaign(let campaign):
            try saveGroup(tx, newInfo, state, routing: routing)
            try receiveCampaign(tx, campaign, from: sender, in: groupID, session: state)
        default:
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .warning, "\(try mention(tx, sender)) sent a message that does not belong in a group; ignored")
        }
        return .handled
    }

    /// Tells the group what a membership entry did.
    nonisolated func describe(_ tx: StoreTransaction, _ entry: MembershipEntry, in conversation: Conversation) throws {
        let author = try mention(tx, entry.author)
        switch entry.action {
        case .create:
            try addLine(tx, conversation, .notice, "\(author) created the group", expirySeconds: 0)
        case .add(let member, let role):
            let name = try mention(tx, member)
            let verified = (try contact(tx, member)?.verified ?? false) || member == identity.publicKey
            try addLine(tx, conversation, .notice, "\(author) added \(name)\(role == .admin ? " as an admin" : "")", expirySeconds: 0)
            if !verified {
                try addLine(tx, conversation, .warning, "new member \(name) is not verified: compare safety numbers before trusting them", expirySeconds: 0)
            }
        case .remove(let member):
            let text = member == identity.publicKey ? "\(author) removed you from the group" : "\(author) removed \(try mention(tx, member))"
            try addLine(tx, conversation, .notice, text, expirySeconds: 0)
        case .setRole(let member, let role):
            try addLine(tx, conversation, .notice, "\(author) made \(try mention(tx, member)) \(role == .admin ? "an admin" : "a member")", expirySeconds: 0)
        case .addDevice:
            try addLine(tx, conversation, .notice, "\(author) added a device of theirs to the group", expirySeconds: 0)
        case .removeDevice:
            try addLine(tx, conversation, .notice, "\(author) removed a device from the group", expirySeconds: 0)
        }
    }

    static func describeTimer(_ seconds: UInt32) -> String {
        seconds == 0 ? "turned disappearing messages off" : "set messages to disappear after \(Duration.describe(seconds: seconds))"
    }

    /// Keeps a group delivery whose group or epoch key has not arrived yet.
    private nonisolated func putAside(_ tx: StoreTransaction, _ delivery: Delivery) throws {
        try tx.putAside(delivery.messageID, delivery.serialized(), at: ClientStore.now())
    }

    /// Tries the deliveries put aside again (after a welcome or an epoch key); drops those older than a week.
    nonisolated func retryPutAside(_ tx: StoreTransaction) throws {
        // All are taken out first: one opened now may lead to another retry (an epoch key), which
        // then finds only those put aside again.
        for bytes in try tx.takePutAside(keptSince: ClientStore.now() - 7 * 86_400_000) {
            guard let delivery = try? Delivery(serialized: bytes) else { continue }
            // A copy kept here is the only one: if it does not open, it is dropped with a warning.
            if let failure = try receiveGroup(tx, delivery).failure {
                try addLine(tx, .group(delivery.groupID ?? GroupID([])), .warning, "a group message that could not be opened was dropped: \(failure)")
            }
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
