import CaucusIdentity
import CaucusProtocol
import Foundation

/// The requests of an authenticated connection, one handler each. A handler returns the reply
/// body or throws a `RelayError`; anything else thrown becomes INTERNAL (and is logged without
/// payloads). Sends and acknowledgements are answered from their commit's completion; the other
/// requests each run in a task. Either way the reply goes to the connection's reply queue.
extension RelayConnection {
    func start(_ body: WireClientFrame.OneOf_Body, _ context: RequestContext) {
        switch body {
        case .send(let request):
            do {
                relay.accept(try newMessage(request, context)) { outcome in
                    self.complete(context) { try self.sendAccepted(outcome.get()) }
                }
            } catch {
                complete(context) { throw error }
            }
        case .ack(let request):
            do {
                relay.acknowledge(try acknowledgement(request, context)) { removed in
                    self.complete(context) { self.ackDone(try removed.get()) }
                }
            } catch {
                complete(context) { throw error }
            }
        case .publishPrekeys(let request): run(context) { try await self.publishPrekeys(request, context) }
        case .fetchPrekeys(let request): run(context) { try await self.fetchPrekeys(request) }
        case .updateGroupRouting(let request): run(context) { try await self.updateGroupRouting(request) }
        case .putBlobChunk(let request): run(context) { try await self.putBlobChunk(request, context) }
        case .getBlobChunk(let request): run(context) { try await self.getBlobChunk(request) }
        case .postCard(let request): run(context) { try await self.postCard(request) }
        case .openCardInbox(let request): run(context) { try await self.openCardInbox(request, context) }
        case .readCards(let request): run(context) { try await self.readCards(request) }
        case .publishDevices(let request): run(context) { try await self.publishDevices(request) }
        case .fetchDevices(let request): run(context) { try await self.fetchDevices(request) }
        case .putRecoveryBox(let request): run(context) { try await self.putRecoveryBox(request, context) }
        case .getRecoveryBox: run(context) { try await self.getRecoveryBox(context) }
        case .hello, .authenticate:
            complete(context) { throw RelayError(.protocolViolation, "already authenticated") }
        case .ping(let ping):
            complete(context) { .pong(WirePong.with { $0.data = ping.data }) }
        }
    }

    /// Runs a request that is not part of a group commit in a task of its own.
    private func run(_ context: RequestContext, _ handler: @escaping @Sendable () async throws -> WireServerFrame.OneOf_Body) {
        Task(priority: Self.taskPriority) {
            do {
                let body = try await handler()
                self.complete(context) { body }
            } catch {
                self.complete(context) { throw error }
            }
        }
    }

    /// Queues the reply to a request: the body `reply` returns, or the error it throws.
    private func complete(_ context: RequestContext, _ reply: () throws -> WireServerFrame.OneOf_Body) {
        var frame = WireServerFrame()
        frame.requestID = context.id
        do {
            frame.body = try reply()
        } catch let error as RelayError {
            relay.metrics.error(error.code)
            logRefusal(error, device: context.device)
            frame.body = .error(error.wire)
        } catch {
            logger.error("request failed", metadata: ["error": "\(type(of: error))"])
            let refusal = RelayError(.internal, "the relay could not complete the request; retry later")
            relay.metrics.error(refusal.code)
            frame.body = .error(refusal.wire)
        }
        queueReply(frame)
    }

    /// Logs the refusals an operator looks for (a conflict, a full mailbox, a quota reached),
    /// naming the device by its tag only; the message holds no key, id or payload.
    private func logRefusal(_ error: RelayError, device: Data) {
        switch error.code {
        case .conflict, .mailboxFull, .quotaExceeded:
            relay.logger.info("request refused", metadata: [
                "code": "\(error.code.name)", "device": "\(logTag(device))", "reason": "\(error.message)"])
        default:
            break
        }
    }

    // MARK: Checks

    private func check(_ data: Data, length: Int, _ name: String) throws(RelayError) {
        guard data.count == length else {
            throw RelayError(.invalidArgument, "\(name) must be \(length) bytes, not \(data.count)")
        }
    }

