// Plain sockets on 127.0.0.1 for the test tools that speak TCP themselves (RawWebSocket,
// StallingProxy, freeLoopbackPort), and the WebSocket frame header both of those read.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum Loopback {
    /// 127.0.0.1:`port` (0: any free port, for bind).
    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    /// A TCP socket connected to 127.0.0.1:`port`, after `configure` ran on it (socket options);
    /// throws the connect error.
    static func connect(port: Int, configure: (Int32) -> Void = { _ in }) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        configure(fd)
        var address = address(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            let code = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .ECONNREFUSED)
        }
        return fd
    }

    /// A TCP socket bound to a free port of 127.0.0.1, listening when `backlog` is given; throws
    /// the bind or listen error.
    static func bind(listening backlog: Int32? = nil) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
                    && (backlog.map { listen(fd, $0) == 0 } ?? true)
            }
        }
        guard bound else {
            let code = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EADDRINUSE)
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Sends all of `bytes` (no SIGPIPE); false when the socket refused.
    static func send(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }
}

/// Where a WebSocket frame at the start of some bytes has its payload, and how long it is (RFC 6455
/// §5.2); nil until the whole frame has arrived.
struct WebSocketFrameBounds {
    let payloadStart: Int
    let payloadLength: Int
    var frameLength: Int { payloadStart + payloadLength }

    init?(_ bytes: ArraySlice<UInt8>) {
        let base = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        var length = Int(bytes[base + 1] & 0x7f)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[base + 2]) << 8 | Int(bytes[base + 3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = bytes[(base + 2)..<(base + 10)].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        if bytes[base + 1] & 0x80 != 0 { offset += 4 }
        guard bytes.count >= offset + length else { return nil }
        payloadStart = offset
        payloadLength = length
    }
}
