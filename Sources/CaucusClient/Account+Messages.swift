import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Sending, reading and the settings of a conversation.
extension Account {
    // MARK: Encrypting into the outbox

    /// Encrypts a payload for one person and queues one copy for each of their devices that has a
    /// session with this one (§9.12), saving the sessions in the same transaction. Returns the
    /// copies, in the order they are sent.
    @discardableResult
    nonisolated func enqueuePairwise(_ tx: StoreTransaction, _ payload: Payload, to person: Ed25519.PublicKey,
                                     id: [UInt8] = Random.bytes(16), ttl: UInt32 = 0) throws -> [OutgoingMessage] {
        let targets = try devices(tx, of: person).filter { try tx.hasSession(peer: $0) }
        guard !targets.isEmpty else {
            throw ClientError.invalidArgument("no conversation with \(DID(publicKey: person).short) has been started")
        }
        return try targets.map { device in
            try enqueuePairwise(tx, payload, toDevice: device, id: Self.copyID(id, for: device, of: person), ttl: ttl)
        }
    }

    /// Encrypts a payload for one device and queues it, saving the session in the same transaction.
    @discardableResult
    nonisolated func enqueuePairwise(_ tx: StoreTransaction, _ payload: Payload, toDevice device: Ed25519.PublicKey,
                                     id: [UInt8], ttl: UInt32) throws -> OutgoingMessage {
        var plaintext = payload.encoded()
        defer { wipe(&plaintext) }
        let envelope = try sealPairwise(tx, plaintext, to: device)
        if payload.writtenStamp != nil, envelope.isSessionStart {
            try keepUnconfirmedStart(tx, plaintext, to: device)
        }
        let message = OutgoingMessage(messageID: MessageID(id), recipients: [DeviceKey(device)],
                                      payload: Data(envelope.encoded()), ttlSeconds: ttl)
        try enqueue(tx, message)
        return message
    }

    /// Encrypts a payload once for a whole group and queues it; `session` is advanced in place.
    /// `signer` is the key of the state's device: this device's, unless the state is the first
    /// device's that hands a group to this one (`takeOver`).
    nonisolated func enqueueGroup(_ tx: StoreTransaction, _ session: inout GroupSession, _ payload: Payload, info: GroupInfo,
                                  id: [UInt8] = Random.bytes(16), ttl: UInt32 = 0, signer: Ed25519.PrivateKey? = nil) throws {
        guard try !isBehind(tx, session.groupID) else {
            throw ClientError.groupRefused("""
                a membership change of \(info.name) has not reached you yet (the relay may be withholding it); \
                nothing was sent. Try again after `caucus sync` brings it
                """)
        }
        var plaintext = payload.encoded()
        defer { wipe(&plaintext) }
        let message: [UInt8]
        do { message = try session.encrypt(plaintext, device: signer ?? device) } catch GroupError.epochKeyPending {
            throw ClientError.groupRefused("\(info.name) is changing keys after a removal; try again once the admin's client has sent them")
        } catch {
            throw ClientError.groupRefused("\(error)")
        }
        try enqueue(tx, OutgoingMessage(messageID: MessageID(id), groupID: GroupID(session.groupID), payload: Data(message), ttlSeconds: ttl))
    }

    /// Encrypts a payload for a conversation and queues it.
    nonisolated func enqueue(_ tx: StoreTransaction, _ payload: Payload, in conversation: Conversation, id: [UInt8], ttl: UInt32) throws {
        switch conversation {
        case .direct(let peer):
            try enqueuePairwise(tx, payload, to: peer, id: id, ttl: ttl)
        case .group(let groupID):
            guard let (info, session, routing) = try groupRow(tx, groupID) else { throw ClientError.unknownTarget(Hex.encode(groupID.bytes)) }
            guard !info.removed else { throw ClientError.notMember(group: info.name) }
            var state = session
            try enqueueGroup(tx, &state, payload, info: info, id: id, ttl: ttl)
            try saveGroup(tx, info, state, routing: routing)
        }
    }

    // MARK: Targets

