import CaucusClientStore
import CaucusCrypto
import CaucusProtocol
import CaucusRelayClient
import Foundation

/// A relay that went back in time (restored from a backup) lost route changes, membership
/// entries, epoch keys and join requests that clients had seen it accept. Admins' clients find
/// such routes and repair them; joiners send their request again (Protocol.md §9.10).
extension Account {
    /// How long an admin keeps the epoch keys of its removals, to hand them out again after a
    /// restore (Protocol.md §9.10).
    static let keptEpochKeyLifetime: Int64 = 30 * 86_400_000

    // MARK: Finding routes behind the chain

    /// For every group this client administers, re-asserts the route at the serial the chain
    /// gives it (an `UpdateGroupRouting` with that serial and no change). The reply's previous
    /// serial tells whether the relay lost changes; those groups are repaired.
    func checkRoutes(on client: RelayClient) async throws(ClientError) {
        let administered: [(GroupInfo, [UInt8], UInt64, Ed25519.PrivateKey)] = try read { tx in
            try tx.allGroupInfos().compactMap { info in
                guard !info.removed, let id = Hex.decode(info.groupID), let (_, session, routing) = try groupRow(tx, id), let routing,
                      session.chain.roster[identity.publicKey] == .admin
                else { return nil }
                return (info, id, session.chain.routeSerial, routing)
            }
        }
        for (info, id, serial, routing) in administered {
            let probe = routingUpdate(groupID: id, serial: serial, signer: routing, add: [], remove: [])
            do {
                let updated = try await retrying { try await client.updateRoute(probe) }
                if updated.previousSerial < serial { try await repairGroup(id, routeSerial: updated.previousSerial) }
            } catch let error as RelayError where error.code == .notFound {
                try await repairGroup(id, routeSerial: 0)
            } catch let error as RelayError where error.code == .conflict {
                // A change this client made meanwhile (an admission while connecting) moved it on.
                let now = try read { tx in try groupRow(tx, id)?.1.chain.routeSerial }
                if now == serial { note(Self.routeAheadWarning(info.name, Self.reason(error))) }
            } catch let error as ClientError {
                throw error
            } catch RelayClientError.unexpectedReply {
                continue
            } catch {
                return
            }
        }
    }

    static func routeAheadWarning(_ group: String, _ why: String) -> String {
        """
        the relay's route for \(group) is ahead of its membership list as you know it: another admin's change has not \
        reached you yet, or the relay is hostile (\(why))
        """
    }

    // MARK: Repairing

    /// Repairs a group whose route the relay had at `routeSerial` while the chain is longer: queues
    /// the route re-asserted with every member (and without everyone the chain removed), and hands
    /// each member, over the pairwise sessions, the entries from the one that set `routeSerial` on, the epoch
    /// keys of this admin's removals among them, and to those this admin added, their welcome.
    func repairGroup(_ groupID: [UInt8], routeSerial: UInt64) async throws(ClientError) {
        guard let (_, session, _) = try read({ tx in try groupRow(tx, groupID) }) else { return }
        // The entry that set the route's serial is handed out again (its epoch key went out after its route change).
        let first = session.chain.entryIndex(routeSerial: max(routeSerial, 1))
        var everyone = Set<Ed25519.PublicKey>()
        for roster in Self.rosters(session.chain.entries).dropFirst(first) { everyone.formUnion(roster.keys) }
        everyone.remove(identity.publicKey)
        var unreachable = Set<Ed25519.PublicKey>()
        for member in everyone {
            do { try await ensureSession(with: member) } catch { unreachable.insert(member) }
        }
        try write { tx in
            guard let (info, session, routing) = try groupRow(tx, groupID), let routing else { return }
            let entries = session.chain.entries, serial = session.chain.routeSerial
            let members = Array(session.chain.roster.keys)
            let gone = Set(entries.compactMap { entry -> Ed25519.PublicKey? in
                if case .remove(let member) = entry.action { return member }
                return nil
            }).subtracting(members)
            if routeSerial == 0 {
                try enqueue(tx, routingUpdate(groupID: groupID, serial: 1, signer: routing, add: members, remove: []), kind: .reassert)
            }
            try enqueue(tx, routingUpdate(groupID: groupID, serial: serial, signer: routing, add: members, remove: Array(gone)), kind: .reassert)
            let rosters = Self.rosters(entries)
            for index in first..<entries.count {
                let entry = entries[index]
                // Those who got the entry in the group: the members before it.
                for member in rosters[index].keys where member != identity.publicKey && !unreachable.contains(member) {
                    try enqueuePairwise(tx, .membership(entry), to: member)
                }
                if case .add(let joiner, _) = entry.action, entry.author == identity.publicKey, !unreachable.contains(joiner),
                   let welcome = session.welcome(forAdditionAt: entry.sequence) {
                    try enqueuePairwise(tx, .welcome(welcome, groupName: info.name, expirySeconds: info.expirySeconds,
                                                     names: try knownNames(tx, rosters[index].keys)), to: joiner)
                }
                guard case .remove = entry.action, entry.author == identity.publicKey,
                      let key = try keptEpochKey(tx, groupID, epoch: entry.sequence) else { continue }
                for member in rosters[index + 1].keys where member != identity.publicKey && !unreachable.contains(member) {
                    try enqueuePairwise(tx, .epochKey(key), to: member)
                }
            }
            try addLine(tx, .group(GroupID(groupID)), .warning, """
                the relay had lost changes of \(info.name) (it was probably restored from a backup): its route was \
                \(serial - min(routeSerial, serial)) membership change(s) behind. The route was published again and the \
                changes handed to the members again
                """, expirySeconds: 0)
            if !unreachable.isEmpty {
                try addLine(tx, .group(GroupID(groupID)), .warning, """
                    \(unreachable.count) member(s) could not be reached to repair \(info.name) (no keys on the relay)
                    """, expirySeconds: 0)
            }
        }
    }

