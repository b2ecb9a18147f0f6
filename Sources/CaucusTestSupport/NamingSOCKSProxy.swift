// A SOCKS5 server (RFC 1928, no authentication, CONNECT) that resolves only the names it is told,
// such as an onion address, to ports of 127.0.0.1, and records every name it was asked for: what
// Tor does for a client that reaches an onion service, without the Tor network. A client that
// resolved the name itself, or asked for an address, is refused (reply 4, host unreachable).
import CaucusLock
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class NamingSOCKSProxy: Sendable {
    private struct State {
        var names: [String: Int] = [:]
        var asked: [String] = []
    }

    /// The port it listens on.
    public let port: Int
    /// The address a client is given.
    public var url: String { "socks5h://127.0.0.1:\(port)" }
    private let listener: Int32
    private let state = Locked(State())
    private let pairs = ProxiedPairs()

    /// Starts listening on a free port of 127.0.0.1; `names` maps each name it resolves to a port.
    public init(names: [String: Int]) throws {
        (listener, port) = try Loopback.bind(listening: 64)
        state.withLock { $0.names = names }
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Every destination clients asked for, in order: "NAME:PORT", or "ADDRESS:PORT" for a
    /// request that named an IP address.
    public var asked: [String] { state.withLock { $0.asked } }

    /// Closes the listener and every connection.
    public func stop() { pairs.stop(listener: listener) }

    private func acceptLoop() {
        pairs.accept(on: listener) { client in Thread.detachNewThread { [self] in serve(client) } }
    }

    /// The handshake, then the bytes both ways.
    private func serve(_ client: Int32) {
        // Greeting: VER 5, NMETHODS, METHODS; this server takes "no authentication" (0).
        guard let greeting = Self.read(2, from: client), greeting[0] == 5,
              let methods = Self.read(Int(greeting[1]), from: client), methods.contains(0),
              Loopback.send([5, 0], to: client),
              // Request: VER 5, CMD 1 (CONNECT), RSV, ATYP, address, port.
              let head = Self.read(4, from: client), head[0] == 5, head[1] == 1
        else { close(client); return }
        var destination: String?
        switch head[3] {
        case 3:
            guard let length = Self.read(1, from: client), let name = Self.read(Int(length[0]), from: client) else { close(client); return }
            destination = String(decoding: name, as: UTF8.self)
        case 1:
            guard let address = Self.read(4, from: client) else { close(client); return }
            destination = address.map(String.init).joined(separator: ".")
        default:
            guard head[3] == 4, Self.read(16, from: client) != nil else { close(client); return }
            destination = "IPv6"
        }
        guard let destination, let portBytes = Self.read(2, from: client) else { close(client); return }
        let requestedPort = Int(portBytes[0]) << 8 | Int(portBytes[1])
        let target = state.withLock { state -> Int? in
            state.asked.append("\(destination):\(requestedPort)")
            return head[3] == 3 ? state.names[destination] : nil
        }
        guard let target, let upstream = try? Loopback.connect(port: target) else {
            _ = Loopback.send([5, 4, 0, 1, 0, 0, 0, 0, 0, 0], to: client)
            close(client)
            return
        }
        guard Loopback.send([5, 0, 0, 1, 127, 0, 0, 1, 0, 0], to: client) else {
            close(upstream)
            close(client)
            return
        }
        pairs.add(client, upstream)
        Thread.detachNewThread { [pairs] in
            ProxiedPairs.copy(from: client, to: upstream)
            pairs.finish(client, upstream)
        }
        ProxiedPairs.copy(from: upstream, to: client)
        pairs.finish(client, upstream)
    }

    private static func read(_ count: Int, from fd: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes[done...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { return nil }
            done += got
        }
        return bytes
    }
}
