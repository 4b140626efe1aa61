import Foundation

/// A synthetic cache workload: object popularity from a Zipf distribution, object sizes from a
/// log-normal one, all from a seed so a run can be repeated exactly. The same generator drives
/// the policy simulator in the tests and `outpost bench` against real edges.
public struct Workload: Sendable {
    public struct Parameters: Sendable, Equatable {
        public var objects: Int
        public var alpha: Double
        /// Median object size in bytes (the log-normal's e^mu).
        public var medianSize: Double
        /// The log-normal's sigma.
        public var sizeSigma: Double
        public var seed: UInt64
        /// Every `shiftEvery` requests the popularity ranking rotates by `shiftBy` objects
        /// (0: a fixed popular set).
        public var shiftEvery: Int
        public var shiftBy: Int

        public init(objects: Int = 100_000, alpha: Double = 0.8, medianSize: Double = 20_480, sizeSigma: Double = 1.0,
                    seed: UInt64 = 42, shiftEvery: Int = 0, shiftBy: Int = 0) {
            self.objects = objects
            self.alpha = alpha
            self.medianSize = medianSize
            self.sizeSigma = sizeSigma
            self.seed = seed
            self.shiftEvery = shiftEvery
            self.shiftBy = shiftBy
        }
    }

    public let parameters: Parameters
    /// Size of each object id.
    public let sizes: [Int]
    private let cdf: [Double]

    public init(_ p: Parameters) {
        parameters = p
        var rng = SplitMix64(seed: p.seed)
        sizes = (0..<p.objects).map { _ in
            // Box–Muller: a standard normal from two uniforms.
            let u1 = max(rng.nextUnit(), 1e-12), u2 = rng.nextUnit()
            let z = sqrt(-2 * log(u1)) * cos(2 * .pi * u2)
            return max(64, Int(p.medianSize * exp(p.sizeSigma * z)))
        }
        var weights = (1...p.objects).map { 1 / pow(Double($0), p.alpha) }
        let total = weights.reduce(0, +)
        var acc = 0.0
        for i in weights.indices {
            acc += weights[i] / total
            weights[i] = acc
        }
        cdf = weights
    }

    public var uniqueBytes: Int { sizes.reduce(0, +) }

    /// The object ids of `count` requests.
    public func requests(_ count: Int, seed: UInt64? = nil) -> [Int] {
        var rng = SplitMix64(seed: (seed ?? parameters.seed) &+ 0x9E37_79B9)
        let p = parameters
        return (0..<count).map { i in
            let u = rng.nextUnit()
            var lo = 0, hi = cdf.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
            }
            // Rank `lo` maps to an object id; shifting moves which ids are popular.
            let shift = p.shiftEvery > 0 ? (i / p.shiftEvery) * p.shiftBy : 0
            return (lo + shift) % p.objects
        }
    }
}

/// A small, fast, seedable generator (SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Replays a workload through an eviction policy with the memory store's rules (a byte budget,
/// evict before insert, admission as the policy says) and counts hits. No sockets, no bodies.
public enum PolicySimulator {
    public struct Result: Sendable, CustomStringConvertible {
        public var requests = 0
        public var hits = 0
        public var bytes = 0
        public var hitBytes = 0
        /// Misses the policy declined to store.
        public var rejected = 0
        public var objectHitRatio: Double { requests == 0 ? 0 : Double(hits) / Double(requests) }
        public var byteHitRatio: Double { bytes == 0 ? 0 : Double(hitBytes) / Double(bytes) }
        public var description: String { String(format: "object hit ratio %.3f, byte hit ratio %.3f (%d not admitted)", objectHitRatio, byteHitRatio, rejected) }
    }

    /// Runs `requests`; the first `warmup` are not counted. With `disk`, a disk tier of that
    /// many bytes lies under memory as the edge's does: every object fetched is written to it
    /// (least recently used goes), and a memory miss found there is a hit, put back in memory.
    public static func run(policy: some EvictionPolicy, budget: Int, disk: Int? = nil, workload: Workload, requests: [Int], warmup: Int = 0) -> Result {
        var policy = policy
        var stored: [Int: Int] = [:]  // id -> cost
        var used = 0
        var r = Result()
        var diskLRU = LRUPolicy()
        var onDisk: [Int: Int] = [:]
        var diskUsed = 0
        let keys = (0..<workload.sizes.count).map { CacheKey(scheme: "http", authority: "sim", pathAndQuery: "/\($0)") }
        for (i, id) in requests.enumerated() {
            let size = workload.sizes[id]
            let entry = EntryID(key: keys[id], variant: 0)
            let counted = i >= warmup
            if counted {
                r.requests += 1
                r.bytes += size
            }
            if stored[id] != nil {
                policy.accessed(entry)
                if counted {
                    r.hits += 1
                    r.hitBytes += size
                }
                continue
            }
            if let diskBudget = disk {
                if onDisk[id] != nil {
                    diskLRU.accessed(entry)
                    if counted {
                        r.hits += 1
                        r.hitBytes += size
                    }
                } else if size <= diskBudget {
                    while diskUsed + size > diskBudget, let victim = diskLRU.victim() {
                        diskLRU.removed(victim)
                        diskUsed -= onDisk.removeValue(forKey: Int(victim.key.path.dropFirst()) ?? -1) ?? 0
                    }
                    onDisk[id] = size
                    diskUsed += size
                    diskLRU.inserted(entry, cost: size)
                }
            }
            guard size <= budget, policy.admit(entry, cost: size) || used + size <= budget else {
                r.rejected += 1
                continue
            }
            while used + size > budget, let victim = policy.victim() {
                policy.removed(victim)
                used -= stored.removeValue(forKey: Int(victim.key.path.dropFirst())!) ?? 0
            }
            stored[id] = size
            used += size
            policy.inserted(entry, cost: size)
        }
        return r
    }
}
