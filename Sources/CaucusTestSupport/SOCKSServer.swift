// A real SOCKS5 server from Debian (microsocks) on 127.0.0.1, and strace's record of every
// connect() a process makes: together they show that a client reached the relay only through
// the proxy, and that with the proxy down it connected nowhere else.
import Foundation

/// `microsocks` listening on 127.0.0.1 (scripts/test installs it).
public final class SOCKSServer: Sendable {
    public let port: Int
    private let process: ChildProcess

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "microsocks is not installed: apt-get install microsocks (scripts/test does)" }
    }

    /// Starts it on a free port and waits (at most `within`) until it accepts connections.
    public init(within limit: Duration = .seconds(20)) async throws {
        guard let binary = SyncTrace.executable(named: "microsocks") else { throw Missing() }
        port = try freeLoopbackPort()
        process = try ChildProcess(binary, ["-i", "127.0.0.1", "-p", "\(port)"], environment: [:])
        let port = port
        try await eventually("microsocks to listen on 127.0.0.1:\(port)", within: limit) {
            guard let fd = try? Loopback.connect(port: port) else { return false }
            close(fd)
            return true
        }
    }

    /// The address a client is given: socks5h://127.0.0.1:PORT.
    public var url: String { "socks5h://127.0.0.1:\(port)" }

    public func stop() { process.kill() }
}

/// `strace -f -e trace=connect` of a child process: where it tried to connect, by TCP port.
public struct ConnectTrace: Sendable {
    public let output: String

    public init(output: String) {
        self.output = output
    }

    /// The command that runs a program under this trace: put it before the program's path.
    public func launcher() throws -> [String] {
        guard let strace = SyncTrace.executable(named: "strace") else { throw SyncTrace.Missing() }
        return [strace, "-f", "-qq", "-e", "trace=connect", "-o", output]
    }

    /// Every IPv4 or IPv6 destination the process tried, as "ADDRESS:PORT" (Unix sockets left out).
    public func destinations() throws -> [String] {
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> String? in
            let line = String(line)
            guard line.contains("connect("), line.contains("AF_INET") else { return nil }
            let port = Self.field(line, after: "port=htons(", until: ")") ?? "?"
            let address = Self.field(line, after: "inet_addr(\"", until: "\"")
                ?? Self.field(line, after: "inet_pton(AF_INET6, \"", until: "\"") ?? "?"
            return "\(address):\(port)"
        }
    }

    private static func field(_ line: String, after start: String, until end: String) -> String? {
        guard let from = line.range(of: start), let to = line.range(of: end, range: from.upperBound..<line.endIndex) else { return nil }
        return String(line[from.upperBound..<to.lowerBound])
    }
}
