// A WebSocket client with no behaviour of its own (it answers no ping, sends no close), for tests
// of what the relay does with control frames and with peers that misbehave.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Every call after `init` runs on the instance's own serial queue, so an instance may be shared.
public final class RawWebSocket: @unchecked Sendable {
    public struct Frame: Sendable, Equatable {
        public let fin: Bool
        public let opcode: UInt8
        public let payload: [UInt8]
    }

    public enum Failure: Error, CustomStringConvertible {
        case system(String, Int32)
        case handshake(String)
        case timedOut

        public var description: String {
            switch self {
            case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
            case .handshake(let text): "the WebSocket upgrade failed: \(text)"
            case .timedOut: "nothing arrived within the receive bound"
            }
        }
    }

    private let fd: Int32
    /// Bytes read and not yet taken start at `start`.
    private var buffer: [UInt8] = []
    private var start = 0
    private let queue = DispatchQueue(label: "caucus.test.raw-websocket")

    /// The relay's answer to the upgrade request: its status line and headers.
    public private(set) var upgradeResponse = ""

    /// Connects to 127.0.0.1:`port` and upgrades `path`, with `headers` (each line ending in
    /// CRLF) added to the request; every receive waits at most `receiveTimeout` seconds.
    public init(port: Int, path: String = "/v1/ws", headers: String = "", receiveTimeout: Int = 60) throws {
        fd = try Loopback.connect(port: port) { fd in
            // Small socket buffers, so that a peer that stops reading or writing shows at once.
            var size: Int32 = 32 << 10
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try write(Array(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n").utf8))
        let end = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: end) {
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                guard head.hasPrefix("HTTP/1.1 101") else { throw Failure.handshake(head) }
                upgradeResponse = head
                return
            }
            guard try fill() else { throw Failure.handshake("the connection closed") }
        }
    }

    deinit { close(fd) }

    /// Sends one frame, masked as a client must.
    public func send(opcode: UInt8, payload: [UInt8] = [], fin: Bool = true) async throws {
        try await onQueue { try self.sendNow(opcode: opcode, payload: payload, fin: fin) }
    }

    /// The next frame; nil when the relay closed the socket. Waits at most the receive bound.
    public func receive() async throws -> Frame? {
        try await onQueue { try self.receiveNow() }
    }

    /// Sends the same frame again and again, without reading, until the socket has had no room
    /// for `stall` seconds (the relay stopped reading) or `limit` frames went out. Returns how many
    /// were sent and whether it stalled.
    public func sendUntilStalled(opcode: UInt8, payload: [UInt8], limit: Int, stall: Int32 = 3) async throws
        -> (sent: Int, stalled: Bool) {
        try await onQueue {
            var sent = 0
            while sent < limit {
                var waiting = pollfd(fd: self.fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&waiting, 1, stall * 1000)
                if ready == 0 { return (sent, true) }
                guard ready > 0 else { throw Failure.system("poll", errno) }
                try self.sendNow(opcode: opcode, payload: payload, fin: true)
                sent += 1
            }
            return (sent, false)
        }
    }

    /// Reads until `count` frames with `opcode` arrived (others are skipped) or the relay closed;
    /// returns how many arrived.
    public func receive(count: Int, opcode: UInt8) async throws -> Int {
        try await onQueue {
            var seen = 0
            while seen < count, let frame = try self.receiveNow() {
                if frame.opcode == opcode { seen += 1 }
            }
            return seen
        }
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private func sendNow(opcode: UInt8, payload: [UInt8], fin: Bool) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        switch payload.count {
        case ..<126: frame.append(0x80 | UInt8(payload.count))
        case ..<65_536: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default: frame += [0x80 | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        try write(frame)
    }

    private func receiveNow() throws -> Frame? {
        while true {
            if let frame = takeFrame() { return frame }
            guard try fill() else { return nil }
        }
    }

    private func takeFrame() -> Frame? {
        guard let bounds = WebSocketFrameBounds(buffer[start...]) else { return nil }
        let payload = start + bounds.payloadStart
        let frame = Frame(fin: buffer[start] & 0x80 != 0, opcode: buffer[start] & 0x0f,
                          payload: Array(buffer[payload..<(payload + bounds.payloadLength)]))
        start += bounds.frameLength
        return frame
    }

    /// Reads what the socket has; false at its end.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timedOut }
            if errno == ECONNRESET { return false }
            throw Failure.system("recv", errno)
        }
        if start > 0 {
            buffer.removeSubrange(..<start)
            start = 0
        }
        buffer += chunk[..<count]
        return count > 0
    }

    private func write(_ bytes: [UInt8]) throws {
        guard Loopback.send(bytes, to: fd) else { throw Failure.system("send", errno) }
    }
}