    /// The roster before each entry and after the last: `rosters(entries)[i]` is who was a member
    /// when entry `i` was made; the last element is the roster after the whole chain.
    static func rosters(_ entries: [MembershipEntry]) -> [[Ed25519.PublicKey: GroupRole]] {
        var roster: [Ed25519.PublicKey: GroupRole] = [:]
        var result: [[Ed25519.PublicKey: GroupRole]] = []
        for entry in entries {
            result.append(roster)
            switch entry.action {
            case .create: roster[entry.author] = .admin
            case let .add(member, role), let .setRole(member, role): roster[member] = role
            case .remove(let member): roster[member] = nil
            case .addDevice, .removeDevice: break
            }
        }
        result.append(roster)
        return result
    }

    // MARK: Keeping this admin's epoch keys

    /// Keeps, sealed, the epoch key of a removal this admin made, to hand it out again if the
    /// relay loses it; forgets those older than `keptEpochKeyLifetime`.
    nonisolated func keepEpochKey(_ tx: StoreTransaction, _ key: GroupEpochKey) throws {
        let now = ClientStore.now()
        try tx.keepEpochKey(key, at: now, forgettingBefore: now - Self.keptEpochKeyLifetime)
    }

    nonisolated func keptEpochKey(_ tx: StoreTransaction, _ groupID: [UInt8], epoch: UInt64) throws -> GroupEpochKey? {
        try tx.keptEpochKey(GroupID(groupID), epoch: epoch, keptSince: ClientStore.now() - Self.keptEpochKeyLifetime)
    }

    // MARK: Entries handed over pairwise

    /// A membership entry an admin handed over a pairwise session (after a restore): applied when
    /// it follows this member's chain; one it already has is ignored.
    nonisolated func receiveRepairedEntry(_ tx: StoreTransaction, _ entry: MembershipEntry, from sender: Ed25519.PublicKey) throws {
        guard let (info, session, routing) = try groupRow(tx, entry.groupID), !info.removed else { return }
        guard session.chain.roster[sender] == .admin || entry.author == sender else {
            noteLater("\(try mention(tx, sender)) sent a change of \(info.name) without being its admin; ignored")
            return
        }
        if entry.sequence < session.chain.nextSequence, session.chain.entries[Int(entry.sequence)] == entry { return }
        try applyMembership(tx, entry, info: info, session: session, routing: routing)
    }

