import HTTPCaching
import NIOHTTP1
import Synchronization

/// The memory tier: stored variants by primary key, a byte budget that is never exceeded, and
/// an eviction policy that picks what goes when it is full. Every call is thread-safe and short:
/// one lock, no I/O, no allocation of bodies (they are shared `ByteBuffer`s).
public final class MemoryStore: Sendable {
    public struct Stats: Sendable, Equatable {
        public var objects = 0
        public var bytes = 0
        public var evictions = 0
        /// Objects the policy declined to admit.
        public var rejected = 0
        public var budget = 0
        /// Lookups answered.
        public var hits = 0
    }

    private struct State {
        var variants: [CacheKey: Variants] = [:]
        var nextVariant = 0
        var policy: any EvictionPolicy
        var stats = Stats()
    }

    private let state: Mutex<State>
    public let budget: Int
    /// Variants of one key at most: a client sending a new value of a `Vary`-named header with
    /// every request replaces the oldest variant rather than filling the cache with one URL.
    public let maxVariants: Int

    public init(budget: Int, policy: any EvictionPolicy = S3FIFOPolicy(), maxVariants: Int = 16) {
        self.budget = budget
        self.maxVariants = max(1, maxVariants)
        var s = State(policy: policy)
        s.stats.budget = budget
        state = Mutex(s)
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// The stored variant that `requestHeaders` select, and records the access.
    public func lookup(_ key: CacheKey, requestHeaders: HTTPHeaders) -> StoredResponse? {
        state.withLock { s in
            guard let variants = s.variants[key] else { return nil }
            for (id, v) in variants where v.vary.matches(requestHeaders) {
                s.policy.accessed(EntryID(key: key, variant: id))
                s.stats.hits += 1
                return v
            }
            return nil
        }
    }

    /// Stores a response, replacing the variant with the same selector. Evicts first so that the
    /// budget is never exceeded; a response larger than the whole budget is not stored.
    /// Returns whether it was stored.
    @discardableResult
    public func insert(_ key: CacheKey, _ response: StoredResponse) -> Bool {
        let cost = Self.cost(key, response)
        guard cost <= budget else { return false }
        return state.withLock { s in
            if let existing = s.variants[key]?.first(where: { $0.value.vary == response.vary }) {
                Self.remove(&s, EntryID(key: key, variant: existing.key))
            } else if let variants = s.variants[key], variants.count >= maxVariants, let oldest = variants.keys.min() {
                Self.remove(&s, EntryID(key: key, variant: oldest))
                s.stats.evictions += 1
            } else if !s.policy.admit(EntryID(key: key, variant: s.nextVariant), cost: cost), s.stats.bytes + cost > budget {
                // Admission only matters when something would have to go to make room.
                s.stats.rejected += 1
                return false
            }
            while s.stats.bytes + cost > budget, let victim = s.policy.victim() {
                Self.remove(&s, victim)
                s.stats.evictions += 1
            }
            let id = s.nextVariant
            s.nextVariant += 1
            s.variants[key, default: Variants()][id] = response
            s.policy.inserted(EntryID(key: key, variant: id), cost: cost)
            s.stats.objects += 1
            s.stats.bytes += cost
            return true
        }
    }

    /// Replaces the stored variant with `selector` by what `update` makes of it (a 304 refresh).
    /// Returns the updated response, or nil if it is no longer stored.
    public func update(_ key: CacheKey, vary selector: VarySelector, _ update: (inout StoredResponse) -> Void) -> StoredResponse? {
        state.withLock { s in
            guard let (id, old) = s.variants[key]?.first(where: { $0.value.vary == selector }) else { return nil }
            var new = old
            update(&new)
            s.variants[key]?[id] = new
            s.stats.bytes += Self.cost(key, new) - Self.cost(key, old)
            s.policy.accessed(EntryID(key: key, variant: id))
            return new
        }
    }

    /// Removes every variant of `key`; returns how many.
    @discardableResult
    public func remove(_ key: CacheKey) -> Int {
        state.withLock { s in
            let ids = s.variants[key]?.keys ?? []
            for id in ids { Self.remove(&s, EntryID(key: key, variant: id)) }
            return ids.count
        }
    }

    /// Purges every variant the selector matches: removed (hard) or made stale so the next
    /// request revalidates while stale-if-error / stale-while-revalidate still apply (soft).
    /// Returns how many variants.
    public func purge(_ selector: PurgeSelector, soft: Bool, now: Double) -> Int {
        state.withLock { s in
            var matched: [EntryID] = []
            let site = selector.site.map(CacheKey.Origin.sitePrefix)
            for (key, variants) in s.variants where site.map({ key.value.hasPrefix($0) }) ?? true {
                for (id, r) in variants where selector.matches(path: key.path, tags: r.tags) {
                    matched.append(EntryID(key: key, variant: id))
                }
            }
            for id in matched {
                if soft {
                    guard var r = s.variants[id.key]?[id.variant] else { continue }
                    r.freshness.lifetime = min(r.freshness.lifetime, r.freshness.age(at: now))
                    s.variants[id.key]?[id.variant] = r
                } else {
                    Self.remove(&s, id)
                }
            }
            return matched.count
        }
    }

    private static func remove(_ s: inout State, _ id: EntryID) {
        guard let r = s.variants[id.key]?.removeValue(forKey: id.variant) else {
            s.policy.removed(id)
            return
        }
        if s.variants[id.key]?.isEmpty == true { s.variants[id.key] = nil }
        s.policy.removed(id)
        s.stats.objects -= 1
        s.stats.bytes -= cost(id.key, r)
    }

    /// What an entry costs the budget: the response, and the key and Vary values it is found by
    /// (a hostile client chooses those, so they count too).
    public static func cost(_ key: CacheKey, _ r: StoredResponse) -> Int {
        r.cost + key.path.utf8.count + r.vary.values.reduce(0) { $0 + $1.utf8.count + 16 }
    }
}

/// The variants of one key, in the order they were stored: a small array (at most
/// `maxVariants`, nearly always one), which costs an object far less than a dictionary would.
struct Variants: Sequence {
    private var entries: [(key: Int, value: StoredResponse)] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var keys: [Int] { entries.map(\.key) }

    subscript(id: Int) -> StoredResponse? {
        get { entries.first { $0.key == id }?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key == id }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((id, newValue))
            }
        }
    }

    mutating func removeValue(forKey id: Int) -> StoredResponse? {
        guard let i = entries.firstIndex(where: { $0.key == id }) else { return nil }
        return entries.remove(at: i).value
    }

    func makeIterator() -> IndexingIterator<[(key: Int, value: StoredResponse)]> { entries.makeIterator() }
}
