import CaucusLock
import Foundation

/// Token buckets, one per device key, shared by all of that key's connections.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Locked<[Data: Bucket]>([:])

    init(ratePerSecond: Double, burst: Double) {
        self.rate = ratePerSecond
        self.burst = burst
    }

    /// Takes one token for `key`; when there is none, returns how long until there is one.
    func take(_ key: Data, now: ContinuousClock.Instant = .now) -> Duration? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[key] = bucket
                return nil
            }
            buckets[key] = bucket
            return .milliseconds(Int64(((1 - bucket.tokens) / rate * 1000).rounded(.up)))
        }
    }

    /// Forgets buckets that have been full for a while (called by the sweeper).
    func prune(now: ContinuousClock.Instant = .now) {
        buckets.withLock { buckets in
            let idle = Duration.seconds(burst / max(rate, 0.001) + 60)
            buckets = buckets.filter { now - $0.value.updated < idle }
        }
    }
}