    /// Applies a membership entry from the group or from an admin, telling the conversation.
    nonisolated func applyMembership(_ tx: StoreTransaction, _ entry: MembershipEntry, info: GroupInfo, session: GroupSession,
                                     routing: Ed25519.PrivateKey?) throws {
        var state = session, newInfo = info
        let conversation = Conversation.group(GroupID(entry.groupID))
        do {
            try state.apply(entry)
        } catch {
            try saveGroup(tx, newInfo, state, routing: routing)
            try addLine(tx, conversation, .warning, "a membership change that does not follow the group's signed history was refused: \(error)")
            return
        }
        var keepRouting = routing
        if case .remove(let member) = entry.action, member == identity.publicKey {
            newInfo.removed = true
            keepRouting = nil
        }
        if case .setRole(let member, .member) = entry.action, member == identity.publicKey { keepRouting = nil }
        // This device removed from the group (revoked, §9.14): it reads nothing more there.
        if case .removeDevice(let removed) = entry.action, removed == device.publicKey {
            newInfo.removed = true
            keepRouting = nil
        }
        try saveGroup(tx, newInfo, state, routing: keepRouting)
        try describe(tx, entry, in: conversation)
        // The key of the epoch this entry starts, and its messages, may have come first.
        try applyEarlyEpochKeys(tx, entry.groupID)
        try retryPutAside(tx)
    }

    // MARK: Join requests the relay lost

    /// Keeps the exact messages of a join request until it is answered, to send them again.
    nonisolated func keepJoinRequest(_ tx: StoreTransaction, inviteID: [UInt8], _ messages: [OutgoingMessage]) throws {
        var bytes: [UInt8] = []
        for message in messages {
            let encoded = message.serialized()
            bytes += Self.bigEndian(UInt64(encoded.count)) + encoded
        }
        try setMeta(tx, Self.joinRequestKey(inviteID), bytes)
    }

    static let joinRequestPrefix = "join-request:"
    static func joinRequestKey(_ inviteID: [UInt8]) -> String { joinRequestPrefix + Hex.encode(inviteID) }

    /// Forgets a join request once it is answered; true when one was waiting.
    @discardableResult
    nonisolated func forgetJoinRequest(_ tx: StoreTransaction, inviteID: [UInt8]) throws -> Bool {
        try tx.deleteMeta(Self.joinRequestKey(inviteID))
    }

    /// Forgets the join requests to `inviter`: a welcome from them answered them.
    nonisolated func forgetJoinRequests(_ tx: StoreTransaction, to inviter: Ed25519.PublicKey) throws {
        for key in try joinRequestKeys(tx, to: inviter) { try tx.deleteMeta(key) }
    }

    /// Whether this device asked `inviter` to join a group and has no answer yet.
    nonisolated func hasJoinRequest(_ tx: StoreTransaction, to inviter: Ed25519.PublicKey) throws -> Bool {
        try !joinRequestKeys(tx, to: inviter).isEmpty
    }

    /// The kept join requests sent to any device of `inviter`.
    private nonisolated func joinRequestKeys(_ tx: StoreTransaction, to inviter: Ed25519.PublicKey) throws -> [String] {
        let devices = Set(([inviter] + (try tx.deviceChain(of: inviter)?.chain?.devices.map(\.key) ?? [])).map(DeviceKey.init))
        return try tx.metaKeys(prefix: Self.joinRequestPrefix).filter { key in
            try decodeMessages(try getMeta(tx, key) ?? []).contains { $0.recipients.contains(where: devices.contains) }
        }
    }

    /// Sends every unanswered join request again, with the same message ids and bytes: a relay
    /// that still knows them answers `duplicate` and delivers nothing twice; one restored from a
    /// backup taken before them delivers them now.
    func resendJoinRequests(on client: RelayClient) async throws(ClientError) {
        let waiting = try read { tx in
            try tx.metaKeys(prefix: Self.joinRequestPrefix).map { key in
                try decodeMessages(try getMeta(tx, key) ?? [])
            }
        }
        for messages in waiting {
            for message in messages {
                do {
                    if try await !retrying({ try await client.send(message) }).duplicate {
                        note("the relay had lost your request to join a group (it was probably restored from a backup); it was sent again")
                    }
                } catch {
                    return
                }
            }
        }
    }

    private nonisolated func decodeMessages(_ bytes: [UInt8]) throws -> [OutgoingMessage] {
        var messages: [OutgoingMessage] = [], offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(bytes[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            offset += 8
            guard length <= bytes.count - offset else { throw StoreError.damaged(path: store.path, reason: "a kept join request is cut short") }
            messages.append(try OutgoingMessage(serialized: Array(bytes[offset..<offset + length])))
            offset += length
        }
        return messages
    }
}
