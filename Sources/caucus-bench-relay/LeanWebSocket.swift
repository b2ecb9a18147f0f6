// A minimal RFC 6455 WebSocket client over one nonblocking TCP socket, for the lean load
// generator: ws:// to an IPv4 address only, no extensions, binary messages out, binary messages
// and control frames in. The caller drives it from its own epoll loop (`receive`, `flush`,
// `nextMessage`); the connection setup waits with poll(2), always up to a deadline.
import CaucusIdentity
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class LeanWebSocket {
    let fd: Int32
    /// Why the connection ended (the relay closed it, a socket error, a bad frame); nil while open.
    private(set) var closedReason: String?

    /// Bytes read and not yet parsed: `input[inputStart..<inputEnd]`.
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    /// Frames not yet written: `output[outputStart...]`.
    private var output: [UInt8] = []
    private var outputStart = 0
    /// The message being assembled from fragments, if one is.
    private var fragments: [UInt8]?
    private var closeSent = false
    /// xorshift64 state for masking keys. RFC 6455 asks for keys from a strong source, against
    /// proxies that could be tricked into caching; a benchmark on loopback needs only cheap ones.
    private var maskState: UInt64

    private static let initialInputBytes = 64 << 10

    /// Connects to `host` (an IPv4 address) and `port` and upgrades to a WebSocket on `path`,
    /// waiting at most until `deadline` (monotonic nanoseconds).
    init(host: String, port: Int, path: String, deadline: UInt64) throws(BenchError) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw BenchError("the lean generator dials IPv4 addresses only, not \(host)")
        }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        input = .allocate(byteCount: Self.initialInputBytes, alignment: 8)
        maskState = Random.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } | 1
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if connected != 0 {
            guard errno == EINPROGRESS else { throw BenchError("connect to \(host):\(port): \(String(cString: strerror(errno)))") }
            try wait(for: Int16(POLLOUT), until: deadline, doing: "connect")
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length)
            guard failure == 0 else { throw BenchError("connect to \(host):\(port): \(String(cString: strerror(failure)))") }
        }
        try upgrade(host: "\(host):\(port)", path: path, deadline: deadline)
    }

    deinit {
        if closedReason == nil { Glibc.close(fd) }
        input.deallocate()
    }

    var isOpen: Bool { closedReason == nil }
    var hasPendingOutput: Bool { outputStart < output.count }

    // MARK: Handshake

    /// The HTTP/1.1 upgrade: requires status 101 and `Upgrade: websocket`. It does not check
    /// `Sec-WebSocket-Accept`, which needs SHA-1, and the crypto core (libsodium) has none; the
    /// key is still random, as RFC 6455 requires of a client.
    private func upgrade(host: String, path: String, deadline: UInt64) throws(BenchError) {
        let key = Data(Random.bytes(16)).base64EncodedString()
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        output.append(contentsOf: Array(request.utf8))
        try flush(until: deadline)
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            try wait(for: Int16(POLLIN), until: deadline, doing: "the WebSocket upgrade")
            guard receive() else { throw BenchError("the WebSocket upgrade: \(closedReason ?? "closed")") }
            let bytes = UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd])
            headEnd = stride(from: 0, through: bytes.count - terminator.count, by: 1).first { start in
                terminator.indices.allSatisfy { bytes[start + $0] == terminator[$0] }
            }.map { $0 + terminator.count }
            if headEnd == nil && bytes.count > 16 << 10 { throw BenchError("the WebSocket upgrade: no end of the HTTP head") }
        }
        let head = String(decoding: UnsafeRawBufferPointer(rebasing: input[inputStart..<(inputStart + headEnd!)]), as: UTF8.self)
        inputStart += headEnd!
        let lines = head.components(separatedBy: "\r\n")
        let status = lines[0].split(separator: " ")
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), status[1] == "101" else {
            throw BenchError("the WebSocket upgrade was answered \(lines[0])")
        }
        let upgradesToWebSocket = lines.dropFirst().contains { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "upgrade"
                && parts[1].trimmingCharacters(in: .whitespaces).lowercased() == "websocket"
        }
        guard upgradesToWebSocket else { throw BenchError("the 101 reply to the WebSocket upgrade has no Upgrade: websocket") }
    }

    // MARK: Waiting (connection setup only)

    /// Polls the socket for `events` until `deadline`.
    private func wait(for events: Int16, until deadline: UInt64, doing what: String) throws(BenchError) {
        while true {
            let now = monotonicNanos()
            guard now < deadline else { throw BenchError("\(what) did not finish in time") }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw BenchError("poll: \(String(cString: strerror(errno)))") }
        }
    }

    /// Writes everything queued, waiting until `deadline`.
    func flush(until deadline: UInt64) throws(BenchError) {
        while flush() {
            try wait(for: Int16(POLLOUT), until: deadline, doing: "writing to the relay")
        }
        if let closedReason { throw BenchError(closedReason) }
    }

    /// The next whole binary message, waiting until `deadline`.
    func awaitMessage(until deadline: UInt64) throws(BenchError) -> [UInt8] {
        while true {
            if let message = try nextMessage() { return message }
            try flush(until: deadline)  // a pong or close this read queued
            try wait(for: Int16(POLLIN), until: deadline, doing: "waiting for the relay")
            guard receive() else { throw BenchError(closedReason ?? "closed") }
        }
    }

    // MARK: Reading

    /// Reads what the socket holds (one read while it fills the buffer). False once the
    /// connection has ended.
    @discardableResult
    func receive() -> Bool {
        guard closedReason == nil else { return false }
        while true {
            reserveInput(16 << 10)
            let space = input.count - inputEnd
            let count = read(fd, input.baseAddress! + inputEnd, space)
            if count > 0 {
                inputEnd += count
                if count < space { return true }
                continue
            }
            if count == 0 {
                end("the relay closed the TCP connection")
                return false
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return true
            default:
                end("read: \(String(cString: strerror(errno)))")
                return false
            }
        }
    }

    /// Makes room for `bytes` more after `inputEnd`: moves unparsed bytes to the front, then grows.
    private func reserveInput(_ bytes: Int) {
        if inputStart == inputEnd { inputStart = 0; inputEnd = 0 }
        guard input.count - inputEnd < bytes else { return }
        let unparsed = inputEnd - inputStart
        if inputStart > 0 {
            input.baseAddress!.copyMemory(from: input.baseAddress! + inputStart, byteCount: unparsed)
            inputStart = 0
            inputEnd = unparsed
        }
        if input.count - inputEnd < bytes {
            var capacity = input.count
            while capacity - inputEnd < bytes { capacity *= 2 }
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
            grown.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: unparsed)
            input.deallocate()
            input = grown
        }
    }

    /// Parses buffered frames up to the next whole binary message, answering pings and a close
    /// on the way; nil when no whole message is buffered. A frame a relay must not send (masked,
    /// reserved bits, text, an unknown opcode, a stray continuation) ends the connection and throws.
    func nextMessage() throws(BenchError) -> [UInt8]? {
        while true {
            let available = inputEnd - inputStart
            guard available >= 2 else { return nil }
            let frame = UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd])
            let first = frame[0], second = frame[1]
            guard second & 0x80 == 0 else { throw fail("a masked frame from the relay") }
            guard first & 0x70 == 0 else { throw fail("a frame with reserved bits set") }
            var header = 2
            var length = UInt64(second & 0x7f)
            if length == 126 {
                guard available >= 4 else { return nil }
                length = UInt64(frame[2]) << 8 | UInt64(frame[3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { return nil }
                length = (2..<10).reduce(UInt64(0)) { $0 << 8 | UInt64(frame[$1]) }
                header = 10
            }
            guard length <= UInt64(Int32.max) else { throw fail("a frame of \(length) bytes") }
            let total = header + Int(length)
            guard available >= total else {
                reserveInput(total - available)
                return nil
            }
            let payload = UnsafeRawBufferPointer(rebasing: frame[header..<total])
            inputStart += total
            let fin = first & 0x80 != 0
            switch first & 0x0f {
            case 0x2:
                guard fragments == nil else { throw fail("a new message inside a fragmented one") }
                if fin { return Array(payload) }
                fragments = Array(payload)
            case 0x0:
                guard fragments != nil else { throw fail("a continuation outside a message") }
                fragments!.append(contentsOf: payload)
                if fin, let message = fragments {
                    fragments = nil
                    return message
                }
            case 0x8:
                // Echo the relay's close code, then drop the socket.
                queueFrame(opcode: 0x8, payload: UnsafeRawBufferPointer(rebasing: payload.prefix(2)))
                closeSent = true
                _ = flush()
                let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                end("the relay closed the WebSocket (code \(code))")
                return nil
            case 0x9:
                guard fin else { throw fail("a fragmented ping") }
                queueFrame(opcode: 0xA, payload: payload)
            case 0xA:
                break
            case 0x1:
                throw fail("a text message")
            default:
                throw fail("a frame with opcode \(first & 0x0f)")
            }
        }
    }

    // MARK: Writing

    /// Queues `message` as one masked binary frame and writes what the socket takes now; the
    /// rest waits for `flush()`. False once the connection has ended.
    @discardableResult
    func sendBinary(_ message: [UInt8]) -> Bool {
        guard closedReason == nil else { return false }
        message.withUnsafeBytes { queueFrame(opcode: 0x2, payload: $0) }
        _ = flush()
        return closedReason == nil
    }

    /// Writes queued bytes until done or the socket would block; true while some remain.
    func flush() -> Bool {
        while outputStart < output.count && closedReason == nil {
            let written = output.withUnsafeBytes { bytes in
                write(fd, bytes.baseAddress! + outputStart, bytes.count - outputStart)
            }
            if written > 0 {
                outputStart += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true
            } else {
                end("write: \(String(cString: strerror(errno)))")
            }
        }
        output.removeAll(keepingCapacity: true)
        outputStart = 0
        return false
    }

    /// Appends one final frame with a fresh masking key (RFC 6455 §5.3) to the output.
    private func queueFrame(opcode: UInt8, payload: UnsafeRawBufferPointer) {
        output.append(0x80 | opcode)
        let count = payload.count
        if count < 126 {
            output.append(0x80 | UInt8(count))
        } else if count <= Int(UInt16.max) {
            output.append(0x80 | 126)
            output.append(contentsOf: [UInt8(count >> 8), UInt8(truncatingIfNeeded: count)])
        } else {
            output.append(0x80 | 127)
            output.append(contentsOf: (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(count) >> (8 * $0)) })
        }
        maskState ^= maskState << 13
        maskState ^= maskState >> 7
        maskState ^= maskState << 17
        let key = UInt32(truncatingIfNeeded: maskState)
        withUnsafeBytes(of: key) { output.append(contentsOf: $0) }
        let start = output.count
        output.append(contentsOf: payload)
        output.withUnsafeMutableBytes { bytes in
            let body = bytes.baseAddress! + start
            // Eight bytes at a time: both halves of `wide` hold the key in memory order.
            let wide = UInt64(key) | UInt64(key) << 32
            var offset = 0
            while offset + 8 <= count {
                let word = body.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                body.storeBytes(of: word ^ wide, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            let keyBytes = bytes.baseAddress! + start - 4
            while offset < count {
                let byte = body.load(fromByteOffset: offset, as: UInt8.self) ^ keyBytes.load(fromByteOffset: offset & 3, as: UInt8.self)
                body.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
                offset += 1
            }
        }
    }

    // MARK: Ending

    /// Sends a close (1000) if none was sent, writes what the socket takes at once, and closes it.
    func close() {
        guard closedReason == nil else { return }
        if !closeSent {
            withUnsafeBytes(of: UInt16(1000).bigEndian) { queueFrame(opcode: 0x8, payload: $0) }
            closeSent = true
            _ = flush()
        }
        end("closed by the benchmark")
    }

    private func end(_ reason: String) {
        guard closedReason == nil else { return }
        closedReason = reason
        Glibc.close(fd)
    }

    private func fail(_ what: String) -> BenchError {
        end("the relay sent \(what); connection closed")
        return BenchError(closedReason!)
    }
}
