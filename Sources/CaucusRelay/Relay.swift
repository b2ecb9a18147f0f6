import CaucusIdentity
import CaucusLock
import CaucusProtocol
import Foundation
import Logging
import Synchronization

/// The relay engine, independent of the network: it answers wire frames for connections, keeps
/// track of who is connected, commits through the store and pushes deliveries. `RelayServer`
/// puts it behind WebSocket; it never holds a key that opens a message or a card.
public final class Relay: Sendable {
    public let configuration: RelayConfiguration
    let store: any RelayStore
    let hub = DeliveryHub()
    let metrics = RelayMetrics()
    let limiter: RateLimiter
    let challenges: ChallengeRegistry
    let logger: Logger
    private let committer: GroupCommitter
    private let addresses: Locked<[String]>
    private let connections = Locked<[ObjectIdentifier: RelayConnection]>([:])
    private let shuttingDown = Atomic<Bool>(false)
    /// When `/metrics` last read the store's figures.
    private let storeReading = Throttle()

    public init(configuration: RelayConfiguration, store: any RelayStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.limiter = RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst)
        self.challenges = ChallengeRegistry(lifetime: configuration.challengeLifetimeSeconds)
        self.addresses = Locked(configuration.publicAddresses.compactMap(RelayProtocol.normalizedAddress))
        let hub = self.hub
        let metrics = self.metrics
        // With a shared store, a delivery committed here must not be pushed ahead of one another
        // instance committed just before for the same device (its notice may still be on its
        // way): the push loops read the store, whose per-device order is the commit order.
        let shared = store is any SharedRelayStore
        self.committer = GroupCommitter(store: store, maxBatch: configuration.maxCommitBatch) { messages, outcomes, size, duration in
            metrics.commitBatch.record(size)
            let (seconds, attoseconds) = duration.components
            metrics.commitSeconds.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            for (message, outcome) in zip(messages, outcomes) {
                guard case .stored(let recipients, _) = outcome else { continue }
                metrics.deliveriesStored.increment(by: recipients.count)
                if shared {
                    hub.storeChanged(for: recipients.map(\.key))
                    continue
                }
                let groupID: Data? = if case .group(let id, _) = message.target { id } else { nil }
                for recipient in recipients {
                    hub.deliver(to: recipient.key, StoredDelivery(
                        sequence: recipient.sequence, messageID: message.messageID, payload: message.payload,
                        groupID: groupID, acceptedAt: message.acceptedAt, expiresAt: message.expiresAt))
                }
            }
        }
    }

    /// The addresses clients may sign; the first is announced in Welcome.
    public var publicAddresses: [String] { addresses.withLock { $0 } }

    /// Sets the addresses when none were configured (the listen address is known only once bound).
    public func useDefaultAddress(_ address: String) {
        addresses.withLock { list in
            if list.isEmpty, let normalized = RelayProtocol.normalizedAddress(address) { list = [normalized] }
        }
    }

    /// The Prometheus text of the relay's metrics with the store's figures, read from the store
    /// when the last reading is older than `storeStatisticsSeconds` (so that scrapes, however
    /// frequent, cost the store one read per interval). A store that cannot say, or fails to,
    /// leaves the last figures (a failure is counted and logged).
    public func metricsTextWithStore() async -> String {
        if let admin = store as? any RelayAdminStore, storeReading.claim(every: configuration.storeStatisticsSeconds) {
            do {
                let statistics = try await admin.statistics()
                metrics.store.record(statistics, now: Int64(Date().timeIntervalSince1970 * 1000))
            } catch {
                metrics.store.readFailures.increment()
                logger.warning("cannot read the store's figures for /metrics", metadata: ["error": "\(error)"])
            }
        }
        return metricsText()
    }

    /// The Prometheus text of the relay's metrics (without reading the store).
    public func metricsText() -> String {
        metrics.connections.record(connections.withLock { $0.count })
        return metrics.render()
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    // MARK: Connections

    /// Registers a new connection; nil when the connection limit is reached.
    func open(_ connection: RelayConnection) -> Bool {
        connections.withLock { connections -> Bool in
            guard connections.count < configuration.maxConnections else { return false }
            connections[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func closed(_ connection: RelayConnection) {
        connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    var connectionCount: Int { connections.withLock { $0.count } }

    /// Stops taking requests, lets those in progress finish and their commits land, tells every
    /// client, and closes the connections.
    public func shutdown() async {
        guard !shuttingDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("relay shutting down", metadata: ["connections": "\(connectionCount)"])
        let open = connections.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for connection in open { group.addTask { await connection.shutdown() } }
        }
        await committer.drain()
        logger.info("relay stopped taking requests; all accepted writes are committed")
    }

    /// Removes what has expired; run periodically by `RelayServer`.
    public func sweep(now: Date = Date()) async {
        do {
            let counts = try await store.expire(now: Int64(now.timeIntervalSince1970 * 1000))
            metrics.expired.increment(by: counts.messages)
            if counts.messages + counts.blobs > 0 {
                logger.info("expired", metadata: ["messages": "\(counts.messages)", "blobs": "\(counts.blobs)"])
            }
        } catch is CancellationError {
            // The relay is stopping (or failed to start): the next run sweeps.
        } catch {
            logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
        }
        limiter.prune()
        challenges.prune()
    }

    /// Closes the connections of devices banned, or revoked by their owners, since they
    /// authenticated; run periodically by `RelayServer`. Reads the store only while some device is
    /// connected. (A revocation published to this relay closes its connections at once; this
    /// catches those published to another relay on the same store.)
    func closeBannedConnections() async {
        let connected = Array(hub.connectedDevices)
        guard !connected.isEmpty else { return }
        let banned: Set<Data>, revoked: Set<Data>
        do {
            banned = Set(try await store.bannedDevices().map(\.key))
            revoked = try await store.revokedDevices(among: connected)
        } catch is CancellationError {
            return
        } catch {
            logger.warning("reading the bans failed", metadata: ["error": "\(type(of: error))"])
            return
        }
        for device in banned.intersection(connected) { closeConnections(of: device, banned: true) }
        for device in revoked.subtracting(banned) { closeConnections(of: device, banned: false) }
    }

    /// Closes every connection of `device`, saying why.
    func closeConnections(of device: Data, banned: Bool) {
        let open = connections.withLock { Array($0.values) }
        for connection in open where connection.device == device {
            logger.info(banned ? "connection closed: device banned" : "connection closed: device revoked", metadata: [
                "code": "\(WireErrorCode.forbidden.name)", "device": "\(logTag(device))"])
            if banned { connection.closeBanned() } else { connection.closeRevoked() }
        }
    }

    // MARK: Writes through the group committer

    func accept(_ message: NewMessage, completion: @escaping @Sendable (Result<AcceptOutcome, any Error>) -> Void) {
        committer.accept(message, completion: completion)
    }

    func acknowledge(_ ack: Acknowledgement, completion: @escaping @Sendable (Result<Int, any Error>) -> Void) {
        committer.acknowledge(ack, completion: completion)
    }

    /// Tells the owner's connections that its one-time prekeys, of either kind, are running low.
    func warnPrekeysLow(owner: Data, remaining: Int, kemRemaining: Int) {
        var frame = WireServerFrame()
        frame.prekeysLow = WirePrekeysLow.with {
            $0.remaining = UInt32(remaining)
            $0.kemRemaining = UInt32(kemRemaining)
        }
        for queue in hub.queues(of: owner) { queue.notify(frame) }
    }
}

/// Challenges handed out recently, so that a signature over one given to another connection, or
/// already used, is told apart from one that is simply old.
final class ChallengeRegistry: Sendable {
    private let lifetime: Double
    private let issued = Locked<[Data: ContinuousClock.Instant]>([:])

    init(lifetime: Double) { self.lifetime = lifetime }

    func issue() -> (challenge: Data, at: ContinuousClock.Instant) {
        let challenge = Data(Random.bytes(RelayProtocol.challengeLength))
        let now = ContinuousClock.now
        issued.withLock { $0[challenge] = now }
        return (challenge, now)
    }

    func wasIssued(_ challenge: Data) -> Bool { issued.withLock { $0[challenge] != nil } }

    /// Keeps entries for twice the lifetime so replays of recently used challenges are named.
    func prune() {
        let horizon = ContinuousClock.now - .seconds(lifetime * 2)
        issued.withLock { $0 = $0.filter { $0.value > horizon } }
    }
}

/// Lets one caller at a time through, at most once per interval.
final class Throttle: Sendable {
    private let last = Locked<ContinuousClock.Instant?>(nil)

    /// True (and the interval starts again) when the last claim is `seconds` old or there was none.
    func claim(every seconds: Double) -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            if let previous = last, now - previous < .milliseconds(Int(seconds * 1000)) { return false }
            last = now
            return true
        }
    }
}
