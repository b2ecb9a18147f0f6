import CaucusProtocol

/// Where a connection's frames go: a WebSocket (`WebSocketRelayTransport`) or, in the fuzz
/// targets, a list. Every call returns at once; the frames are written in the order they were
/// handed over, each `send` with one flush.
package protocol RelayTransport: AnyObject, Sendable {
    /// Queues frames for the peer; false once the connection is closed (nothing is queued).
    @discardableResult
    func send(_ frames: [WireServerFrame]) -> Bool

    /// Returns once the peer has read enough of what was sent that more may be queued (at once
    /// when it has, or when the connection is closed). Pushes wait on it, so a device that
    /// stops reading costs a bounded amount of memory.
    func writable() async

    /// Whether the peer has read enough that more may be queued now (what `writable()` waits for).
    var isWritable: Bool { get }

    /// Reading from the peer may go on: the connection's queue of frames that wait for their
    /// turn has room again.
    func resumeReading()

    /// Sends a WebSocket close with `code` and `reason`, then closes the connection.
    func close(code: UInt16, reason: String)

    /// Every frame queued from now on is padded to its size class (Protocol.md §7.1): the
    /// client's `Hello` asked for it.
    func padFrames()
}

extension RelayTransport {
    @discardableResult
    func send(_ frame: WireServerFrame) -> Bool { send([frame]) }
}

/// WebSocket close codes the relay sends (RFC 6455 §7.4.1).
enum CloseCode {
    static let goingAway: UInt16 = 1001
    static let protocolError: UInt16 = 1002
    static let policyViolation: UInt16 = 1008
    static let tryAgainLater: UInt16 = 1013
}
