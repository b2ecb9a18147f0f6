// Part 3: one group message to a route of many devices. (a) every recipient offline: the send
// stores the message once and one delivery row per device, durably, before SendAccepted.
// (b) some recipients connected: how long until each of them has the Delivery push.
import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelayClient
import Foundation
import Synchronization

struct GroupFanoutResult: Codable, Sendable {
    var groupDevices: Int
    /// Recipients of each group message: every routed device but the sender.
    var recipients: Int
    var payloadBytes: Int
    /// UpdateGroupRouting changes needed (at most 10,000 devices added per change).
    var routeChanges: Int
    var routeCreationMilliseconds: Double
    /// (a) All recipients offline: send request to SendAccepted.
    var offlineSendAcceptedMilliseconds: Double
    /// (b) Devices connected while the second message is sent; the rest stay offline.
    var connectedDevices: Int
    var connectSeconds: Double
    var connectedSendAcceptedMilliseconds: Double
    var firstPushMilliseconds: Double?
    var medianPushMilliseconds: Double?
    var p99PushMilliseconds: Double?
    /// Send request until every connected device had its Delivery push (nil: some never did).
    var allConnectedPushedMilliseconds: Double?
    var connectedMissed: Int
}

/// What the connected group members share.
private final class FanoutState: Sendable {
    let backlogID: Data
    let measuredID: Data
    let backlogReceived = Atomic<Int>(0)
    let measuredReceived = Atomic<Int>(0)
    let arrivals = Locked<[UInt64]>([])

    init(backlogID: Data, measuredID: Data) {
        self.backlogID = backlogID
        self.measuredID = measuredID
    }
}

private func groupSend(_ client: RelayClient, groupID: Data, messageID: Data, payload: Data) async throws -> (UInt32, UInt64) {
    var send = WireSendMessage()
    send.messageID = messageID
    send.groupID = groupID
    send.payload = payload
    let reply = try await client.request(.send(send))
    let accepted = monotonicNanos()
    guard case .sendAccepted(let result) = reply else { throw RelayClientError.unexpectedReply("\(reply)") }
    return (result.recipients, accepted)
}

