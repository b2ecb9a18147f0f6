import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import CaucusTestSupport
import Foundation
import Testing

/// Frames padded to size classes (Protocol.md §7.1): the padding itself, the relay padding what it
/// sends to a client that asked and nothing to one that did not, and no compression to undo it.
@Suite("Relay: frames padded to size classes", .timeLimit(.minutes(10)))
struct RelayFramePaddingTests {
    /// A ClientFrame (a ping whose data is `dataBytes` long) and its encoding.
    static func frame(dataBytes: Int) throws -> (WireClientFrame, [UInt8]) {
        var frame = WireClientFrame()
        frame.requestID = 7
        frame.body = .ping(WirePing.with { $0.data = Data(repeating: 0xAB, count: dataBytes) })
        return (frame, try frame.serializedBytes())
    }

    @Test("Every size pads to its class exactly, the gaps no one field fills included, and still decodes as it was")
    func paddingReachesTheClass() throws {
        var sizes = Array(0..<300) + Array(3_800..<4_200) + Array(16_000..<16_400) + [65_000, 65_533, 65_534, 65_535, 200_000]
        // The gaps where the varint of the length grows (130 and 16,387 bytes short of a class).
        sizes += [4_096 - 130, 16_384 - 130, 16_384 - 16_387 + 16_384, 65_536 - 130, 65_536 - 16_387]
        for wanted in sizes {
            let (frame, encoded) = try Self.frame(dataBytes: wanted)
            var padded = encoded
            FramePadding.pad(&padded)
            let size = FramePadding.paddedSize(of: encoded.count)
            #expect(padded.count == size, "\(encoded.count) bytes padded to \(padded.count), not \(size)")
            #expect(isFrameSizeClass(size) && size >= encoded.count + 2, "\(encoded.count) → \(size)")
            var decoded = try WireClientFrame(serializedBytes: padded)
            #expect(decoded.padding.allSatisfy { $0 == 0 })
            decoded.padding = Data()
            #expect(decoded == frame, "\(encoded.count) bytes")
        }
    }

    @Test("The examples of Protocol.md §7.1, and the limit padding never passes")
    func protocolExamples() throws {
        var thousand = [UInt8](repeating: 1, count: 1_000)
        FramePadding.pad(&thousand)
        #expect(thousand.count == 4_096)
        #expect(Array(thousand[1_000..<1_003]) == [0x7A, 0x95, 0x18])
        let zeros = thousand[1_003...]
        #expect(zeros.count == 3_093)
        #expect(zeros.allSatisfy { $0 == 0 })
        var almost = [UInt8](repeating: 1, count: 4_094)
        FramePadding.pad(&almost)
        #expect(Array(almost[4_094...]) == [0x7A, 0x00])
        #expect(FramePadding.paddedSize(of: 4_095) == 16_384)
        // A gap of 130: an empty field, then one of 128 bytes (tag, one length byte, 126 zeros).
        var gap = [UInt8](repeating: 1, count: 4_096 - 130)
        FramePadding.pad(&gap)
        let start = 4_096 - 130
        #expect(gap.count == 4_096)
        #expect(Array(gap[start..<(start + 4)]) == [0x7A, 0x00, 0x7A, 126])
        // Never past the receiver's limit; nothing when even the limit has no room.
        #expect(FramePadding.paddedSize(of: 5_000, limit: 10_000) == 10_000)
        #expect(FramePadding.paddedSize(of: 9_999, limit: 10_000) == 9_999)
        #expect(FramePadding.paddedSize(of: 300_000, limit: 1 << 20) == 327_680)
    }

    /// Sends an unpadded Hello on a raw socket (`padFrames` as given) and returns the Welcome's
    /// encoded size.
    static func welcomeSize(_ relay: TestRelay, padFrames: Bool) async throws -> (Int, WireServerFrame) {
        let socket = try RawWebSocket(port: relay.running.port)
        var hello = WireClientFrame()
        hello.requestID = 1
        hello.body = .hello(WireHello.with { $0.versions = [RelayProtocol.version]; $0.padFrames = padFrames })
        try await socket.send(opcode: 0x2, payload: try hello.serializedBytes())
        let reply = try #require(try await socket.receive())
        #expect(reply.opcode == 0x2)
        return (reply.payload.count, try WireServerFrame(serializedBytes: reply.payload))
    }

    @Test("The relay pads what it sends only on a connection whose Hello asked, and takes unpadded frames")
    func relayPadsWhenAsked() async throws {
        let relay = try await TestRelay.start()
        let (plainSize, plain) = try await Self.welcomeSize(relay, padFrames: false)
        let (paddedSize, padded) = try await Self.welcomeSize(relay, padFrames: true)
        let plainBytes: [UInt8] = try plain.serializedBytes()
        #expect(plainSize < 1_000 && plainSize == plainBytes.count)
        #expect(paddedSize == 4_096)
        guard case .welcome(let welcome)? = padded.body else { Issue.record("no Welcome: \(padded)"); return }
        #expect(welcome.limits.maxFrameBytes == UInt32(relay.relay.configuration.maxFrameBytes))
        await relay.stop()
    }

    @Test("Between the reference client and the relay every frame, both ways and pushes included, is of a size class")
    func everyFrameBothWays() async throws {
        let proxy = try RecordingProxy()
        defer { proxy.stop() }
        let relay = try await TestRelay.start { $0.publicAddresses = [proxy.url] }
        proxy.forward(to: relay.running.port)
        let (alice, bob) = (Ed25519.PrivateKey(), Ed25519.PrivateKey())
        // The relay's address is the proxy's: these connections go through it.
        let sender = try await relay.connect(alice)
        let receiver = try await relay.connect(bob)
        var pushes = receiver.pushes.makeAsyncIterator()
        for length in [10, 1_000, 5_000, 70_000] {
            let message = OutgoingMessage(messageID: .random(), recipients: [DeviceKey(bob.publicKey)],
                                          payload: Data(repeating: 1, count: length))
            _ = try await sender.send(message)
            var delivered: Delivery?
            while delivered == nil, let push = await pushes.next() {
                if case .delivery(let delivery) = push { delivered = delivery }
            }
            #expect(delivered?.payload.count == length)
            _ = try await receiver.acknowledge([try #require(delivered).messageID])
        }
        await sender.close()
        await receiver.close()
        let binary = proxy.connections.flatMap { $0.filter(\.isBinary) }
        // Hello, Welcome, Authenticate, Authenticated on each connection; five frames per message.
        let least = 2 * 4 + 4 * 5
        #expect(binary.count >= least, "\(binary.count) messages")
        for message in binary where !isFrameSizeClass(message.payload.count) {
            let side = message.fromClient ? "client" : "relay"
            Issue.record("\(side): \(message.payload.count) bytes")
        }
        #expect(Set(binary.filter(\.fromClient).map(\.payload.count)) == [4_096, 16_384, 131_072])
        #expect(Set(binary.filter { !$0.fromClient }.map(\.payload.count)) == [4_096, 16_384, 131_072])
        await relay.stop()
    }

    @Test("No WebSocket compression is negotiated, even when the client offers it")
    func noCompression() async throws {
        let relay = try await TestRelay.start()
        let socket = try RawWebSocket(port: relay.running.port,
                                      headers: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
        #expect(socket.upgradeResponse.hasPrefix("HTTP/1.1 101"))
        #expect(!socket.upgradeResponse.lowercased().contains("sec-websocket-extensions"), "\(socket.upgradeResponse)")
        await relay.stop()
    }
}
