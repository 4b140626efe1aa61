import Synchronization

/// A token bucket per client address (`rate_limit` requests a second, `rate_limit_burst` at
/// once), in a fixed table: memory does not grow with the number of clients. Two addresses
/// that land in one slot share a bucket; with 65,536 slots that is rare, and it can only make
/// the limit stricter for them, never lift it.
final class ClientRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double = 0
        var updated: Double = 0
    }

    private static let shardCount = 16
    private static let slotsPerShard = 4096
    private let rate: Double
    private let burst: Double
    private final class Shard: Sendable {
        let buckets = Mutex([Bucket](repeating: Bucket(), count: ClientRateLimiter.slotsPerShard))
    }

    private let shards: [Shard]

    init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// Takes one token for `client` at `now`; nil when allowed, else the whole seconds until a
    /// token is back (for `Retry-After`).
    func admit(_ client: String, now: Double) -> Int? {
        let h = client.hashValue
        let shard = Int(UInt(bitPattern: h) % UInt(Self.shardCount))
        let slot = Int((UInt(bitPattern: h) / UInt(Self.shardCount)) % UInt(Self.slotsPerShard))
        return shards[shard].buckets.withLock { buckets -> Int? in
            var b = buckets[slot]
            if b.updated == 0 {
                b = Bucket(tokens: burst, updated: now)
            } else {
                b.tokens = min(burst, b.tokens + max(0, now - b.updated) * rate)
                b.updated = now
            }
            defer { buckets[slot] = b }
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            let wait = ((1 - b.tokens) / rate).rounded(.up)
            return wait.isFinite ? Int(min(max(wait, 1), 86_400)) : 1
        }
    }
}
