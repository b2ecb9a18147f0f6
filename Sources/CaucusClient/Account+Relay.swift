import CaucusClientStore
import CaucusCrypto
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation
import NIOSSL

/// The relay connection: connecting, receiving pushes, the outbox, and staying connected.
extension Account {
    /// The open connection, made (and prekeys topped up, outbox sent) when there is none. Callers
    /// that arrive while a connection is being made wait for that one.
    @discardableResult
    ///
    /// With `readingMailboxAfresh` (a sync), a connection whose `QueueEmpty` has already been
    /// handled is replaced: the relay says `QueueEmpty` once per connection, after reading the
    /// mailbox at login (Protocol.md §7.4), so only a new connection shows that what it accepted
    /// since has been handled, not merely pushed on its way.
    func connected(readingMailboxAfresh: Bool = false) async throws(ClientError) -> RelayClient {
        if let connection, connection.isOpen {
            if unstored > 0 {
                // What this connection could not store comes again only on a new one.
                await connection.close()
            } else if readingMailboxAfresh, queueEmptyOn === connection {
                await waitForAcknowledgements()
                await connection.close()
            } else {
                return connection
            }
        }
        if let connecting { return try await connecting.value.get() }
        let attempt = Task { () async -> Result<RelayClient, ClientError> in
            do throws(ClientError) { return .success(try await self.connect()) } catch { return .failure(error) }
        }
        connecting = attempt
        defer { connecting = nil }
        return try await attempt.value.get()
    }

    /// An authenticated connection to the first relay, under `key` (the identity, or a throwaway
    /// one for card posts); nothing is set up on it.
    func dial(as key: Ed25519.PrivateKey) async throws(ClientError) -> RelayClient {
        guard let url = try relays().first else { throw ClientError.noRelay }
        return try await dial(url, as: key)
    }

    /// An authenticated connection to the relay at `url`: trusting the CA given for this command
    /// (`--ca-file`) or else the one kept with the relay.
    func dial(_ url: String, as key: Ed25519.PrivateKey) async throws(ClientError) -> RelayClient {
        var trust = tls
        if trust == nil, let caFile = try caFile(of: url) {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(caFile)
            trust = configuration
        }
        let proxy = try proxy(for: url)
        do {
            return try await RelayClient.connect(url: url, deviceKey: key, tls: trust, proxy: proxy, timeout: relayTimeouts.handshake,
                                                 requestTimeout: relayTimeouts.request)
        } catch let error as RelayError where error.code == .forbidden && error.message == Self.revokedMessage {
            throw ClientError.relayUnreachable(url: url, reason: """
                this computer is no longer one of your devices: it was revoked from another of them, so the relay \
                refuses it and it sends and receives nothing more (what it already holds stays readable here)
                """)
        } catch {
            throw ClientError.relayUnreachable(url: url, reason: Self.reason(error))
        }
    }

    /// The message of the relay's `FORBIDDEN` to a device its owner revoked (Protocol.md §7.3).
    static let revokedMessage = "this device was revoked by its owner"

    /// Checks that the relay at `url` answers and takes this identity (a connection is made and
    /// closed); the reason when it does not.
    public func checkRelay(_ url: String) async -> String? {
        do {
            let client = try await dial(try Self.normalizedRelay(url), as: device)
            await client.close()
            return nil
        } catch {
            return error.description
        }
    }

    private func connect() async throws(ClientError) -> RelayClient {
        let client = try await dial(as: device)
        let url = client.address
        if let old = connection { await old.close() }
        connection = client
        startCompanion()
        handled = 0
        unstored = 0
        storeFailed = false
        unstoredSince = nil
        pushTask?.cancel()
        pushTask = Task { [weak self] in
            for await push in client.pushes {
                await self?.handle(push, from: client)
            }
            await self?.pushesEnded(on: client)
        }
        do {
            try await publishPrekeys(on: client, remaining: client.oneTimePrekeysAtLogin ?? 0,
                                     kemRemaining: client.kemOneTimePrekeysAtLogin ?? 0)
        } catch {
            throw ClientError.relayUnreachable(url: url, reason: Self.reason(error))
        }
        await republishOwnChain(on: client)
        // The recovery box follows new groups and contacts (§9.15); not keeping it fails nothing else.
        do { try await keepRecoveryBox(on: client, always: false) } catch { note("\(error)") }
        try await flushOutbox()
        try await checkRoutes(on: client)
        try await resendJoinRequests(on: client)
        try await flushOutbox()
        return client
    }

