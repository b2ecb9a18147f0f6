import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
@_exported import CaucusTestSupport
import Foundation
import Logging
import NIOSSL

/// A device: its key and the raw public key the relay routes by.
struct Device {
    let key = Ed25519.PrivateKey()
    var id: Data { Data(key.publicKey.rawRepresentation) }
}

/// How long tests wait to connect to a relay in another process. Generous: on a busy two-core
/// machine a debug relay, its database and the test process share the CPU with every other suite,
/// and only a connection that never comes should fail a test.
let processConnectTimeout: Duration = .seconds(60)

func newMessageID() -> Data { Data(Random.bytes(RelayProtocol.messageIDLength)) }

extension RelayClient {
    /// Sends to devices and returns the relay's SendAccepted.
    @discardableResult
    func send(_ payload: Data, to recipients: [Data], id: Data = newMessageID(), ttl: UInt32 = 0) async throws -> WireSendAccepted {
        try await send(WireSendMessage.with {
            $0.messageID = id
            $0.recipients = recipients
            $0.payload = payload
            $0.ttlSeconds = ttl
        })
    }

    @discardableResult
    func sendToGroup(_ payload: Data, group: Data, id: Data = newMessageID()) async throws -> WireSendAccepted {
        try await send(WireSendMessage.with {
            $0.messageID = id
            $0.groupID = group
            $0.payload = payload
        })
    }

    private func send(_ message: WireSendMessage) async throws -> WireSendAccepted {
        let reply = try await request(.send(message))
        guard case .sendAccepted(let accepted) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        return accepted
    }

    @discardableResult
    func ack(_ ids: [Data]) async throws -> UInt32 {
        let reply = try await request(.ack(WireAckMessages.with { $0.messageIds = ids }))
        guard case .ackDone(let done) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        return done.removed
    }

    /// Waits for `count` deliveries; closes the connection and fails if they do not all come
    /// within `timeout`.
    func deliveries(_ count: Int, timeout: Duration = .seconds(20)) async throws -> [Delivery] {
        guard count > 0 else { return [] }
        let timer = Task {
            try await Task.sleep(for: timeout)
            await self.close()
        }
        defer { timer.cancel() }
        var received: [Delivery] = []
        for await push in pushes {
            if case .delivery(let delivery) = push { received.append(delivery) }
            if received.count == count { return received }
        }
        throw RelayClientError.connectionClosed("\(received.count) of \(count) deliveries before the connection ended: \(closeReason ?? "-")")
    }

    /// The pushes up to and including the first `QueueEmpty`; closes the connection and fails if
    /// it does not come within `timeout`.
    func pushesUntilQueueEmpty(timeout: Duration = .seconds(60)) async throws -> [RelayClient.Push] {
        let timer = Task {
            try await Task.sleep(for: timeout)
            await self.close()
        }
        defer { timer.cancel() }
        var received: [RelayClient.Push] = []
        for await push in pushes {
            received.append(push)
            if case .queueEmpty = push { return received }
        }
        throw RelayClientError.connectionClosed("no QueueEmpty after \(received.count) pushes: \(closeReason ?? "-")")
    }

    /// Signs and applies a group route change.
    @discardableResult
    func updateRoute(group: Data, serial: UInt64, signer: Ed25519.PrivateKey, newAdmin: Ed25519.PrivateKey? = nil,
                     add: [Data] = [], remove: [Data] = []) async throws -> WireGroupRoutingUpdated {
        let admin = Data((newAdmin ?? signer).publicKey.rawRepresentation)
        let statement = RelayProtocol.groupRoutingStatement(groupID: group, serial: serial, adminKey: admin, add: add, remove: remove)
        let reply = try await request(.updateGroupRouting(WireUpdateGroupRouting.with {
            $0.groupID = group
            $0.serial = serial
            $0.adminKey = admin
            $0.add = add
            $0.remove = remove
            $0.signature = Data(signer.signature(for: statement).rawRepresentation)
        }))
        guard case .groupRoutingUpdated(let updated) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
        return updated
    }

    /// The next pushed error (an error about a frame whose id could not be read). Closes the
    /// connection and fails if none comes within `timeout`.
    func nextPushedError(timeout: Duration = .seconds(10)) async throws -> RelayError {
        try await nextPush("error", timeout: timeout) { if case .error(let error) = $0 { error } else { nil } }
    }

    /// The counts of the next PrekeysLow push. Closes the connection and fails if none comes within `timeout`.
    func nextPrekeysLow(timeout: Duration = .seconds(20)) async throws -> (remaining: UInt32, kemRemaining: UInt32) {
        try await nextPush("PrekeysLow", timeout: timeout) {
            if case .prekeysLow(let remaining, let kemRemaining) = $0 { (remaining, kemRemaining) } else { nil }
        }
    }

    /// The first push that `match` picks, skipping the others. Closes the connection and fails
    /// (naming `what`) if none comes within `timeout`.
    private func nextPush<T>(_ what: String, timeout: Duration, _ match: (RelayClient.Push) -> T?) async throws -> T {
        let timer = Task {
            try await Task.sleep(for: timeout)
            await self.close()
        }
        defer { timer.cancel() }
        for await push in pushes {
            if let found = match(push) { return found }
        }
        throw RelayClientError.connectionClosed("no \(what) pushed before the connection ended: \(closeReason ?? "-")")
    }
}


/// The relay error a call throws, or nil when it succeeds.
func relayError(_ body: () async throws -> Void) async -> RelayError? {
    do {
        try await body()
        return nil
    } catch let error as RelayError {
        return error
    } catch {
        return RelayError(.unspecified, "not a relay error: \(error)")
    }
}

import GRDB

/// Reads the relay's SQLite file directly, as someone who seized it would.
enum SQLiteInspector {
    static func scalar(path: String, sql: String) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }
}