    private func expiry(ttl: UInt32, now: Int64) throws(RelayError) -> Int64 {
        let configuration = relay.configuration
        guard ttl <= configuration.maxTTLSeconds else {
            throw RelayError(.invalidArgument, "ttl_seconds may be at most \(configuration.maxTTLSeconds)")
        }
        return now + Int64(ttl == 0 ? configuration.defaultTTLSeconds : ttl) * 1000
    }

    /// Sealed bytes in one Cards reply.
    static let cardReplyBytes = 8 << 20

    private static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Mailboxes

    private func newMessage(_ request: WireSendMessage, _ context: RequestContext) throws(RelayError) -> NewMessage {
        let configuration = relay.configuration
        try check(request.messageID, length: RelayProtocol.messageIDLength, "message_id")
        guard request.payload.count <= configuration.maxPayloadBytes else {
            throw RelayError(.payloadTooLarge, "a payload may hold at most \(configuration.maxPayloadBytes) bytes")
        }
        let target: MessageTarget
        switch (request.recipients.isEmpty, request.groupID.isEmpty) {
        case (false, true):
            guard request.recipients.count <= configuration.maxRecipients else {
                throw RelayError(.invalidArgument, "at most \(configuration.maxRecipients) recipients per message")
            }
            for key in request.recipients { try check(key, length: RelayProtocol.keyLength, "a recipient") }
            target = .devices(request.recipients)
        case (true, false):
            try check(request.groupID, length: RelayProtocol.groupIDLength, "group_id")
            target = .group(request.groupID, sender: context.device)
        default:
            throw RelayError(.invalidArgument, "name either recipients or a group_id")
        }
        let now = Self.nowMilliseconds
        return NewMessage(messageID: request.messageID, target: target, payload: request.payload,
                          acceptedAt: now, expiresAt: try expiry(ttl: request.ttlSeconds, now: now))
    }

    private func sendAccepted(_ outcome: AcceptOutcome) throws(RelayError) -> WireServerFrame.OneOf_Body {
        switch outcome {
        case .duplicate:
            relay.metrics.messagesDuplicate.increment()
            return .sendAccepted(WireSendAccepted.with { $0.duplicate = true })
        case .refused(let error):
            throw error
        case .stored(let recipients, let full):
            relay.metrics.messagesAccepted.increment()
            return .sendAccepted(WireSendAccepted.with {
                $0.recipients = UInt32(recipients.count)
                $0.mailboxFull = full
            })
        }
    }

    private func acknowledgement(_ request: WireAckMessages, _ context: RequestContext) throws(RelayError) -> Acknowledgement {
        guard request.messageIds.count <= RelayProtocol.maxAcknowledgedIDs else {
            throw RelayError(.invalidArgument, "at most \(RelayProtocol.maxAcknowledgedIDs) message ids per acknowledgement")
        }
        for id in request.messageIds { try check(id, length: RelayProtocol.messageIDLength, "a message id") }
        return Acknowledgement(recipient: context.device, messageIDs: request.messageIds)
    }

    private func ackDone(_ removed: Int) -> WireServerFrame.OneOf_Body {
        relay.metrics.acknowledged.increment(by: removed)
        return .ackDone(WireAckDone.with { $0.removed = UInt32(removed) })
    }

    // MARK: Prekeys

    private func publishPrekeys(_ request: WirePublishPrekeys, _ context: RequestContext) async throws -> WireServerFrame.OneOf_Body {
        guard request.signedPrekey.count <= 1_024 else {
            throw RelayError(.payloadTooLarge, "a signed prekey may hold at most 1024 bytes")
        }
        guard request.oneTimePrekeys.count <= relay.configuration.storeLimits.maxOneTimePrekeys else {
            throw RelayError(.invalidArgument, "too many one-time prekeys in one request")
        }
        for key in request.oneTimePrekeys { try check(key.publicKey, length: 32, "a one-time prekey") }
        // The store checks the rest (Protocol.md §7.5): the one-time prekey quota, then the KEM prekeys.
        let counts = try await relay.store.publishPrekeys(
            owner: context.device,
            signedPrekey: request.signedPrekey.isEmpty ? nil : request.signedPrekey,
            oneTime: request.oneTimePrekeys.map { OneTimePrekeyRecord(id: $0.id, publicKey: $0.publicKey) },
            kemLastResort: request.kemLastResortPrekey.isEmpty ? nil : request.kemLastResortPrekey,
            kemOneTime: request.kemOneTimePrekeys)
        return .prekeysPublished(WirePrekeysPublished.with {
            $0.oneTimePrekeys = UInt32(counts.oneTime)
            $0.kemOneTimePrekeys = UInt32(counts.kemOneTime)
        })
    }

