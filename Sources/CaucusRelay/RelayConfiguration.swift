import Foundation

/// Everything an operator can set on a relay. Defaults suit one volunteer's small server.
public struct RelayConfiguration: Sendable {
    /// Host to listen on.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (tests).
    public var port: Int = 8080
    /// Host of the operators' listener, which serves `/metrics` (and `/healthz`); loopback unless
    /// the operator's scraper is elsewhere.
    public var metricsHost: String = "127.0.0.1"
    /// Port of the operators' listener; nil: none (the clients' port never serves `/metrics`).
    public var metricsPort: Int?
    /// The addresses clients may sign in authentication (`ws://host:port`, `wss://name`), as
    /// `RelayProtocol.normalizedAddress` writes them. Empty: the listen address.
    public var publicAddresses: [String] = []

    /// The largest WebSocket message the relay reads; larger ones are refused with FRAME_TOO_LARGE.
    public var maxFrameBytes: Int = 1 << 20
    /// The largest message payload.
    public var maxPayloadBytes: Int = 512 << 10
    /// Recipients named in one send.
    public var maxRecipients: Int = 1_000
    /// The largest blob chunk in one frame.
    public var maxBlobChunkBytes: Int = 256 << 10
    /// Limits the store enforces (mailbox size, blob size and quota, prekeys stored).
    public var storeLimits = StoreLimits()

    /// How long undelivered messages and blobs are kept unless the sender asks for less.
    public var defaultTTLSeconds: UInt32 = 30 * 24 * 3600
    /// The longest time a sender may ask for.
    public var maxTTLSeconds: UInt32 = 30 * 24 * 3600
    /// How often expired data is removed.
    public var expirySweepSeconds: Double = 60
    /// `/metrics` reads the store's figures (counts, backlog, sizes) at most this often.
    public var storeStatisticsSeconds: Double = 10
    /// How often the devices connected here are checked against the store's bans, so that a
    /// device banned while connected is closed (`caucus-relay ban`, Protocol.md §7.3).
    public var banCheckSeconds: Double = 5
    /// With a store shared by several instances: how often connected devices are checked for
    /// deliveries whose notice from another instance was missed.
    public var deliveryCatchUpSeconds: Double = 2

    /// Requests per second one device key may make (all its connections together), and the burst.
    public var rateLimitPerSecond: Double = 200
    public var rateLimitBurst: Double = 1_000
    /// Open connections at once.
    public var maxConnections: Int = 10_000
    /// Requests one connection may have in progress at once.
    public var maxInFlightPerConnection: Int = 64
    /// Seconds between the relay's WebSocket pings; a connection whose pong has not come by the
    /// next ping is closed (Protocol.md §7.1).
    public var pingIntervalSeconds: Double = 30
    /// Seconds a challenge stays valid.
    public var challengeLifetimeSeconds: Double = 60
    /// Seconds a connection may stay without authenticating before it is closed (1008).
    public var handshakeTimeoutSeconds: Double = 120
    /// Warn a device when it has fewer one-time prekeys than this.
    public var prekeyLowWatermark: Int = 10
    /// Messages accepted or acknowledgements in one commit at most. Under saturation every commit
    /// is full; a commit costs a sync and rewrites the index pages its rows share, so more per
    /// commit is more per second (256 gave about two thirds of 4096's rate at 100 busy pairs).
    public var maxCommitBatch: Int = 4_096

    public init() {}
}