    /// What the user typed as a target: a group name, a DID, or a person: a DID fragment or their name
    /// (the same or a look-alike; of several such, the one verified), as `People.pick` says.
    public func resolve(_ target: String) throws(ClientError) -> Conversation {
        if let did = DID(target) {
            guard did.publicKey != identity.publicKey else { throw ClientError.invalidArgument("that is your own DID") }
            return .direct(did.publicKey)
        }
        if target.hasPrefix("did:") { throw ClientError.invalidArgument("\(target) is not a valid DID") }
        return try read { tx in
            if let id = try findGroup(tx, named: target) { return .group(GroupID(id)) }
            let contacts = try tx.allContacts().map(\.0).filter { $0 != identity.publicKey }
            guard let person = try people(tx).pick(target, among: contacts) else { throw ClientError.unknownTarget(target) }
            return .direct(person)
        }
    }

    /// The name of a conversation as the user sees it.
    public func name(of conversation: Conversation) throws(ClientError) -> String {
        try read { tx in try conversationName(tx, conversation) }
    }

    // MARK: Sending

    /// How a send went.
    public enum SendOutcome: Sendable, Equatable {
        /// The relay has it, stored durably.
        case sent
        /// Saved here, encrypted, and sent the next time the relay is reachable (the reason why not now).
        case queued(String)
        /// The relay refused it (its reason); it will not be sent.
        case refused(String)
    }

    /// Sends a text message to a conversation.
    @discardableResult
    public func send(_ text: String, to conversation: Conversation) async throws(ClientError) -> SendOutcome {
        guard !text.isEmpty, text.utf8.count <= 60_000 else { throw ClientError.invalidArgument("a message is 1 to 60,000 bytes") }
        return try await deliver(to: conversation) { tx, stamp in
            (.text(stamp, text), { tx in try self.addLine(tx, conversation, .text, text, sender: self.identity.publicKey,
                                                          sentAt: stamp.sentAt, expirySeconds: stamp.expirySeconds) })
        }
    }

    /// Encrypts, stores and queues a visible payload, then tries to send it now.
    func deliver(
        to conversation: Conversation,
        _ make: (StoreTransaction, MessageStamp) throws -> (Payload, (StoreTransaction) throws -> Void)
    ) async throws(ClientError) -> SendOutcome {
        // Offline is fine: the message waits in the outbox.
        try? await catchUp()
        if case .direct(let peer) = conversation {
            do { try await ensureSession(with: peer) } catch {
                // With a session already here the message can wait in the outbox; a first one cannot.
                guard case .relayUnreachable = error, try read({ tx in try tx.hasSession(peer: peer) }) else { throw error }
            }
            // This identity's other devices get a copy; one that cannot be reached now misses it.
            try? await ensureSession(with: identity.publicKey)
        }
        let id = Random.bytes(16)
        try write { tx in
            let timer = try expiry(tx, conversation)
            let stamp = MessageStamp(id: id, sentAt: UInt64(ClientStore.now()), expirySeconds: timer)
            let (payload, record) = try make(tx, stamp)
            try enqueue(tx, payload, in: conversation, id: stamp.id, ttl: timer)
            if case .direct(let peer) = conversation { try enqueueCopies(tx, payload, to: peer, ttl: timer) }
            try record(tx)
            if case .direct(let peer) = conversation, try contact(tx, peer) == nil {
                try saveContact(tx, peer, ContactRecord(did: DID(publicKey: peer).description))
            }
        }
        do {
            try await connected()
            try await flushOutbox()
        } catch {
            return .queued(error.description)
        }
        if let refusal = sendRefusals.removeValue(forKey: MessageID(id)) {
            try write { tx in _ = try addLine(tx, conversation, .warning, "the relay refused your message above; it was not sent: \(refusal)", expirySeconds: 0) }
            return .refused(refusal)
        }
        let left = try queuedCount()
        return left == 0 ? .sent : .queued(outboxHalt ?? "\(left) request(s) still queued")
    }

    /// Sends this user's display name to a person (so they know who wrote).
    func introduce(to peer: Ed25519.PublicKey) throws(ClientError) {
        try write { tx in try enqueuePairwise(tx, .profile(name: try myName(tx)), to: peer) }
    }