    private func fetchPrekeys(_ request: WireFetchPrekeys) async throws -> WireServerFrame.OneOf_Body {
        try check(request.owner, length: RelayProtocol.keyLength, "owner")
        guard let bundle = try await relay.store.takePrekeyBundle(owner: request.owner) else {
            throw RelayError(.notFound, "that device has published no prekeys")
        }
        // Fewer one-time prekeys than the mark warns whether or not this fetch took one, as it
        // always has; one-time KEM prekeys only when it took one, so a device that publishes none
        // is not warned at every fetch.
        let low = relay.configuration.prekeyLowWatermark
        if bundle.remaining < low || (bundle.kemPrekeyIsOneTime && bundle.kemRemaining < low) {
            relay.warnPrekeysLow(owner: request.owner, remaining: bundle.remaining, kemRemaining: bundle.kemRemaining)
        }
        return .prekeyBundle(WirePrekeyBundle.with {
            $0.owner = request.owner
            $0.signedPrekey = bundle.signedPrekey
            if let oneTime = bundle.oneTime {
                $0.oneTimePrekey = WireOneTimePrekey.with { $0.id = oneTime.id; $0.publicKey = oneTime.publicKey }
            }
            if let kem = bundle.kemPrekey {
                $0.kemPrekey = kem
                $0.kemPrekeyOneTime = bundle.kemPrekeyIsOneTime
            }
        })
    }

    // MARK: Group routing

    private func updateGroupRouting(_ request: WireUpdateGroupRouting) async throws -> WireServerFrame.OneOf_Body {
        try check(request.groupID, length: RelayProtocol.groupIDLength, "group_id")
        try check(request.adminKey, length: RelayProtocol.keyLength, "admin_key")
        try check(request.signature, length: RelayProtocol.signatureLength, "signature")
        guard request.serial >= 1 else { throw RelayError(.invalidArgument, "serial starts at 1") }
        guard request.add.count + request.remove.count <= 20_000 else {
            throw RelayError(.invalidArgument, "at most 20000 devices added or removed per change")
        }
        for key in request.add + request.remove { try check(key, length: RelayProtocol.keyLength, "a device key") }
        let signer: Data
        let existing = try await relay.store.groupRoute(request.groupID)
        if let route = existing {
            try StoreRules.checkSerial(request.serial, current: route.serial)
            signer = route.adminKey
        } else if request.serial == 1 {
            signer = request.adminKey
        } else {
            throw RelayError(.notFound, "no such group route; create it with serial 1")
        }
        let statement = RelayProtocol.groupRoutingStatement(
            groupID: request.groupID, serial: request.serial, adminKey: request.adminKey,
            add: request.add, remove: request.remove)
        guard Self.verify(key: signer, signature: request.signature, statement: statement) else {
            throw RelayError(.badSignature, "the change is not signed by the group's routing admin key")
        }
        if let route = existing, route.serial == request.serial, route.adminKey == request.adminKey,
           request.add.isEmpty, request.remove.isEmpty {
            // A bare re-assertion of the current serial changes nothing: answered without a write.
            return .groupRoutingUpdated(WireGroupRoutingUpdated.with {
                $0.serial = route.serial
                $0.devices = UInt32(route.deviceCount)
                $0.previousSerial = route.serial
            })
        }
        let route = try await relay.store.updateGroupRoute(GroupRouteUpdate(
            groupID: request.groupID, serial: request.serial, adminKey: request.adminKey,
            add: request.add, remove: request.remove))
        return .groupRoutingUpdated(WireGroupRoutingUpdated.with {
            $0.serial = route.serial
            $0.devices = UInt32(route.deviceCount)
            $0.previousSerial = route.previousSerial
        })
    }

