import CaucusClientStore
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// Groups: creating, inviting, admitting, joining, removing and promoting (Protocol.md §9.5).
extension Account {
    /// For how many group messages after joining a newcomer does not report unseen predecessors.
    static let newcomerQuietMessages = 10
    /// How long an invite lasts unless the inviter says otherwise.
    public static let defaultInviteLifetime: UInt32 = 7 * 86_400

    /// Creates a group with this user as its only admin and its relay route, and gives it to this
    /// user's other devices (§9.14).
    public func createGroup(name: String) async throws(ClientError) -> GroupSummary {
        try Self.validate(groupName: name)
        guard try findGroup(named: name) == nil else { throw ClientError.invalidArgument("you already have a group called \(name)") }
        let client = try await connected()
        try await ensureOwnSessions()
        let session = GroupSession(founder: identity)
        let routing = Ed25519.PrivateKey()
        let update = routingUpdate(groupID: session.groupID, serial: 1, signer: routing, add: [identity.publicKey], remove: [])
        do { _ = try await retrying { try await client.updateRoute(update) } } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: name)
        try write { tx in
            // On a linked device the identity's first device holds the founder's leaf; this one
            // takes a leaf of its own (nobody else is in the group yet to be told).
            var (state, tookOver): (GroupSession, GroupWelcome?) = (session, nil)
            if isLinkedDevice { (state, tookOver) = try takeOver(tx, session, info: info, announce: false) }
            try shareWithOwnDevices(tx, &state, info: info, routing: routing, tookOver: tookOver)
            try saveGroup(tx, info, state, routing: routing)
            try addLine(tx, .group(GroupID(session.groupID)), .notice, "you created the group \(name)", expirySeconds: 0, unread: false)
        }
        try await flushOutbox()
        return GroupSummary(id: GroupID(session.groupID), name: name, members: 1, isAdmin: true, removed: false, expirySeconds: 0)
    }

    static func validate(groupName: String) throws(ClientError) {
        guard !groupName.isEmpty, groupName.count <= 64, !groupName.contains(where: \.isNewline),
              !groupName.hasPrefix("did:"), groupName.trimmingCharacters(in: .whitespaces) == groupName
        else { throw ClientError.invalidArgument("a group name is 1 to 64 characters on one line, without spaces at its ends") }
    }

    nonisolated func routingUpdate(
        groupID: [UInt8], serial: UInt64, signer: Ed25519.PrivateKey, add: [Ed25519.PublicKey], remove: [Ed25519.PublicKey]
    ) -> RouteChange {
        let adminKey = DeviceKey(signer.publicKey)
        let added = add.map(DeviceKey.init), removed = remove.map(DeviceKey.init)
        let statement = RelayProtocol.groupRoutingStatement(
            groupID: Data(groupID), serial: serial, adminKey: adminKey.data, add: added.map(\.data), remove: removed.map(\.data))
        return RouteChange(groupID: GroupID(groupID), serial: serial, adminKey: adminKey, add: added, remove: removed,
                           signature: Data(signer.signature(for: statement).rawRepresentation))
    }

    /// The groups this user is or was in.
    public func groups() throws(ClientError) -> [GroupSummary] {
        try read { tx in
            try tx.allGroups().map { info, session in
                GroupSummary(id: GroupID(session.groupID), name: info.name, members: session.chain.roster.count,
                             isAdmin: session.chain.roster[identity.publicKey] == .admin, removed: info.removed,
                             expirySeconds: info.expirySeconds)
            }.sorted { $0.name < $1.name }
        }
    }

    func findGroup(named name: String) throws(ClientError) -> [UInt8]? {
        try read { tx in try findGroup(tx, named: name) }
    }

    nonisolated func findGroup(_ tx: StoreTransaction, named name: String) throws -> [UInt8]? {
        try tx.allGroupInfos().first { $0.name.caseInsensitiveCompare(name) == .orderedSame }.flatMap { Hex.decode($0.groupID) }
    }

    /// The group a user typed, by name.
    func group(named name: String) throws(ClientError) -> [UInt8] {
        guard let id = try findGroup(named: name) else { throw ClientError.unknownTarget(name) }
        return id
    }

    /// The members of a group as the signed membership chain has them.
    public func members(of groupName: String) throws(ClientError) -> [MemberSummary] {
        let id = try group(named: groupName)
        return try read { tx in
            guard let (_, session, _) = try groupRow(tx, id) else { return [] }
            let people = try people(tx)
            return session.chain.roster.map { key, role in
                let person = people.view(key)
                return MemberSummary(did: person.did, name: person.name, isAdmin: role == .admin, verified: person.verified,
                                     isMe: person.isMe, lookalikes: person.lookalikes)
            }.sorted { ($0.isMe ? 0 : 1, $0.name ?? "~", $0.did.description) < ($1.isMe ? 0 : 1, $1.name ?? "~", $1.did.description) }
        }
    }

    nonisolated func myName(_ tx: StoreTransaction) throws -> String {
        String(decoding: try getMeta(tx, "name") ?? [], as: UTF8.self)
    }

    // MARK: Invites

    /// Makes a one-time invite to a group (admins only) that lasts `lifetime` seconds.
    public func createInvite(group groupName: String, lifetime: UInt32 = Account.defaultInviteLifetime) throws(ClientError) -> InviteCode {
        let id = try group(named: groupName)
        guard let relay = try relays().first else { throw ClientError.noRelay }
        let inviteID = Random.bytes(16), secret = Random.bytes(16)
        let expiresAt = ClientStore.now() + Int64(lifetime) * 1000
        try write { tx in
            guard let (info, session, _) = try groupRow(tx, id), !info.removed else { throw ClientError.notMember(group: groupName) }
            guard session.chain.roster[identity.publicKey] == .admin else { throw ClientError.notAdmin(group: groupName) }
            let record = InviteRecord(groupID: Hex.encode(id), secret: Hex.encode(secret))
            try tx.addInvite(inviteID, record, expiresAt: expiresAt)
        }
        return InviteCode(inviter: identity.publicKey, inviteID: inviteID, secret: secret, relay: relay,
                          expiresAt: Date(timeIntervalSince1970: Double(expiresAt / 1000)))
    }

    /// An invite as `caucus invite list` shows it.
    public struct InviteSummary: Sendable, Equatable {
        /// What users type to withdraw it: hex of the invite id's first 4 bytes (also in the code).
        public var shortID: String
        public var groupName: String
        public var expiresAt: Date
        public var used: Bool
        /// Who used it (nil while unused, and for invites used before this was recorded).
        public var usedBy: PersonView?
        public var expired: Bool { expiresAt <= Date() }
    }

    static func shortID(invite id: [UInt8]) -> String { Hex.encode(id.prefix(4)) }

    /// This user's invites, newest last.
    public func invites() throws(ClientError) -> [InviteSummary] {
        try read { tx in
            try tx.invites().map { invite in
                let record = invite.record
                let name = try Hex.decode(record.groupID).flatMap { try groupRow(tx, $0)?.0.name } ?? "(a group you left)"
                let usedBy = try record.usedBy.flatMap { DID($0) }.map { try person(tx, $0.publicKey) }
                return InviteSummary(shortID: Self.shortID(invite: invite.id), groupName: name,
                                     expiresAt: Date(timeIntervalSince1970: Double(invite.expiresAt) / 1000),
                                     used: invite.used, usedBy: usedBy)
            }
        }
    }

    /// Withdraws an invite not yet used: whoever holds its code is refused from now on.
    public func withdrawInvite(_ shortID: String) throws(ClientError) {
        try write { tx in
            let ids = try tx.unusedInviteIDs().filter { Self.shortID(invite: $0) == shortID.lowercased() }
            guard ids.count == 1 else {
                throw ClientError.invalidArgument(ids.isEmpty ? "no unused invite \(shortID) (see `caucus invite list`)" : "more than one invite starts with \(shortID)")
            }
            try tx.deleteInvite(ids[0])
        }
    }

    /// Handles a join request: checks the invite, adds the joiner, sends them the welcome, routes
    /// the group to them and tells the group. A bad request is answered with a refusal.
    /// The welcome goes to the joiner's device that asked (`requester`) alone; that device gives
    /// the group to the joiner's other devices (§9.14).
    nonisolated func admit(_ tx: StoreTransaction, _ joiner: Ed25519.PublicKey, requester: Ed25519.PublicKey, inviteID: [UInt8],
                           secret: [UInt8], name: String) throws {
        func refuse(_ reason: String) throws {
            noteLater("refused a join request from \(name) (\(DID(publicKey: joiner).short)): \(reason)")
            try enqueuePairwise(tx, .joinRefused(inviteID: inviteID, reason: reason), to: joiner)
        }
        guard let invite = try tx.invite(inviteID) else {
            // Each device keeps the invites it made: another device of this identity answers this one.
            if try !devices(tx, of: identity.publicKey).isEmpty {
                noteLater("a join request for an invite this device did not make was left to your other devices")
                return
            }
            return try refuse("this invite does not exist (or was withdrawn)")
        }
        var record = invite.record
        guard let expected = Hex.decode(record.secret), ConstantTime.equals(expected, secret) else {
            return try refuse("this invite's secret does not match")
        }
        let groupName = try Hex.decode(record.groupID).flatMap { try groupRow(tx, $0)?.0.name }.map { " to \($0)" } ?? ""
        guard !invite.used else { return try refuse("this invite\(groupName) was already used") }
        guard invite.expiresAt > ClientStore.now() else { return try refuse("this invite\(groupName) has expired") }
        guard let groupID = Hex.decode(record.groupID), let (info, session, routing) = try groupRow(tx, groupID), !info.removed else {
            return try refuse("the group no longer exists")
        }
        guard session.chain.roster[identity.publicKey] == .admin, let routing else {
            return try refuse("the inviter is no longer an admin of the group")
        }
        guard session.chain.roster[joiner] == nil else { return try refuse("you are already a member") }
        record.usedBy = DID(publicKey: joiner).description
        try tx.markInviteUsed(inviteID, record)
        try learnName(tx, joiner, name, in: .group(GroupID(groupID)))
        let admission = "admitted \(name) (\(DID(publicKey: joiner).short)) to \(info.name) with invite \(Self.shortID(invite: inviteID))"
        pendingAdmissions.withLock { $0.append(admission) }

        var scratch = session
        let (entry, welcome) = try scratch.add(joiner, role: .member, by: identity)
        let names = try knownNames(tx, session.chain.roster.keys)
        // The change goes to the group first (in the epoch before it), then the route, then the
        // welcome: members know the newcomer before anything it sends can reach them.
        try commit(tx, entry, to: session, info: info, routing: routing)
        try enqueue(tx, routingUpdate(groupID: groupID, serial: scratch.chain.routeSerial, signer: routing, add: [joiner], remove: []))
        try enqueuePairwise(tx, .welcome(welcome, groupName: info.name, expirySeconds: info.expirySeconds, names: names),
                            toDevice: requester, id: Random.bytes(16), ttl: 0)
        try shareCampaigns(tx, of: groupID, with: requester)
    }

    /// This user's name and the names it knows of `members`, for a welcome.
    nonisolated func knownNames(_ tx: StoreTransaction, _ members: some Sequence<Ed25519.PublicKey>) throws -> [(Ed25519.PublicKey, String)] {
        var names: [(Ed25519.PublicKey, String)] = [(identity.publicKey, try myName(tx))]
        for member in members where member != identity.publicKey {
            if let name = try contact(tx, member)?.name { names.append((member, name)) }
        }
        return names
    }

    /// Joins with a welcome from an admin, or from another device of this identity that gives
    /// this one the group (§9.14). An admin's welcome goes to the device that asked; another
    /// device of the identity leaves it to that one, which gives it the group in turn.
    nonisolated func joinGroup(
        _ tx: StoreTransaction, _ welcome: GroupWelcome, from admin: Ed25519.PublicKey, name: String, expiry: UInt32,
        names: [(Ed25519.PublicKey, String)]
    ) throws {
        let fromOwnDevice = admin == identity.publicKey
        if !fromOwnDevice, try !hasJoinRequest(tx, to: admin), try isLinkedDevice || !devices(tx, of: identity.publicKey).isEmpty {
            noteLater("a group welcome from \(DID(publicKey: admin).short) for another of your devices was left to it")
            return
        }
        // A linked device that asked holds the welcome of the identity's first device (§9.14).
        let takingOver = !fromOwnDevice && isLinkedDevice
        let session: GroupSession
        do {
            session = try GroupSession(welcome: welcome, me: identity.publicKey, device: takingOver ? identity.publicKey : device.publicKey,
                                       from: admin)
        } catch {
            noteLater("a group welcome from \(DID(publicKey: admin).short) was refused: \(error)")
            return
        }
        if let (existing, current, _) = try groupRow(tx, session.groupID), !existing.removed {
            // One an admin sent again after a restore (§9.10) repeats history this member has.
            if !current.chain.entries.starts(with: welcome.entries) { noteLater("a second welcome to \(existing.name) was ignored") }
            return
        }
        var groupName = name
        if let clash = try findGroup(tx, named: name), clash != session.groupID { groupName = name + " (" + DID(publicKey: admin).short + ")" }
        try? Self.validate(groupName: groupName)
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: groupName, expirySeconds: expiry,
                             quietPredecessors: Self.newcomerQuietMessages)
        var (state, tookOver): (GroupSession, GroupWelcome?) = (session, nil)
        if takingOver { (state, tookOver) = try takeOver(tx, session, info: info, announce: true) }
        try saveGroup(tx, info, state, routing: nil)
        let conversation = Conversation.group(GroupID(session.groupID))
        for (key, memberName) in names where session.chain.roster[key] != nil {
            try learnName(tx, key, memberName, in: conversation)
        }
        try setMeta(tx, "joined:" + Hex.encode(session.groupID), [1])
        if fromOwnDevice {
            try addLine(tx, conversation, .notice, "this device now takes part in \(groupName), given by your other device", expirySeconds: 0)
        } else {
            try forgetJoinRequests(tx, to: admin)
            try addLine(tx, conversation, .notice, "you joined \(groupName), admitted by \(try mention(tx, admin))", expirySeconds: 0)
            try enqueueGroup(tx, &state, .profile(name: try myName(tx)), info: info)
            try shareWithOwnDevices(tx, &state, info: info, routing: nil, tookOver: tookOver)
            try saveGroup(tx, info, state, routing: nil)
        }
        try retryPutAside(tx)
    }

    nonisolated func acceptEpochKey(_ tx: StoreTransaction, _ key: GroupEpochKey, from author: Ed25519.PublicKey) throws {
        guard let (info, session, routing) = try groupRow(tx, key.groupID) else { return }
        if key.epoch >= session.chain.nextSequence, session.chain.roster[author] == .admin {
            try holdEarlyEpochKey(tx, key, from: author, info: info)
            return
        }
        var state = session
        do { try state.receive(epochKey: key, from: author) } catch {
            try addLine(tx, .group(GroupID(key.groupID)), .warning, "an epoch key from \(try mention(tx, author)) was refused: \(error)")
            return
        }
        try saveGroup(tx, info, state, routing: routing)
        try retryPutAside(tx)
    }

    /// Keeps the key of a membership change this member has not seen yet. It proves, signed over
    /// the admin's session, that the group moved on: until the change itself arrives, sending in
    /// the old epoch could reach someone it removed, so sending to the group waits.
    private nonisolated func holdEarlyEpochKey(_ tx: StoreTransaction, _ key: GroupEpochKey, from author: Ed25519.PublicKey, info: GroupInfo) throws {
        try tx.holdEarlyEpochKey(key, from: author, at: ClientStore.now())
        try addLine(tx, .group(GroupID(key.groupID)), .warning, """
            \(try mention(tx, author)) changed the membership of \(info.name), but the change itself has not reached you: \
            the relay may be withholding it. Sending to \(info.name) waits until it arrives, so that no one removed can read you.
            """)
    }

    /// Applies the held epoch keys whose membership change has now arrived.
    nonisolated func applyEarlyEpochKeys(_ tx: StoreTransaction, _ groupID: [UInt8]) throws {
        guard let (_, session, _) = try groupRow(tx, groupID) else { return }
        for held in try tx.earlyEpochKeys(GroupID(groupID)) where held.key.epoch < session.chain.nextSequence {
            try tx.deleteEarlyEpochKey(held)
            try acceptEpochKey(tx, held.key, from: held.author)
        }
    }

    /// Whether a membership change of the group is known to exist but has not arrived.
    nonisolated func isBehind(_ tx: StoreTransaction, _ groupID: [UInt8]) throws -> Bool {
        try tx.holdsEarlyEpochKey(GroupID(groupID))
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    nonisolated func acceptRoutingKey(_ tx: StoreTransaction, groupID: [UInt8], seed: [UInt8], from author: Ed25519.PublicKey) throws {
        guard let (info, session, _) = try groupRow(tx, groupID),
              session.chain.roster[author] == .admin, session.chain.roster[identity.publicKey] == .admin
        else { return }
        var seedCopy = seed
        defer { wipe(&seedCopy) }
        let routing = try Ed25519.PrivateKey(seed: SecureBytes(copying: seedCopy))
        try saveGroup(tx, info, session, routing: routing)
    }

    // MARK: Joining

    /// How a join is going, for the person waiting.
    public enum JoinProgress: Sendable, Equatable {
        /// The request went to the relay (or, `queued`, waits here for it) for the inviter (a DID fragment).
        case asked(inviter: String, relay: String, queued: Bool)
        /// Still no answer after the first duration, of the second at most.
        case waiting(for: Duration, of: Duration)
    }

    /// What became of a join request.
    public enum JoinOutcome: Sendable, Equatable {
        /// Admitted: the group's name.
        case joined(String)
        /// The request is with the inviter, who admits it when their client next runs.
        case pending
    }

    /// Redeems an invite: asks the inviter to admit this user and waits up to `wait` for the answer,
    /// telling `progress` once the request is on its way and then every 5 seconds (with the time
    /// waited so far). An expired code is refused at once, without asking.
    public func join(_ code: InviteCode, wait: Duration = .seconds(30),
                     progress: @Sendable (JoinProgress) -> Void = { _ in }) async throws(ClientError) -> JoinOutcome {
        guard code.inviter != identity.publicKey else { throw ClientError.invalidInvite("it is your own invite") }
        if let expiresAt = code.expiresAt, code.hasExpired() {
            throw ClientError.invalidInvite("""
                it expired \(expiresAt.formatted(date: .abbreviated, time: .shortened)); \
                ask the inviter (\(DID(publicKey: code.inviter).short)) for a new one
                """)
        }
        if try relays().isEmpty { try addRelay(code.relay) }
        try await ensureSession(with: code.inviter)
        // So that this device can give the group to the identity's others once it is in (§9.14).
        try await ensureOwnSessions()
        let name = try displayName()
        try write { tx in
            let asking = try enqueuePairwise(tx, .joinRequest(inviteID: code.inviteID, secret: code.secret, name: name), to: code.inviter)
            let profile = try enqueuePairwise(tx, .profile(name: name), to: code.inviter)
            // Sent again, byte for byte, on every connection until answered (§9.10).
            try keepJoinRequest(tx, inviteID: code.inviteID, asking + profile)
        }
        try await flushOutbox()
        let inviter = DID(publicKey: code.inviter).short
        progress(.asked(inviter: inviter, relay: try relays().first ?? code.relay, queued: try queuedCount() > 0))
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + wait
        var told = started
        let refusalKey = "refused:" + Hex.encode(code.inviteID)
        let joinedBefore = Set(try groups().map(\.id))
        // The answer is pushed on the open connection and handled as it comes; each delivery
        // handled ends the wait for a look at the store. A connection that fell is made again,
        // which sends the request again (§9.10), and its backlog is read.
        var needsSync = true
        repeat {
            if needsSync || unstored > 0 || !(connection?.isOpen ?? false) {
                try await sync(readingMailboxAfresh: false)
                needsSync = false
            }
            if let reason = try read({ tx in try getMeta(tx, refusalKey) }) {
                throw ClientError.joinRefused(inviter: inviter, reason: String(decoding: reason, as: UTF8.self))
            }
            if let group = try groups().first(where: { !joinedBefore.contains($0.id) }) { return .joined(group.name) }
            if clock.now - told >= .seconds(5), clock.now < deadline {
                told = clock.now
                progress(.waiting(for: clock.now - started, of: wait))
            }
            // Waits for a delivery, for the connection to end, or for the next progress line.
            await waitForChange(until: min(deadline, told + .seconds(5)))
        } while clock.now < deadline
        return .pending
    }

    // MARK: Removing and promoting

    /// Removes a member (admins only): a new epoch whose key goes to every remaining member.
    public func remove(member target: String, from groupName: String) async throws(ClientError) {
        let id = try group(named: groupName)
        let member = try resolveMember(target, in: id)
        guard member != identity.publicKey else { throw ClientError.invalidArgument("to leave a group, ask an admin to remove you") }
        let (session, routing) = try adminState(id, groupName)
        try await connected()
        for other in session.chain.roster.keys where other != identity.publicKey && other != member {
            try await ensureSession(with: other)
        }
        try await ensureOwnSessions()
        let route = try write { tx in try queueRemoval(tx, of: member, from: id, groupName: groupName, routing: routing) }
        try await flushOutbox()
        try confirmRoute(route, change: "the removal", group: groupName)
    }

    /// Queues a removal (§9.3): the entry to the group, the route change (whose queued id it
    /// returns), and the new epoch's key to every remaining device.
    nonisolated func queueRemoval(_ tx: StoreTransaction, of member: Ed25519.PublicKey, from id: [UInt8], groupName: String,
                                  routing: Ed25519.PrivateKey) throws -> Data {
        guard let (info, current, _) = try groupRow(tx, id) else { throw ClientError.notMember(group: groupName) }
        var scratch = current
        let (entry, epochKey): (MembershipEntry, GroupEpochKey)
        do { (entry, epochKey) = try scratch.remove(member, by: identity) } catch { throw ClientError.groupRefused("\(error)") }
        try commit(tx, entry, to: current, info: info, routing: routing, epochKey: epochKey)
        let route = try enqueue(tx, routingUpdate(groupID: id, serial: scratch.chain.routeSerial, signer: routing, add: [], remove: [member]))
        try enqueueEpochKey(tx, epochKey, in: scratch)
        // Handed out again if a restored relay loses it (§9.10).
        try keepEpochKey(tx, epochKey)
        return route
    }

    /// Throws unless the relay took the queued route change `id`: a membership change is not
    /// done while the route does not follow it.
    func confirmRoute(_ id: Data, change: String, group: String) throws(ClientError) {
        if let refusal = routeRefusals.removeValue(forKey: id) {
            throw ClientError.routeNotUpdated(change: change, group: group, reason: "the relay refused it: \(refusal)")
        }
        let queued = try read { tx in try tx.isQueued(id) }
        if queued {
            throw ClientError.routeNotUpdated(change: change, group: group, reason: "the relay has not taken it yet; it stays queued for the next `caucus sync`")
        }
    }

    /// Makes a member an admin (admins only) and hands them the group's routing key.
    public func promote(member target: String, in groupName: String) async throws(ClientError) {
        let id = try group(named: groupName)
        let member = try resolveMember(target, in: id)
        let (session, routing) = try adminState(id, groupName)
        guard session.chain.roster[member] != .admin else { throw ClientError.invalidArgument("\(target) is already an admin") }
        try await connected()
        try await ensureSession(with: member)
        let route = try write { tx in
            guard let (info, current, _) = try groupRow(tx, id) else { throw ClientError.notMember(group: groupName) }
            var scratch = current
            let entry: MembershipEntry
            do { entry = try scratch.setRole(member, to: .admin, by: identity) } catch { throw ClientError.groupRefused("\(error)") }
            try commit(tx, entry, to: current, info: info, routing: routing)
            // The route's serial follows the chain's length, so a role change moves it too.
            let route = try enqueue(tx, routingUpdate(groupID: id, serial: scratch.chain.routeSerial, signer: routing, add: [], remove: []))
            var seed = routing.seed.withUnsafeBytes { Array($0) }
            defer { wipe(&seed) }
            try enqueuePairwise(tx, .routingKey(groupID: id, seed: seed), to: member)
            try handOverCardKeys(tx, of: id, to: member)
            return route
        }
        try await flushOutbox()
        try confirmRoute(route, change: "the promotion", group: groupName)
    }

    /// Tells the group about an entry this admin made (encrypted in the epoch before it, so every
    /// current member can read it), then applies it to the saved state.
    nonisolated func commit(_ tx: StoreTransaction, _ entry: MembershipEntry, to session: GroupSession, info: GroupInfo,
                                    routing: Ed25519.PrivateKey, epochKey: GroupEpochKey? = nil) throws {
        var state = session
        try enqueueGroup(tx, &state, .membership(entry), info: info)
        try state.apply(entry)
        if let epochKey { try state.receive(epochKey: epochKey, from: identity.publicKey) }
        try saveGroup(tx, info, state, routing: routing)
        try describe(tx, entry, in: .group(GroupID(session.groupID)))
    }

    private func adminState(_ id: [UInt8], _ groupName: String) throws(ClientError) -> (GroupSession, Ed25519.PrivateKey) {
        try read { tx in
            guard let (info, session, routing) = try groupRow(tx, id), !info.removed else { throw ClientError.notMember(group: groupName) }
            guard session.chain.roster[identity.publicKey] == .admin, let routing else { throw ClientError.notAdmin(group: groupName) }
            return (session, routing)
        }
    }

    /// A member of a group by DID, DID fragment or name, as `People.pick` says.
    func resolveMember(_ text: String, in groupID: [UInt8]) throws(ClientError) -> Ed25519.PublicKey {
        try read { tx in
            guard let (_, session, _) = try groupRow(tx, groupID) else { throw ClientError.unknownTarget(text) }
            if let did = DID(text), session.chain.roster[did.publicKey] != nil { return did.publicKey }
            guard let member = try people(tx).pick(text, among: session.chain.roster.keys) else { throw ClientError.unknownTarget(text) }
            return member
        }
    }
}
