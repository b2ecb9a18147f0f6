/// How long the client waits for a relay before giving up with an error that names it
/// (Protocol.md §7.13).
public struct RelayTimeouts: Sendable, Equatable {
    /// Socket, TLS, WebSocket upgrade, Hello and Authenticate, together.
    public var handshake: Duration
    /// One request's reply, after login.
    public var request: Duration

    /// 15 seconds for the handshake, 30 seconds for each reply.
    public static let standard = RelayTimeouts(handshake: .seconds(15), request: .seconds(30))

    /// Timeouts of the given lengths.
    public init(handshake: Duration, request: Duration) {
        self.handshake = handshake
        self.request = request
    }
}
