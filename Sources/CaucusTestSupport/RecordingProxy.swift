// A TCP proxy between clients and a real relay that passes every byte untouched and records, for
// each connection, the WebSocket messages both ways: their order, direction and length, which is
// what an observer of an encrypted connection learns (Protocol.md §7.1, §9.16), and their bytes,
// so that a test can say which request each was.
import CaucusLock
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class RecordingProxy: Sendable {
    /// One WebSocket message (its frames put together), as it crossed the proxy.
    public struct Message: Sendable, Equatable {
        /// From the client to the relay (else the relay's).
        public let fromClient: Bool
        /// The first frame's opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong).
        public let opcode: UInt8
        /// The payload, unmasked.
        public let payload: [UInt8]

        public var isBinary: Bool { opcode == 2 }
    }

    /// The port it listens on.
    public let port: Int
    /// The address a client dials.
    public var url: String { "ws://127.0.0.1:\(port)" }
    private let listener: Int32
    private let target = Locked<Int?>(nil)
    /// The messages of every connection so far, in the order the connections were accepted.
    private let recorded = Locked<[[Message]]>([])
    private let pairs = ProxiedPairs()

    /// Starts listening on a free port of 127.0.0.1; connections are taken once `forward(to:)`
    /// names the relay.
    public init() throws {
        (listener, port) = try Loopback.bind(listening: 64)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Forwards connections to the relay on 127.0.0.1:`port`.
    public func forward(to port: Int) { target.withLock { $0 = port } }

    /// The messages of every connection accepted so far, one list per connection.
    public var connections: [[Message]] { recorded.withLock { $0 } }

    /// Closes the listener and every connection.
    public func stop() { pairs.stop(listener: listener) }

    private func acceptLoop() {
        pairs.accept(on: listener) { client in
            guard let port = target.withLock({ $0 }), let relay = try? Loopback.connect(port: port) else {
                close(client)
                return
            }
            let index = recorded.withLock { connections in
                connections.append([])
                return connections.count - 1
            }
            pairs.add(client, relay)
            for (source, destination, fromClient) in [(client, relay, true), (relay, client, false)] {
                Thread.detachNewThread { [self] in
                    pass(from: source, to: destination, fromClient: fromClient, connection: index)
                    pairs.finish(client, relay)
                }
            }
        }
    }

    /// Passes bytes on as they come, and records the messages they hold once the HTTP upgrade
    /// has gone by.
    private func pass(from source: Int32, to destination: Int32, fromClient: Bool, connection: Int) {
        var buffer: [UInt8] = []
        var upgraded = false
        var partial: (opcode: UInt8, payload: [UInt8])?
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0, Loopback.send(Array(chunk[..<count]), to: destination) else { return }
            buffer += chunk[..<count]
            if !upgraded {
                guard let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else { continue }
                buffer.removeSubrange(..<end.upperBound)
                upgraded = true
            }
            while let bounds = WebSocketFrameBounds(buffer[...]) {
                let final = buffer[0] & 0x80 != 0, opcode = buffer[0] & 0x0f
                var payload = Array(buffer[bounds.payloadStart..<bounds.frameLength])
                if buffer[1] & 0x80 != 0 {
                    let mask = Array(buffer[(bounds.payloadStart - 4)..<bounds.payloadStart])
                    for index in payload.indices { payload[index] ^= mask[index % 4] }
                }
                buffer.removeSubrange(..<bounds.frameLength)
                if opcode == 0, var message = partial {
                    message.payload += payload
                    partial = message
                } else if opcode >= 8 {
                    record(Message(fromClient: fromClient, opcode: opcode, payload: payload), connection)
                    continue
                } else {
                    partial = (opcode, payload)
                }
                if final, let message = partial {
                    record(Message(fromClient: fromClient, opcode: message.opcode, payload: message.payload), connection)
                    partial = nil
                }
            }
        }
    }

    private func record(_ message: Message, _ connection: Int) {
        recorded.withLock { $0[connection].append(message) }
    }
}

/// Whether `count` is one of Protocol.md §7.1's frame size classes: 4,096, 16,384 or a multiple of
/// 65,536. Spelled out here, apart from the code that pads, so that a test of the padding checks
/// it against the text.
public func isFrameSizeClass(_ count: Int) -> Bool {
    count == 4_096 || count == 16_384 || (count > 0 && count % 65_536 == 0)
}