func runGroupFanout(groupSize: Int, connected: Int, payloadBytes: Int, directory: URL) async throws -> GroupFanoutResult {
    progress("group fan-out: \(groupSize) devices routed, \(connected) of them connected for part (b)")
    let relay = try await RelayUnderTest.start(directory: directory, name: "group")
    let keys = makeKeys(groupSize)
    let admin = Ed25519.PrivateKey()
    let adminKey = publicKey(admin)
    let groupID = Data(Random.bytes(RelayProtocol.groupIDLength))
    let devices = keys.map(publicKey)
    // Device 0 sends; devices 1...connected connect for part (b); the others never connect.
    let sender = try await RelayClient.connect(url: relay.url, deviceKey: keys[0], logger: benchLogger("caucus.bench.client"))

    // The route: serial 1 creates it with the first 10,000 devices, each further change adds
    // up to 10,000 more. Signed by the admin key (itself at serial 1, unchanged after).
    let routeStart = monotonicNanos()
    var serial: UInt64 = 0
    for chunkStart in stride(from: 0, to: groupSize, by: 10_000) {
        serial += 1
        let add = Array(devices[chunkStart..<min(chunkStart + 10_000, groupSize)])
        let statement = RelayProtocol.groupRoutingStatement(groupID: groupID, serial: serial, adminKey: adminKey,
                                                            add: add, remove: [])
        let update = WireUpdateGroupRouting.with {
            $0.groupID = groupID
            $0.serial = serial
            $0.adminKey = adminKey
            $0.add = add
            $0.signature = Data(admin.signature(for: statement).rawRepresentation)
        }
        let reply = try await sender.request(.updateGroupRouting(update))
        guard case .groupRoutingUpdated(let updated) = reply, updated.serial == serial else {
            throw RelayClientError.unexpectedReply("\(reply)")
        }
        guard chunkStart + add.count < groupSize || Int(updated.devices) == groupSize else {
            throw BenchError("the route holds \(updated.devices) devices, expected \(groupSize)")
        }
    }
    let routeMilliseconds = Double(monotonicNanos() - routeStart) / 1e6
    progress(String(format: "  route of %d devices created in %.0f ms", groupSize, routeMilliseconds))

    // (a) Everyone offline.
    let payload = Data(Random.bytes(payloadBytes))
    let backlogID = Data(Random.bytes(RelayProtocol.messageIDLength))
    let measuredID = Data(Random.bytes(RelayProtocol.messageIDLength))
    let offlineStart = monotonicNanos()
    let (offlineRecipients, offlineAccepted) = try await groupSend(sender, groupID: groupID, messageID: backlogID, payload: payload)
    let offlineMilliseconds = Double(offlineAccepted - offlineStart) / 1e6
    guard offlineRecipients == groupSize - 1 else {
        throw BenchError("the group message was stored for \(offlineRecipients) devices, expected \(groupSize - 1)")
    }
    progress(String(format: "  (a) offline: SendAccepted after %.1f ms", offlineMilliseconds))

    // (b) Connect some; each first gets the message of (a) from its mailbox.
    let state = FanoutState(backlogID: backlogID, measuredID: measuredID)
    let connectStart = monotonicNanos()
    let receivers = try await connectAll(url: relay.url, keys: Array(keys[1...connected]))
    let connectSeconds = seconds(from: connectStart, to: monotonicNanos())
    let receiverTasks = receivers.map { client in
        Task {
            for await push in client.pushes {
                guard case .delivery(let delivery) = push else { continue }
                if delivery.messageID.data == state.backlogID {
                    state.backlogReceived.add(1, ordering: .relaxed)
                } else if delivery.messageID.data == state.measuredID {
                    let now = monotonicNanos()
                    state.arrivals.withLock { $0.append(now) }
                    state.measuredReceived.add(1, ordering: .relaxed)
                    return
                }
            }
        }
    }
    guard await waitUntil(timeout: 120, { state.backlogReceived.load(ordering: .relaxed) == connected }) else {
        throw BenchError("only \(state.backlogReceived.load(ordering: .relaxed)) of \(connected) connected devices "
                         + "received their stored group message within 120 s")
    }

    let sendStart = monotonicNanos()
    let (connectedRecipients, connectedAccepted) = try await groupSend(sender, groupID: groupID, messageID: measuredID, payload: payload)
    guard connectedRecipients == groupSize - 1 else {
        throw BenchError("the group message was stored for \(connectedRecipients) devices, expected \(groupSize - 1)")
    }
    let allArrived = await waitUntil(timeout: 120, every: .milliseconds(1)) {
        state.measuredReceived.load(ordering: .relaxed) == connected
    }
    for task in receiverTasks { task.cancel() }
    for task in receiverTasks { await task.value }
    let arrivals = state.arrivals.withLock { $0 }.map { Double($0 - sendStart) / 1e6 }.sorted()
    await closeAll(receivers + [sender])
    await relay.stop()
    if !allArrived { progress("  warning: \(connected - arrivals.count) connected devices never got the push") }

    return GroupFanoutResult(
        groupDevices: groupSize, recipients: groupSize - 1, payloadBytes: payloadBytes, routeChanges: Int(serial),
        routeCreationMilliseconds: routeMilliseconds, offlineSendAcceptedMilliseconds: offlineMilliseconds,
        connectedDevices: connected, connectSeconds: connectSeconds,
        connectedSendAcceptedMilliseconds: Double(connectedAccepted - sendStart) / 1e6,
        firstPushMilliseconds: arrivals.first,
        medianPushMilliseconds: percentile(arrivals, 50),
        p99PushMilliseconds: percentile(arrivals, 99),
        allConnectedPushedMilliseconds: allArrived ? arrivals.last : nil,
        connectedMissed: connected - arrivals.count)
}
