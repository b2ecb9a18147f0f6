// Facts about this machine that tests, benchmarks and the soak read: a free port, a process's memory.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that nothing listens on now (bound and released).
public func freeLoopbackPort() throws -> Int {
    let (fd, port) = try Loopback.bind()
    close(fd)
    return port
}

/// A port on 127.0.0.1 that this process listens on until `release()`, so that nothing else can.
public final class HeldLoopbackPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try Loopback.bind(listening: 1)
    }

    public func release() { close(fd) }
}

/// A process's resident set size in KiB (VmRSS of /proc/PID/status, this process by default);
/// nil where there is none.
public func residentKiB(process: String = "self") -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.dropFirst("VmRSS:".count).filter(\.isNumber))
    }
    return nil
}
