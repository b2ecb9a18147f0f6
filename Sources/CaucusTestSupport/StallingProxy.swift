// A TCP proxy between a client and a real relay that, when told to, stops passing the relay's
// WebSocket messages on, garbles one or drops the QueueEmpty push: tests of what the client does with a relay that goes silent
// or sends garbage at each step of a connection (Protocol.md §7.13).
import CaucusLock
import CaucusProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Listens on 127.0.0.1 and forwards each connection to a relay's port. Bytes from the client pass
/// untouched; from the relay, the HTTP upgrade passes, then WebSocket frames are read one by one and
/// the data frames (binary or text) counted, so that the `n`-th can be held back or garbled.
public final class StallingProxy: Sendable {
    /// What happens to the relay's data frames on connections made from now on.
    public enum Behaviour: Sendable, Equatable {
        /// Everything passes.
        case passThrough
        /// The first `afterFrames` data frames pass; after them nothing more reaches the client,
        /// while both sockets stay open.
        case silence(afterFrames: Int)
        /// The first `afterFrames` data frames pass; the next one arrives with every payload byte
        /// replaced by 0xFF (not a protobuf message); later ones pass.
        case garble(afterFrames: Int)
        /// Everything passes except the `QueueEmpty` push (Protocol.md §7.4).
        case dropQueueEmpty
        /// Every `SendAccepted` reaches the client as a `Pong` with the same request id: a relay
        /// that answers a send with the wrong kind of frame.
        case answerSendsWithPong
    }

    private struct State {
        var target: Int?
        var behaviour = Behaviour.passThrough
    }

    /// The port it listens on.
    public let port: Int
    /// The address a client dials.
    public var url: String { "ws://127.0.0.1:\(port)" }
    private let listener: Int32
    private let state = Locked(State())
    private let pairs = ProxiedPairs()

    /// Starts listening on a free port of 127.0.0.1; connections are accepted once `forward(to:)`
    /// names the relay.
    public init() throws {
        (listener, port) = try Loopback.bind(listening: 64)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Forwards connections to the relay on 127.0.0.1:`port`.
    public func forward(to port: Int) { state.withLock { $0.target = port } }

    /// Sets what happens on connections made from now on.
    public func behave(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }

    /// Closes the listener and every connection.
    public func stop() { pairs.stop(listener: listener) }

    private func acceptLoop() {
        pairs.accept(on: listener) { client in
            let (target, behaviour) = state.withLock { ($0.target, $0.behaviour) }
            guard let target, let relay = try? Loopback.connect(port: target) else {
                close(client)
                return
            }
            pairs.add(client, relay)
            Thread.detachNewThread { [pairs] in
                ProxiedPairs.copy(from: client, to: relay)
                pairs.finish(client, relay)
            }
            Thread.detachNewThread { [pairs] in
                Self.relayFrames(from: relay, to: client, behaviour)
                pairs.finish(client, relay)
            }
        }
    }

    /// Passes the upgrade response, then the relay's frames as `behaviour` says.
    private static func relayFrames(from relay: Int32, to client: Int32, _ behaviour: Behaviour) {
        var buffer: [UInt8] = []
        var upgraded = false
        var dataFrames = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(relay, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            buffer += chunk[..<count]
            if !upgraded {
                guard let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else { continue }
                guard write(Array(buffer[..<end.upperBound]), to: client) else { return }
                buffer.removeSubrange(..<end.upperBound)
                upgraded = true
            }
            while let (frame, payloadStart) = takeFrame(&buffer) {
                let opcode = frame[0] & 0x0f
                let isData = opcode == 1 || opcode == 2
                var out = frame
                switch behaviour {
                case .passThrough: break
                case .silence(let after):
                    if dataFrames >= after { out = [] }
                case .garble(let after):
                    if isData, dataFrames == after {
                        for index in payloadStart..<out.count { out[index] = 0xff }
                    }
                case .dropQueueEmpty:
                    // The relay's frames are not masked, and a push is small enough for one frame.
                    if opcode == 2, let pushed = try? WireServerFrame(serializedBytes: Array(frame[payloadStart...])),
                       case .queueEmpty? = pushed.body {
                        out = []
                    }
                case .answerSendsWithPong:
                    if opcode == 2, var reply = try? WireServerFrame(serializedBytes: Array(frame[payloadStart...])),
                       case .sendAccepted? = reply.body {
                        reply.body = .pong(WirePong())
                        out = Self.binaryFrame((try? reply.serializedBytes()) ?? [])
                    }
                }
                if isData { dataFrames += 1 }
                guard out.isEmpty || write(out, to: client) else { return }
            }
        }
    }

    /// An unmasked, final binary WebSocket frame (RFC 6455 §5.2) holding `payload`.
    private static func binaryFrame(_ payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x82]
        switch payload.count {
        case ..<126: frame.append(UInt8(payload.count))
        case ..<65_536: frame += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default: frame += [127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        return frame + payload
    }

    /// Takes one whole frame (header and payload) off the front of `buffer`, with where its payload
    /// starts; nil until one has arrived.
    private static func takeFrame(_ buffer: inout [UInt8]) -> ([UInt8], Int)? {
        guard let bounds = WebSocketFrameBounds(buffer[...]) else { return nil }
        let frame = Array(buffer[..<bounds.frameLength])
        buffer.removeSubrange(..<bounds.frameLength)
        return (frame, bounds.payloadStart)
    }

    private static func write(_ bytes: [UInt8], to fd: Int32) -> Bool { Loopback.send(bytes, to: fd) }
}