    /// Makes a request, waiting and trying again (up to 100 times) while the relay answers
    /// RATE_LIMITED, as long as it asks.
    @discardableResult
    func retrying<T>(_ request: () async throws -> T) async throws -> T {
        var attempts = 0
        while true {
            do {
                return try await request()
            } catch let error as RelayError where error.code == .rateLimited && attempts < 100 {
                attempts += 1
                try await Task.sleep(for: .milliseconds(max(10, Int(error.retryAfterMilliseconds))))
            }
        }
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as RelayClientError:
            if case .proxyFailed(let proxy, let why) = error { return describeProxyFailure(proxy: proxy, why) }
            guard case .connectionClosed(let why) = error else { return error.description }
            return describeClosed(why)
        case let error as RelayError: return error.description
        case let error as ClientError: return error.description
        default: return "\(error)"
        }
    }

    /// A sentence that names the fix for why a connection did not open or ended, from the
    /// transport's own text (NIO's and NIOSSL's errors are not for people).
    /// A sentence for a connection through a SOCKS5 proxy that did not open.
    static func describeProxyFailure(proxy: String, _ why: String) -> String {
        let text = why.lowercased()
        let cause: String
        if text.contains("socks") {
            // RFC 1928's reply codes, as NIO's SOCKS client reports them ("SOCKSServerReply(value: 5)").
            let replies = [1: "general failure", 2: "not allowed by its rules", 3: "network unreachable", 4: "host unreachable or unknown",
                           5: "connection refused by the relay's host", 6: "timed out", 7: "command not supported",
                           8: "address type not supported"]
            let code = text.range(of: "value: ").flatMap { Int(text[$0.upperBound...].prefix { $0.isNumber }) }
            let said = code.flatMap { replies[$0] }.map { "it answered: \($0)" } ?? why
            cause = "the proxy could not reach the relay, \(said); check the relay's address, and that the proxy (Tor) is connected"
        } else if text.contains("refused") {
            cause = "nothing answers at the proxy's address; is Tor (or the proxy) running there"
        } else {
            cause = describeClosed(why)
        }
        return "no connection through the proxy \(proxy) (\(cause)); nothing was sent, since caucus never connects directly while a proxy is set"
    }

    static func describeClosed(_ why: String) -> String {
        let text = why.lowercased()
        if text.contains("niossl") || text.contains("handshakefailed") || text.contains("certificate") {
            return "the relay's TLS certificate is not trusted on this computer. If your union made its own, "
                + "give its CA certificate once: `caucus relay add URL --ca-file FILE`"
        }
        if text.contains("invalidresponse") || text.contains("invalid http") || text.contains("upgrade")
            || text.contains("invalidupgrade") || text.contains("badresponse") {
            return "something answers there, but not as a Caucus relay: if the relay uses TLS its address starts with wss://; "
                + "else check the host and port"
        }
        if text.contains("refused") { return "connection refused: is the relay running, and is this its port?" }
        if text.contains("within") {
            return text.contains("ws://") ? why + " (a relay that uses TLS needs an address starting with wss://)" : why
        }
        if text.contains("connect") || text.contains("reset") || text.contains("eof") {
            return "no answer, or the connection was cut: is the relay running? A relay that uses TLS needs an address starting with wss://"
        }
        return why
    }

    /// Connects, receives everything waiting on the relay, and sends what is queued. Returns how
    /// many deliveries were handled.
    @discardableResult
    public func sync() async throws(ClientError) -> Int {
        try await sync(readingMailboxAfresh: true)
    }

    /// `sync()`; without `readingMailboxAfresh`, on the open connection as it is (a loop that
    /// syncs every few hundred milliseconds, where a message still on its way is taken in by the
    /// next turn).
    @discardableResult
    func sync(readingMailboxAfresh: Bool) async throws(ClientError) -> Int {
        let client = try await connected(readingMailboxAfresh: readingMailboxAfresh)
        await waitForBacklog(on: client)
        await waitForAcknowledgements()
        await askToResend()
        try await flushOutbox()
        return handled
    }

    /// Waits until the relay's `QueueEmpty` on `client` has been handled: pushes are handled in
    /// order, so by then every delivery the mailbox held at login has been (Protocol.md §7.4).
    /// A relay that does not say so within the request bound is waited for no longer; the
    /// command goes on with what arrived (§7.13).
    func waitForBacklog(on client: RelayClient) async {
        guard client.isOpen, queueEmptyOn !== client, pushesEndedOn !== client else { return }
        let waiter = nextBacklogWaiter
        nextBacklogWaiter += 1
        let bound = relayTimeouts.request
        let timer = Task {
            try? await Task.sleep(for: bound)
            self.endBacklogWait(waiter, timedOut: "the relay \(client.address) did not say within \(bound.secondsText) that it had sent what it held")
        }
        await withCheckedContinuation { backlogWaiters[waiter] = (client, $0) }
        timer.cancel()
    }

    private func endBacklogWait(_ waiter: Int, timedOut: String) {
        guard let (_, continuation) = backlogWaiters.removeValue(forKey: waiter) else { return }
        note(timedOut + "; more messages may arrive later")
        continuation.resume()
    }

    /// Ends the waits for `client`'s backlog: its `QueueEmpty` was handled, or it is gone.
    private func endBacklogWaits(on client: RelayClient) {
        for (waiter, entry) in backlogWaiters where entry.client === client {
            backlogWaiters[waiter] = nil
            entry.continuation.resume()
        }
    }

    private func pushesEnded(on client: RelayClient) {
        pushesEndedOn = client
        endBacklogWaits(on: client)
        changed()
    }

    /// Waits until the next `changed()` (a delivery handled, an outbox flush ended, a connection's
    /// pushes ended), or until `deadline` when there is one. Callers look again at what they wait
    /// for after it returns.
    /// A cancelled task's wait ends too.
    func waitForChange(until deadline: ContinuousClock.Instant?) async {
        let waiter = nextChangeWaiter
        nextChangeWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard !Task.isCancelled else { return continuation.resume() }
                let timer = deadline.map { deadline in
                    Task {
                        try? await Task.sleep(until: deadline)
                        self.endChangeWait(waiter)
                    }
                }
                changeWaiters[waiter] = (continuation, timer)
            }
        } onCancel: {
            // Reaches the actor only once the wait is registered, or ended by the check above.
            Task { await self.endChangeWait(waiter) }
        }
    }

    private func endChangeWait(_ waiter: Int) {
        guard let (continuation, timer) = changeWaiters.removeValue(forKey: waiter) else { return }
        timer?.cancel()
        continuation.resume()
    }

    /// Ends every `waitForChange`.
    func changed() {
        let waiters = changeWaiters
        changeWaiters = [:]
        for (continuation, timer) in waiters.values {
            timer?.cancel()
            continuation.resume()
        }
    }

    /// Connects and waits until what the relay held at login has been handled, so that a message
    /// about to be sent is encrypted with the latest keys and timer.
    func catchUp() async throws(ClientError) {
        await waitForBacklog(on: try await connected())
    }

    /// Handles one push: deliveries are opened, stored and then acknowledged.
    func handle(_ push: RelayClient.Push, from client: RelayClient) async {
        switch push {
        case .delivery(let delivery):
            // After one that could not be stored, storing a later one would show it first.
            guard !storeFailed else {
                unstored += 1
                return
            }
            receiving += 1
            defer {
                receiving -= 1
                changed()
            }
            await learnSenderDevice(delivery)
            let opened: Bool
            do {
                opened = try receive(delivery)
            } catch {
                storeFailed = true
                // Not acknowledged: the relay keeps it and pushes it again on the next connection.
                if unstored == 0 {
                    unstoredSince = .now
                    note("could not store a message from the relay (it keeps it and will send it again): \(error)")
                }
                unstored += 1
                return
            }
            guard opened else {
                // This copy failed to open: not acknowledged, so the relay's next copy (pushed on the
                // next connection) gets its chance (§9.6).
                if unstored == 0 { unstoredSince = .now }
                unstored += 1
                handled += 1
                return
            }
            // Stored: if the acknowledgement is lost, the redelivery is recognised and dropped.
            acknowledge(delivery.messageID)
            handled += 1
            try? await flushOutbox()
        case .queueEmpty:
            queueEmptyOn = client
            endBacklogWaits(on: client)
        case .prekeysLow(let remaining, let kemRemaining):
            try? await publishPrekeys(on: client, remaining: remaining, kemRemaining: kemRemaining)
        case .error(let error):
            note(error.code == .shuttingDown ? "the relay is shutting down" : "the relay reported: \(error)")
        }
    }

    /// Acknowledges a stored delivery in batches (Protocol.md §9.6): one `AckMessages` at a time,
    /// carrying every id stored while the ids gathered (`ackGathering`) and while the one before
    /// waited for its answer, up to the relay's limit per request. An acknowledgement holds for
    /// the device, so it goes on whichever connection is open; with none, the ids are dropped and
    /// the relay's redelivery is recognised and acknowledged then.
    func acknowledge(_ messageID: MessageID) {
        unacknowledged.append(messageID)
        guard acknowledging == nil else { return }
        acknowledging = Task {
            await self.sendAcknowledgements()
        }
    }

    /// Waits for the acknowledgements being sent, at most `ackWaitLimit`: a relay that stops
    /// answering must not hold a command. Those not answered are pushed again next time and
    /// recognised then (Protocol.md §9.6).
    func waitForAcknowledgements() async {
        guard let sending = acknowledging else { return }
        let (ended, finish) = AsyncStream<Void>.makeStream()
        let timer = Task {
            try? await Task.sleep(for: Self.ackWaitLimit)
            finish.finish()
        }
        Task {
            await sending.value
            finish.finish()
        }
        for await _ in ended {}
        timer.cancel()
    }

    private func sendAcknowledgements() async {
        while !unacknowledged.isEmpty {
            // Storing a delivery takes about as long as an acknowledgement's round trip (both
            // sync a disk), so without a pause a backlog would go out nearly one id per request.
            if unacknowledged.count < Self.ackBatchTarget { try? await Task.sleep(for: Self.ackGathering) }
            let batch = Array(unacknowledged.prefix(RelayProtocol.maxAcknowledgedIDs))
            unacknowledged.removeFirst(batch.count)
            guard let client = connection, client.isOpen else { continue }
            _ = try? await retrying { try await client.acknowledge(batch) }
        }
        acknowledging = nil
    }

    /// A problem worth telling the user that belongs to no conversation.
    func note(_ text: String) {
        problems.append(text)
        observer?(.connection(text))
    }

    // MARK: Outbox

    /// Queues a message for the relay in the transaction that produced it.
    nonisolated func enqueue(_ tx: StoreTransaction, _ message: OutgoingMessage) throws {
        let now = ClientStore.now()
        try tx.enqueue(.send, id: message.messageID.bytes, message.serialized(), at: now,
                       expiresAt: message.ttlSeconds > 0 ? now + Int64(message.ttlSeconds) * 1000 : nil)
    }

    /// Queues a routing change in the transaction that produced it; returns its outbox id.
    @discardableResult
    nonisolated func enqueue(_ tx: StoreTransaction, _ update: RouteChange, kind: OutboxKind = .route) throws -> Data {
        let id = Random.bytes(16)
        try tx.enqueue(kind, id: id, update.serialized(), at: ClientStore.now(), expiresAt: nil)
        return Data(id)
    }

    /// How many requests wait in the outbox.
    public func queuedCount() throws(ClientError) -> Int {
        try read { tx in try tx.outboxCount() }
    }

    /// Sends the outbox in order; stops at the first failure to reach the relay (the rest stays
    /// queued). A route change that finds the relay's route behind the chain repairs the group
    /// (§9.10) and sends what the repair queued.
    func flushOutbox() async throws(ClientError) {
        var behind: [[UInt8]: UInt64] = [:]
        try await sendOutbox(routesBehind: &behind)
        guard !behind.isEmpty else { return }
        for (group, serial) in behind { try await repairGroup(group, routeSerial: serial) }
        var again: [[UInt8]: UInt64] = [:]
        try await sendOutbox(routesBehind: &again)
    }

    private func sendOutbox(routesBehind behind: inout [[UInt8]: UInt64]) async throws(ClientError) {
        // One flush at a time: two would send the same entry twice.
        while flushing { await waitForChange(until: nil) }
        guard let client = connection, client.isOpen else { return }
        outboxHalt = nil
        flushing = true
        defer {
            flushing = false
            changed()
        }
        while true {
            guard let entry = try read({ tx in try tx.firstOutboxEntry() }) else { return }
            let (id, kind, body) = (entry.id, entry.kind, entry.body)
            do {
                switch kind {
                case .send:
                    var message = try OutgoingMessage(serialized: body)
                    // A timer longer than the relay keeps anything: the relay's limit applies there.
                    if let limit = client.limits?.maxTTLSeconds, limit > 0, message.ttlSeconds > limit {
                        message.ttlSeconds = limit
                    }
                    let accepted = try await retrying { try await client.send(message) }
                    if !accepted.mailboxFull.isEmpty {
                        note("\(accepted.mailboxFull.count) recipient(s) have a full mailbox on the relay and will not get a message")
                    }
                case .route, .reassert:
                    let update = try RouteChange(serialized: body)
                    let updated = try await retrying { try await client.updateRoute(update) }
                    if kind == .route, updated.previousSerial == update.serial {
                        // Another change took this serial first: ours only re-asserted the route.
                        let refusal = "another change of the group's route took serial \(update.serial) first"
                        routeRefusals[id] = refusal
                        note(Self.routeAheadWarning("a group", refusal))
                    } else if kind == .route, updated.previousSerial + 1 < update.serial {
                        behind[update.groupID.bytes] = min(behind[update.groupID.bytes] ?? .max, updated.previousSerial)
                    }
                }
            } catch let error as RelayError {
                switch error.code {
                case .rateLimited, .shuttingDown, .internal:
                    return
                case .conflict where kind != .send:
                    routeRefusals[id] = error.description
                    note(Self.routeAheadWarning("a group", error.description))
                default:
                    if kind == .send { sendRefusals[MessageID(id)] = error.description } else { routeRefusals[id] = error.description }
                    note("the relay refused a queued \(kind == .send ? "message" : "group change"): \(error)")
                }
            } catch {
                outboxHalt = ClientError.relayUnreachable(url: client.address, reason: Self.reason(error)).description
                return
            }
            try write { tx in try tx.removeOutboxEntry(entry) }
        }
    }

    // MARK: Staying connected

    /// Keeps a connection open until the task is cancelled, reconnecting with exponential
    /// backoff (1 s doubling to 30 s, with jitter) and telling the observer how it goes.
    public func stayConnected() async {
        var delay = 1.0
        while !Task.isCancelled {
            do {
                let client = try await connected()
                observer?(.connection("connected to \(client.address)"))
                delay = 1.0
                while client.isOpen, !Task.isCancelled {
                    if resendWanted.withLock({ wanted in defer { wanted = false }; return wanted }) { await askToResend() }
                    if let since = unstoredSince, ContinuousClock.now - since >= retryUnstoredAfter, connection === client {
                        observer?(.connection("\(unstored) message(s) could not be stored or opened; reconnecting to receive them again"))
                        await client.close()
                        break
                    }
                    // Until a delivery is handled, the connection ends or an unstored one is due.
                    await waitForChange(until: unstoredSince.map { $0 + retryUnstoredAfter })
                }
                if Task.isCancelled { return }
                if unstored > 0, connection === client { continue }
                observer?(.connection("lost the relay: \(client.closeReason ?? "closed")"))
            } catch {
                observer?(.connection("\(error.description); retrying in \(Int(delay)) s"))
            }
            try? await Task.sleep(for: .seconds(delay * Double.random(in: 0.8...1.2)))
            delay = min(delay * 2, 30)
        }
    }
}
