// What the test proxies (StallingProxy, NamingSOCKSProxy) share: the pairs of sockets they pass
// bytes between, closed once both directions have ended, and all shut when the proxy stops.
import CaucusLock
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class ProxiedPairs: Sendable {
    private let state = Locked<(sockets: Set<Int32>, stopped: Bool)>(([], false))

    /// Whether `stop` was called.
    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Marks the proxy stopped and shuts `listener` and every socket it passes bytes between.
    func stop(listener: Int32) {
        let sockets = state.withLock { state -> Set<Int32> in
            state.stopped = true
            return state.sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Accepts connections on `listener` and gives each to `handle`, until `stop` (or an error of
    /// the listener) ends it; then the listener is closed.
    func accept(on listener: Int32, _ handle: (Int32) -> Void) {
        while true {
            let client = Glibc.accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                close(listener)
                return
            }
            guard !isStopped else {
                close(client)
                close(listener)
                return
            }
            handle(client)
        }
    }

    /// Starts keeping a client's socket and the one it is connected to.
    func add(_ client: Int32, _ upstream: Int32) { state.withLock { $0.sockets.formUnion([client, upstream]) } }

    /// Shuts both sockets, so that the other direction's thread ends too; the second caller closes them.
    func finish(_ client: Int32, _ upstream: Int32) {
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
        let last = state.withLock { state -> Bool in
            guard state.sockets.contains(client) else { return true }
            state.sockets.remove(client)
            return false
        }
        if last {
            state.withLock { _ = $0.sockets.remove(upstream) }
            close(client)
            close(upstream)
        }
    }

    /// Passes what arrives on `source` to `destination` until either side ends.
    static func copy(from source: Int32, to destination: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0, Loopback.send(Array(chunk[..<count]), to: destination) else { return }
        }
    }
}
