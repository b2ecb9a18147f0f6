import CaucusCrypto
import CaucusLock
import CaucusProtocol
import CaucusRelay
import Dispatch
import Foundation
import Logging
import SwiftProtobuf

extension FuzzTargets {
    /// The relay protocol's frames (`WireClientFrame`, which the relay reads, and `WireServerFrame`,
    /// which clients read): any bytes decode or throw, and a decoded frame survives re-encoding.
    static let wireFrames = FuzzTarget(
        name: "wire-frames",
        summary: "WireClientFrame / WireServerFrame protobuf decoding and re-encoding",
        seeds: { WireSeeds.clientFrames.map { try! $0.serializedBytes() } + WireSeeds.serverFrames.map { try! $0.serializedBytes() } },
        check: { input throws(FuzzFailure) in
            if let frame = try? WireClientFrame(serializedBytes: input) {
                let bytes: [UInt8] = try! frame.serializedBytes()
                try require((try? WireClientFrame(serializedBytes: bytes)) == frame, "a client frame does not survive re-encoding")
            }
            if let frame = try? WireServerFrame(serializedBytes: input) {
                let bytes: [UInt8] = try! frame.serializedBytes()
                try require((try? WireServerFrame(serializedBytes: bytes)) == frame, "a server frame does not survive re-encoding")
                if case .error(let wire)? = frame.body { _ = RelayError(wire).description }
            }
        })

    /// The relay's handling of binary frames on an authenticated connection (a real `Relay` on a
    /// SQLite file): the input is several frames, each preceded by a u16 length. The relay answers
    /// every frame that carries a nonzero request id exactly once, never with INTERNAL.
    static let relayFrames = FuzzTarget(
        name: "relay-frames",
        summary: "RelayConnection.received on an authenticated connection: one reply per request, no INTERNAL",
        seeds: { WireSeeds.requestBatches.map { Fixtures.joined($0.map { try! $0.serializedBytes() }) } },
        check: { input throws(FuzzFailure) in
            let frames = Fixtures.pieces(input)
            let replies = RelayFixture.shared.exchange(frames)
            guard let replies else { throw FuzzFailure("the fixture relay did not authenticate its device") }
            let requests = frames.compactMap { try? WireClientFrame(serializedBytes: $0) }.filter { $0.requestID != 0 }
            let answered = replies.filter { $0.requestID != 0 }
            try require(answered.count == requests.count,
                        "\(requests.count) requests got \(answered.count) replies (each must be answered exactly once)")
            for reply in answered {
                if case .error(let error)? = reply.body {
                    try require(error.code != .internal, "a request was answered INTERNAL: \(error.message)")
                }
            }
        })
}

/// Frames of each kind, as clients and the relay build them.
enum WireSeeds {
    static let device = Fixtures.member.publicKey.rawRepresentation
    static let group = [UInt8](repeating: 0x47, count: 32)

    static var requests: [WireClientFrame.OneOf_Body] {
        [
            .ping(WirePing.with { $0.data = Data("ping".utf8) }),
            .send(WireSendMessage.with {
                $0.messageID = Data(repeating: 1, count: 16); $0.recipients = [Data(device)]
                $0.payload = Data(repeating: 0xab, count: 100); $0.ttlSeconds = 3600
            }),
            .send(WireSendMessage.with { $0.messageID = Data(repeating: 2, count: 16); $0.groupID = Data(group); $0.payload = Data([1, 2, 3]) }),
            .ack(WireAckMessages.with { $0.messageIds = [Data(repeating: 1, count: 16)] }),
            .publishPrekeys(WirePublishPrekeys.with {
                $0.signedPrekey = Data(SessionFixture.shared.signedPrekey.publishedBytes)
                $0.oneTimePrekeys = [WireOneTimePrekey.with { $0.id = 42; $0.publicKey = Data(repeating: 9, count: 32) }]
                $0.kemLastResortPrekey = Data(repeating: 0x4b, count: 1_252)
                $0.kemOneTimePrekeys = [Data(repeating: 0x4c, count: 1_252)]
            }),
            .fetchPrekeys(WireFetchPrekeys.with { $0.owner = Data(device) }),
            .updateGroupRouting(WireUpdateGroupRouting.with {
                $0.groupID = Data(group); $0.serial = 1; $0.adminKey = Data(Fixtures.founder.publicKey.rawRepresentation)
                $0.add = [Data(device)]
                $0.signature = Data(Fixtures.founder.signature(for: RelayProtocol.groupRoutingStatement(
                    groupID: Data(group), serial: 1, adminKey: Data(Fixtures.founder.publicKey.rawRepresentation),
                    add: [Data(device)], remove: [])).rawRepresentation)
            }),
            .putBlobChunk(WirePutBlobChunk.with { $0.blobID = Data(repeating: 3, count: 16); $0.data = Data(repeating: 4, count: 64); $0.last = true }),
            .getBlobChunk(WireGetBlobChunk.with { $0.blobID = Data(repeating: 3, count: 16); $0.length = 64 }),
            .postCard(WirePostCard.with {
                $0.inboxKey = Data(Fixtures.cardKey.publicKey.rawRepresentation); $0.itemID = Data(repeating: 5, count: 16)
                $0.sealed = Data(repeating: 6, count: 200)
            }),
            .openCardInbox(WireOpenCardInbox.with { $0.inboxKey = Data(Fixtures.cardKey.publicKey.rawRepresentation); $0.signature = Data(repeating: 0, count: 64) }),
            .readCards(WireReadCards.with { $0.inboxKey = Data(Fixtures.cardKey.publicKey.rawRepresentation); $0.limit = 10 }),
            .hello(WireHello.with { $0.versions = [1] }),
        ]
    }