    // MARK: Blobs

    private func putBlobChunk(_ request: WirePutBlobChunk, _ context: RequestContext) async throws -> WireServerFrame.OneOf_Body {
        try check(request.blobID, length: RelayProtocol.blobIDLength, "blob_id")
        guard request.data.count <= relay.configuration.maxBlobChunkBytes else {
            throw RelayError(.payloadTooLarge, "a chunk may hold at most \(relay.configuration.maxBlobChunkBytes) bytes")
        }
        let now = Self.nowMilliseconds
        let state = try await relay.store.putBlobChunk(BlobChunkWrite(
            owner: context.owner, blobID: request.blobID, offset: request.offset, data: request.data,
            last: request.last, createdAt: now, expiresAt: try expiry(ttl: request.ttlSeconds, now: now)))
        return .blobChunkStored(WireBlobChunkStored.with { $0.size = state.size; $0.complete = state.complete })
    }

    private func getBlobChunk(_ request: WireGetBlobChunk) async throws -> WireServerFrame.OneOf_Body {
        try check(request.blobID, length: RelayProtocol.blobIDLength, "blob_id")
        let maxChunk = relay.configuration.maxBlobChunkBytes
        guard request.length > 0, request.length <= maxChunk else {
            throw RelayError(.invalidArgument, "length must be 1 to \(maxChunk)")
        }
        let read = try await relay.store.readBlob(blobID: request.blobID, offset: request.offset, length: Int(request.length))
        return .blobChunk(WireBlobChunk.with {
            $0.offset = request.offset
            $0.data = read.data
            $0.totalSize = read.totalSize
        })
    }

    // MARK: Card inboxes

    private func postCard(_ request: WirePostCard) async throws -> WireServerFrame.OneOf_Body {
        try check(request.inboxKey, length: RelayProtocol.keyLength, "inbox_key")
        try check(request.itemID, length: RelayProtocol.cardItemIDLength, "item_id")
        guard !request.sealed.isEmpty else { throw RelayError(.invalidArgument, "sealed is empty: a sealed card holds at least 1 byte") }
        guard request.sealed.count <= relay.configuration.maxPayloadBytes else {
            throw RelayError(.payloadTooLarge, "a sealed card holds 1 to \(relay.configuration.maxPayloadBytes) bytes")
        }
        let fresh = try await relay.store.postCard(inboxKey: request.inboxKey, itemID: request.itemID,
                                                   sealed: request.sealed, postedAt: Self.nowMilliseconds)
        return .cardPosted(WireCardPosted.with { $0.duplicate = !fresh })
    }

    private func openCardInbox(_ request: WireOpenCardInbox, _ context: RequestContext) async throws -> WireServerFrame.OneOf_Body {
        try check(request.inboxKey, length: RelayProtocol.keyLength, "inbox_key")
        try check(request.signature, length: RelayProtocol.signatureLength, "signature")
        let statement = RelayProtocol.cardInboxOpenStatement(
            relayAddress: context.address, challenge: context.challenge, inboxKey: request.inboxKey)
        guard Self.verify(key: request.inboxKey, signature: request.signature, statement: statement) else {
            throw RelayError(.badSignature, "the signature does not verify with inbox_key for this connection")
        }
        openInbox(request.inboxKey)
        let count = try await relay.store.cardCount(inboxKey: request.inboxKey)
        return .cardInboxOpened(WireCardInboxOpened.with { $0.items = UInt64(count) })
    }

