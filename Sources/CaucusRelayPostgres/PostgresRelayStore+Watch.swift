import CaucusRelay
import Foundation
import NIOCore
import PostgresNIO

extension PostgresRelayStore {
    /// Device keys per NOTIFY payload: 170 base64 keys and the instance tag stay under
    /// PostgreSQL's 8,000-byte payload limit.
    static let keysPerNotice = 170

    /// NOTIFY payloads naming `keys`: `<instance>:<base64 key> <base64 key> …`.
    static func notices(_ keys: [Data], from instance: String) -> [String] {
        stride(from: 0, to: keys.count, by: keysPerNotice).map { start in
            "\(instance):" + keys[start..<min(start + keysPerNotice, keys.count)].map { $0.base64EncodedString() }
                .joined(separator: " ")
        }
    }

    /// The device keys of a payload from another instance; nil for this instance's own or an
    /// unreadable one.
    static func keys(inNotice payload: String, ownInstance: String) -> [Data]? {
        guard let colon = payload.firstIndex(of: ":"), payload[..<colon] != ownInstance else { return nil }
        return payload[payload.index(after: colon)...].split(separator: " ").compactMap { Data(base64Encoded: String($0)) }
    }

    /// LISTENs for the other instances' notices and, every `catchUp`, asks which connected
    /// devices have deliveries waiting.
    public func watchDeliveries(catchUp: Duration, connected: @escaping @Sendable () -> [Data],
                                storeChanged: @escaping @Sendable ([Data]) -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.listen(storeChanged) }
            group.addTask { try await self.catchUp(every: catchUp, connected: connected, storeChanged: storeChanged) }
            try await group.next()
            group.cancelAll()
        }
    }

    /// LISTENs on a connection of its own, made again a second after it drops. Cancelling closes
    /// it: a notification sequence does not end on cancellation by itself.
    private func listen(_ storeChanged: @escaping @Sendable ([Data]) -> Void) async throws {
        let instance = self.instance
        while true {
            do {
                let connection = try await PostgresConnection.connect(configuration: listenerConfiguration, id: 1, logger: logger)
                // Closed on every way out: a connection must not be dropped open.
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: Self.deliveryChannel) { notices in
                            for try await notice in notices {
                                if let keys = Self.keys(inNotice: notice.payload, ownInstance: instance), !keys.isEmpty {
                                    storeChanged(keys)
                                }
                            }
                        }
                    } onCancel: {
                        let closing: EventLoopFuture<Void> = connection.close()
                        _ = closing
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("listening for deliveries failed; retrying (the catch-up still runs)",
                               metadata: ["error": "\(Self.describe(error))"])
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    private func catchUp(every interval: Duration, connected: @escaping @Sendable () -> [Data],
                         storeChanged: @escaping @Sendable ([Data]) -> Void) async throws {
        while true {
            try await Task.sleep(for: interval)
            let devices = connected()
            guard !devices.isEmpty else { continue }
            do {
                let waiting = try await withConnection { connection in
                    try await Self.rows("SELECT key FROM devices WHERE key = ANY(\(byteaArray(devices))) AND pending > 0",
                                        on: connection, logger: self.logger, as: Data.self)
                }
                if !waiting.isEmpty { storeChanged(waiting) }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("delivery catch-up failed", metadata: ["error": "\(Self.describe(error))"])
            }
        }
    }
}
