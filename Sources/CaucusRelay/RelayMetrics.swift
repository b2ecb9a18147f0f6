import CaucusLock
import CaucusProtocol
import CoreMetrics
import Foundation
import Prometheus

/// The relay's counters, published on `/metrics` in Prometheus text format. Each relay has its
/// own registry, so several relays can run in one process (tests) without sharing figures.
/// No metric carries a key, an id or a payload.
final class RelayMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let connections: CoreMetrics.Gauge
    let authenticated: CoreMetrics.Counter
    let framesIn: CoreMetrics.Counter
    let messagesAccepted: CoreMetrics.Counter
    let messagesDuplicate: CoreMetrics.Counter
    let deliveriesStored: CoreMetrics.Counter
    let deliveriesPushed: CoreMetrics.Counter
    let acknowledged: CoreMetrics.Counter
    let commitBatch: CoreMetrics.Recorder
    let commitSeconds: CoreMetrics.Timer
    let expired: CoreMetrics.Counter
    /// What the store holds, read when `/metrics` is scraped (at most every
    /// `storeStatisticsSeconds`): devices, mailboxes waiting, deliveries waiting, the age of the
    /// oldest, blobs, card items, bans and the store's bytes.
    let store: StoreGauges
    private let factory: PrometheusMetricsFactory
    private let errors = Locked<[WireErrorCode: CoreMetrics.Counter]>([:])

    init() {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        connections = CoreMetrics.Gauge(label: "caucus_relay_connections", dimensions: [], factory: factory)
        authenticated = CoreMetrics.Counter(label: "caucus_relay_authentications_total", dimensions: [], factory: factory)
        framesIn = CoreMetrics.Counter(label: "caucus_relay_frames_received_total", dimensions: [], factory: factory)
        messagesAccepted = CoreMetrics.Counter(label: "caucus_relay_messages_accepted_total", dimensions: [], factory: factory)
        messagesDuplicate = CoreMetrics.Counter(label: "caucus_relay_messages_duplicate_total", dimensions: [], factory: factory)
        deliveriesStored = CoreMetrics.Counter(label: "caucus_relay_deliveries_stored_total", dimensions: [], factory: factory)
        deliveriesPushed = CoreMetrics.Counter(label: "caucus_relay_deliveries_pushed_total", dimensions: [], factory: factory)
        acknowledged = CoreMetrics.Counter(label: "caucus_relay_deliveries_acknowledged_total", dimensions: [], factory: factory)
        commitBatch = CoreMetrics.Recorder(label: "caucus_relay_commit_batch_size", dimensions: [], aggregate: true, factory: factory)
        commitSeconds = CoreMetrics.Timer(label: "caucus_relay_commit_duration", dimensions: [], factory: factory)
        expired = CoreMetrics.Counter(label: "caucus_relay_expired_messages_total", dimensions: [], factory: factory)
        store = StoreGauges(factory: factory)
    }

    func error(_ code: WireErrorCode) {
        let counter = errors.withLock { errors in
            if let counter = errors[code] { return counter }
            let counter = CoreMetrics.Counter(label: "caucus_relay_errors_total", dimensions: [("code", code.name)], factory: factory)
            errors[code] = counter
            return counter
        }
        counter.increment()
    }

    func render() -> String { registry.emitToString() }
}

/// The store's figures as gauges (`caucus-relay stats` shows the same).
struct StoreGauges: Sendable {
    let devices: CoreMetrics.Gauge
    let mailboxesWaiting: CoreMetrics.Gauge
    let deliveriesWaiting: CoreMetrics.Gauge
    let oldestWaitingSeconds: CoreMetrics.Gauge
    let blobBytes: CoreMetrics.Gauge
    let cardItems: CoreMetrics.Gauge
    let bannedDevices: CoreMetrics.Gauge
    let storeBytes: CoreMetrics.Gauge
    let readFailures: CoreMetrics.Counter

    init(factory: PrometheusMetricsFactory) {
        func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: name, dimensions: [], factory: factory) }
        devices = gauge("caucus_relay_store_devices")
        mailboxesWaiting = gauge("caucus_relay_store_mailboxes_waiting")
        deliveriesWaiting = gauge("caucus_relay_store_deliveries_waiting")
        oldestWaitingSeconds = gauge("caucus_relay_store_oldest_waiting_seconds")
        blobBytes = gauge("caucus_relay_store_blob_bytes")
        cardItems = gauge("caucus_relay_store_card_items")
        bannedDevices = gauge("caucus_relay_store_banned_devices")
        storeBytes = gauge("caucus_relay_store_bytes")
        readFailures = CoreMetrics.Counter(label: "caucus_relay_store_statistics_failures_total", dimensions: [], factory: factory)
    }

    /// Records `statistics`, read at `now` (Unix milliseconds).
    func record(_ statistics: StoreStatistics, now: Int64) {
        devices.record(statistics.devices)
        mailboxesWaiting.record(statistics.mailboxes)
        deliveriesWaiting.record(statistics.deliveries)
        oldestWaitingSeconds.record(statistics.oldestUndeliveredAt.map { max(0, Double(now - $0) / 1000) } ?? 0)
        blobBytes.record(statistics.blobBytes)
        cardItems.record(statistics.cardItems)
        bannedDevices.record(statistics.bannedDevices)
        storeBytes.record(statistics.storeBytes)
    }
}
