import CaucusProtocol
import CaucusRelay
import CaucusTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// What the relay does with WebSocket control frames and with peers that break the framing
/// (Protocol.md §7.1), seen from a client that does nothing by itself.
@Suite("Relay: WebSocket control frames", .timeLimit(.minutes(10)))
struct RelayWebSocketTests {
    private static func port(_ relay: TestRelay) -> Int { relay.running.port }

    /// The close code of a close frame.
    private static func code(_ frame: RawWebSocket.Frame?) -> Int? {
        guard let frame, frame.opcode == 0x8, frame.payload.count >= 2 else { return nil }
        return Int(frame.payload[0]) << 8 | Int(frame.payload[1])
    }

    @Test("A ping is answered with a pong carrying its data; a close is answered with the same code, then the socket closes")
    func pingAndClose() async throws {
        let relay = try await TestRelay.start()
        let socket = try RawWebSocket(port: Self.port(relay))
        try await socket.send(opcode: 0x9, payload: Array("are you there".utf8))
        let pong = try await socket.receive()
        #expect(pong?.opcode == 0xA)
        #expect(pong?.payload == Array("are you there".utf8))
        try await socket.send(opcode: 0x8, payload: [0x03, 0xE8])
        let close = try await socket.receive()
        #expect(Self.code(close) == 1000)
        #expect(try await socket.receive() == nil)
        await relay.stop()
    }

    @Test("The relay pings; a peer that never answers is closed with 1001 after the next ping")
    func pingTimeout() async throws {
        let relay = try await TestRelay.start { $0.pingIntervalSeconds = 0.3 }
        let socket = try RawWebSocket(port: Self.port(relay))
        let ping = try await socket.receive()
        #expect(ping?.opcode == 0x9)
        let close = try await socket.receive()
        #expect(Self.code(close) == 1001)
        #expect(try await socket.receive() == nil)
        await relay.stop()
    }

    @Test("A connection that does not authenticate in time is closed with 1008; one that does stays")
    func handshakeBound() async throws {
        // An idle socket: nothing is read from it but the relay's close.
        let quick = try await TestRelay.start { $0.handshakeTimeoutSeconds = 0.5 }
        let idle = try RawWebSocket(port: Self.port(quick))
        #expect(Self.code(try await Self.close(on: idle)) == 1008)
        #expect(try await idle.receive() == nil)
        await quick.stop()

        // An authenticated client outlives the bound: an idle socket opened after it authenticated
        // is closed first, and a request on the client is still answered. (The bound leaves the
        // client ample time to authenticate on a busy machine: 5 s was once not enough.)
        let relay = try await TestRelay.start { $0.handshakeTimeoutSeconds = 30 }
        let client = try await relay.connect(Device().key)
        let later = try RawWebSocket(port: Self.port(relay))
        #expect(Self.code(try await Self.close(on: later)) == 1008)
        _ = try await client.request(.ping(WirePing()))
        await client.close()
        await relay.stop()
    }

    /// The first close frame `socket` receives (pings before it are skipped).
    private static func close(on socket: RawWebSocket) async throws -> RawWebSocket.Frame? {
        while let frame = try await socket.receive() {
            if frame.opcode == 0x8 { return frame }
        }
        return nil
    }

    @Test("A continuation outside a message and a fragmented ping are closed with 1002")
    func framingErrors() async throws {
        let relay = try await TestRelay.start()
        let stray = try RawWebSocket(port: Self.port(relay))
        try await stray.send(opcode: 0x0, payload: [1, 2, 3])
        #expect(Self.code(try await stray.receive()) == 1002)
        #expect(try await stray.receive() == nil)

        let split = try RawWebSocket(port: Self.port(relay))
        try await split.send(opcode: 0x9, payload: [1], fin: false)
        #expect(Self.code(try await split.receive()) == 1002)
        await relay.stop()
    }

    @Test("A peer that does not read is not read either: its flood stalls, and once it reads, every ping is answered")
    func flowControl() async throws {
        // This peer never answers the relay's own pings (it does not read while it floods), and a
        // peer that misses one is closed at the next (after two intervals, 60 s by default). On a
        // loaded machine the flood and the drain took 75 s once, and the close cut the drain
        // short; the keepalive has its test elsewhere, so here it waits an hour.
        let relay = try await TestRelay.start { $0.pingIntervalSeconds = 3_600 }
        let socket = try RawWebSocket(port: Self.port(relay))
        // Each ping is 131 bytes and each pong 127: 2 million are 250 MB the relay would have to
        // hold if it read on while the peer does not.
        let (sent, stalled) = try await socket.sendUntilStalled(opcode: 0x9, payload: [UInt8](repeating: 7, count: 125),
                                                              limit: 2_000_000)
        #expect(stalled, "the relay read \(sent) pings while their pongs went unread")
        #expect(try await socket.receive(count: sent, opcode: 0xA) == sent)
        await relay.stop()
    }

    @Test("Plain HTTP: /healthz, a 404 elsewhere, and 426 on the WebSocket path without an upgrade")
    func plainHTTP() async throws {
        let relay = try await TestRelay.start()
        let base = "http://127.0.0.1:\(Self.port(relay))"
        func status(_ path: String) async throws -> Int {
            let (_, response) = try await URLSession.shared.data(from: URL(string: base + path)!)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await status("/healthz") == 200)
        #expect(try await status("/nothing-here") == 404)
        #expect(try await status("/v1/ws") == 426)
        await relay.stop()
    }
}
