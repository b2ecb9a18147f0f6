import Foundation

/// A store that several relay instances share (PostgreSQL). A message one instance accepts may be
/// for a device connected to another; the store tells each instance which of its devices to read
/// again, so that instance pushes the delivery.
public protocol SharedRelayStore: RelayStore {
    /// Runs until cancelled, calling `storeChanged` with device keys that may have deliveries
    /// committed by another instance: promptly after each such commit, and every `catchUp` for
    /// those of `connected()` that have any delivery waiting (so a missed notice only delays).
    /// Returns or throws only when cancelled.
    func watchDeliveries(catchUp: Duration, connected: @escaping @Sendable () -> [Data],
                         storeChanged: @escaping @Sendable ([Data]) -> Void) async throws
}