    static var clientFrames: [WireClientFrame] {
        requests.enumerated().map { index, body in WireClientFrame.with { $0.requestID = UInt64(index + 10); $0.body = body } }
            + [WireClientFrame.with { $0.requestID = 1; $0.hello = WireHello.with { $0.versions = [1]; $0.client = "caucus/0.1" } }]
    }

    static var requestBatches: [[WireClientFrame]] {
        let frames = clientFrames
        return [Array(frames[0..<4]), Array(frames[4..<8]), Array(frames[8...]), [frames[1], frames[3], frames[1]]]
    }

    static var serverFrames: [WireServerFrame] {
        [
            WireServerFrame.with { $0.requestID = 1; $0.welcome = WireWelcome.with {
                $0.version = 1; $0.challenge = Data(repeating: 7, count: 32); $0.relayAddress = "wss://relay.example.org"
                $0.limits = WireLimits.with { $0.maxFrameBytes = 1 << 20; $0.maxPayloadBytes = 512 << 10 }
            } },
            WireServerFrame.with { $0.delivery = WireDelivery.with {
                $0.messageID = Data(repeating: 1, count: 16); $0.sequence = 5; $0.payload = Data(repeating: 2, count: 40)
                $0.groupID = Data(group); $0.acceptedAtMs = 1_700_000_000_000; $0.expiresAtMs = 1_800_000_000_000
            } },
            WireServerFrame.with { $0.requestID = 3; $0.error = RelayError(.rateLimited, "slow down", retryAfterMilliseconds: 250).wire },
            WireServerFrame.with { $0.prekeysLow = WirePrekeysLow.with { $0.remaining = 3; $0.kemRemaining = 9 } },
        ]
    }
}

/// A relay on a SQLite file in a temporary directory, kept for the whole process, and a device
/// that authenticates a new connection for each input.
final class RelayFixture: Sendable {
    static let shared = RelayFixture()
    static let address = "ws://relay.fuzz.invalid"

    let relay: Relay
    let logger: Logger
    let directory: String

    private init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-fuzz-relay-\(getpid())").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = RelayConfiguration()
        configuration.publicAddresses = [Self.address]
        configuration.rateLimitPerSecond = 1_000_000
        configuration.rateLimitBurst = 1_000_000
        var logger = Logger(label: "caucus.fuzz.relay")
        logger.logLevel = .critical
        self.logger = logger
        let store = try! SQLiteRelayStore(path: directory + "/relay.sqlite", limits: configuration.storeLimits)
        relay = Relay(configuration: configuration, store: store, logger: logger)
        atexit { try? FileManager.default.removeItem(atPath: RelayFixture.shared.directory) }
    }

    /// Authenticates a new connection, sends `frames` as binary messages, lets every request
    /// finish, and returns what the relay sent after authenticating (nil if it did not).
    func exchange(_ frames: [[UInt8]]) -> [WireServerFrame]? {
        let result = Locked<[WireServerFrame]?>(nil)
        let relay = self.relay, logger = self.logger
        let done = DispatchSemaphore(value: 0)
        Task {
            let sink = FrameSink()
            let sent = sink.frames
            let connection = RelayConnection(relay: relay, logger: logger, transport: sink)
            await connection.received(try! WireClientFrame.with { $0.requestID = 1; $0.hello = WireHello.with { $0.versions = [1] } }.serializedBytes())
            let challenge = sent.withLock { $0.last?.welcome.challenge } ?? Data()
            let key = Fixtures.member
            let statement = RelayProtocol.authenticationStatement(relayAddress: Self.address, challenge: challenge,
                                                                  deviceKey: Data(key.publicKey.rawRepresentation))
            await connection.received(try! WireClientFrame.with {
                $0.requestID = 2
                $0.authenticate = WireAuthenticate.with {
                    $0.deviceKey = Data(key.publicKey.rawRepresentation); $0.challenge = challenge
                    $0.relayAddress = Self.address; $0.signature = Data(key.signature(for: statement).rawRepresentation)
                }
            }.serializedBytes())
            let authenticated = sent.withLock { frames -> Bool in
                defer { frames = [] }
                return frames.contains { if case .authenticated? = $0.body { true } else { false } }
            }
            if authenticated {
                for frame in frames {
                    await connection.waitForCapacity()
                    await connection.received(frame)
                }
                // Waits for every request in progress, then says SHUTTING_DOWN (a push, id 0).
                await connection.shutdown()
                result.withLock { $0 = sent.withLock { $0 }.filter { if case .delivery? = $0.body { false } else { true } } }
            }
            connection.ended()
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }
}

/// A transport that keeps what the relay sends, for the wire fuzz target.
private final class FrameSink: RelayTransport {
    let frames = Locked<[WireServerFrame]>([])

    func send(_ frames: [WireServerFrame]) -> Bool {
        self.frames.withLock { $0.append(contentsOf: frames) }
        return true
    }

    func writable() async {}
    var isWritable: Bool { true }
    func resumeReading() {}
    func close(code: UInt16, reason: String) {}
    func padFrames() {}
}