    private func readCards(_ request: WireReadCards) async throws -> WireServerFrame.OneOf_Body {
        try check(request.inboxKey, length: RelayProtocol.keyLength, "inbox_key")
        guard hasOpened(request.inboxKey) else {
            throw RelayError(.forbidden, "open the inbox on this connection first (OpenCardInbox)")
        }
        let limit = request.limit == 0 || request.limit > 1_000 ? 1_000 : Int(request.limit)
        let page = try await relay.store.readCards(inboxKey: request.inboxKey,
                                                   afterSequence: Int64(clamping: request.afterSequence), limit: limit)
        // A reply carries at most `cardReplyBytes` of sealed items (always at least one).
        var items: [WireCardItem] = []
        var bytes = 0
        for item in page.items {
            if !items.isEmpty && bytes + item.sealed.count > Self.cardReplyBytes { break }
            bytes += item.sealed.count
            items.append(WireCardItem.with {
                $0.sequence = UInt64(item.sequence)
                $0.itemID = item.itemID
                $0.sealed = item.sealed
                $0.postedAtMs = UInt64(item.postedAt)
            })
        }
        let truncated = items.count < page.items.count
        return .cards(WireCards.with {
            $0.items = items
            $0.more = page.more || truncated
        })
    }

    // MARK: Devices

    /// Stores an identity's device chain after checking every entry (Protocol.md §2.2, §7.8), and
    /// closes at once the connections of the devices it revokes.
    private func publishDevices(_ request: WirePublishDevices) async throws -> WireServerFrame.OneOf_Body {
        guard !request.entries.isEmpty, request.entries.count <= DeviceEntry.maximumEntries else {
            throw RelayError(.invalidArgument, "a device chain has 1 to \(DeviceEntry.maximumEntries) entries")
        }
        let chain: DeviceChain
        do {
            chain = try DeviceChain.verify(encoded: request.entries.map { Array($0) })
        } catch .badSignature(let sequence), .badDeviceSignature(let sequence) {
            throw RelayError(.badSignature, "device entry \(sequence) has a signature that does not verify")
        } catch {
            throw RelayError(.invalidArgument, "the device chain does not verify: \(error)")
        }
        let published = try await relay.store.publishDevices(PublishedDeviceChain(chain))
        for device in published.revoked { relay.closeConnections(of: device, banned: false) }
        return .devicesPublished(WireDevicesPublished.with { $0.entries = UInt32(published.entries) })
    }

    private func fetchDevices(_ request: WireFetchDevices) async throws -> WireServerFrame.OneOf_Body {
        try check(request.identity, length: RelayProtocol.keyLength, "identity")
        let entries = try await relay.store.deviceChain(identity: request.identity)
        return .devices(WireDevices.with {
            $0.identity = request.identity
            $0.entries = entries
        })
    }

    // MARK: Recovery boxes

    /// Keeps a recovery box for a paper key of the sender's own identity (Protocol.md §7.8).
    private func putRecoveryBox(_ request: WirePutRecoveryBox, _ context: RequestContext) async throws -> WireServerFrame.OneOf_Body {
        try check(request.paperKey, length: RelayProtocol.keyLength, "paper_key")
        guard !request.sealed.isEmpty else { throw RelayError(.invalidArgument, "a recovery box holds at least one byte") }
        guard request.sealed.count <= RelayProtocol.maxRecoveryBoxBytes else {
            throw RelayError(.payloadTooLarge, "a recovery box is at most \(RelayProtocol.maxRecoveryBoxBytes) bytes")
        }
        guard let status = try await relay.store.deviceStatus(request.paperKey), status.identity == context.owner,
              status.kind == DeviceKind.paper.rawValue, !status.revoked
        else { throw RelayError(.forbidden, "the key is not an active paper key of your identity's device chain") }
        try await relay.store.putRecoveryBox(paperKey: request.paperKey, sealed: request.sealed, at: Self.nowMilliseconds)
        return .recoveryBoxStored(WireRecoveryBoxStored())
    }

    /// The recovery box of the paper key this connection authenticated with.
    private func getRecoveryBox(_ context: RequestContext) async throws -> WireServerFrame.OneOf_Body {
        guard let status = try await relay.store.deviceStatus(context.device), status.kind == DeviceKind.paper.rawValue, !status.revoked else {
            throw RelayError(.forbidden, "only a paper key fetches its recovery box, on a connection it authenticated")
        }
        guard let sealed = try await relay.store.recoveryBox(paperKey: context.device) else {
            throw RelayError(.notFound, "no recovery box is kept for this paper key")
        }
        return .recoveryBox(WireRecoveryBox.with { $0.sealed = sealed })
    }
}
