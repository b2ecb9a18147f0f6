import CaucusLock
import Foundation

/// Token buckets, one per device key, shared by all of that key's connections.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// The last take was refused.
        var refusing = false
    }

    /// A refused take: how long until there is a token, and whether the take before it succeeded
    /// (the first refusal of a run, which the relay logs; the rest of the run it does not).
    struct Refusal {
        let wait: Duration
        let first: Bool
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Locked<[Data: Bucket]>([:])

    init(ratePerSecond: Double, burst: Double) {
        self.rate = ratePerSecond
        self.burst = burst
    }

    /// Takes one token for `key`; when there is none, returns the refusal.
    func take(_ key: Data, now: ContinuousClock.Instant = .now) -> Refusal? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                bucket.refusing = false
                buckets[key] = bucket
                return nil
            }
            let first = !bucket.refusing
            bucket.refusing = true
            buckets[key] = bucket
            return Refusal(wait: .milliseconds(Int64(((1 - bucket.tokens) / rate * 1000).rounded(.up))), first: first)
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