    // MARK: Reading

    /// Unread lines, oldest first; `markRead` marks them read.
    public func unread(markRead: Bool = true) throws(ClientError) -> [MessageView] {
        try write { tx in
            let lines = try views(tx, try tx.unreadLines(), conversations: try knownConversations(tx))
            if markRead { try tx.markAllRead() }
            return lines
        }
    }

    /// The last `limit` lines of a conversation, oldest first; marks them read.
    public func history(_ conversation: Conversation, limit: Int = 50) throws(ClientError) -> [MessageView] {
        try write { tx in
            let lines = try views(tx, try tx.lastLines(of: conversation, limit: limit), conversations: [store.tag(conversation): conversation])
            try tx.markRead(conversation)
            return lines
        }
    }

    // MARK: Disappearing messages

    /// Sets a conversation's disappearing-message timer (0: off) for every member; a group's only
    /// when this user is one of its admins (§9.8).
    public func setExpiry(_ seconds: UInt32, for conversation: Conversation) async throws(ClientError) -> SendOutcome {
        if case .group(let id) = conversation {
            let row = try read { tx in try groupRow(tx, id) }
            guard let (info, session, _) = row else { throw ClientError.unknownTarget(Hex.encode(id.bytes)) }
            guard session.chain.roster[identity.publicKey] == .admin else { throw ClientError.notAdmin(group: info.name) }
        }
        return try await deliver(to: conversation) { tx, stamp in
            let set = MessageStamp(id: stamp.id, sentAt: stamp.sentAt, expirySeconds: seconds)
            return (.expiry(set), { tx in
                switch conversation {
                case .group(let id):
                    guard let (info, session, routing) = try self.groupRow(tx, id) else { return }
                    var updated = info
                    updated.expirySeconds = seconds
                    try self.saveGroup(tx, updated, session, routing: routing)
                case .direct:
                    var record = try tx.conversationRecord(conversation)
                    record.expirySeconds = seconds
                    try tx.saveConversation(conversation, record)
                }
                try self.addLine(tx, conversation, .notice, "you \(Self.describeTimer(seconds))", expirySeconds: 0, unread: false)
            })
        }
    }

    // MARK: Verification

    /// What `caucus verify` shows for a person.
    public struct Verification: Sendable {
        /// The person, with their marks.
        public var person: PersonView
        /// The number both sides compare.
        public var safetyNumber: SafetyNumber
        /// The person's DID.
        public var did: DID { person.did }
        /// The name they chose, if any.
        public var name: String? { person.name }
        /// Whether the user marked them verified.
        public var verified: Bool { person.verified }
        /// Of this device's active sessions with the person's devices, how many began with the
        /// hybrid start (X3DH with ML-KEM-768, Protocol.md §6.2) and how many with X3DH alone.
        public var postQuantumSessions = 0, classicalSessions = 0
    }

    /// The safety number with a person, and whether they were marked verified.
    public func verification(of target: String) throws(ClientError) -> Verification {
        guard case .direct(let peer) = try resolve(target) else {
            throw ClientError.invalidArgument("\(target) is a group; verify one member at a time")
        }
        return try read { tx in
            var result = Verification(person: try person(tx, peer), safetyNumber: SafetyNumber(identity.publicKey, peer))
            for device in try devices(tx, of: peer) {
                guard let active = try sessions(tx, peer: device).first else { continue }
                if active.isPostQuantum { result.postQuantumSessions += 1 } else { result.classicalSessions += 1 }
            }
            return result
        }
    }

    /// Marks a person verified (after comparing safety numbers in person) or not.
    public func setVerified(_ target: String, _ verified: Bool) throws(ClientError) {
        guard case .direct(let peer) = try resolve(target) else {
            throw ClientError.invalidArgument("\(target) is a group; verify one member at a time")
        }
        try write { tx in
            var record = try contact(tx, peer) ?? ContactRecord(did: DID(publicKey: peer).description)
            record.verified = verified
            try saveContact(tx, peer, record)
        }
    }
}
