import CacheStore
import ControlAPI
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The edge's side of the disk tier: what the memory tier stores is written to the disk store
/// too, off the event loops and within a bound (a disk that falls behind drops writes, counted,
/// rather than queueing bodies without end); memory misses, invalidations and purges go to it.
final class DiskTier: Sendable {
    let store: DiskStore
    private let clock: @Sendable () -> Double
    private let pending = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    /// Evicted bytes waiting to be written at most.
    static let maxPending = 64 << 20

    init(store: DiskStore, clock: @escaping @Sendable () -> Double) {
        self.store = store
        self.clock = clock
    }

    /// Writes a response just stored in memory, off the event loop. Past `maxPending` bytes
    /// waiting, it is dropped (counted): the memory copy still serves.
    func keep(_ key: CacheKey, _ r: StoredResponse) {
        let bytes = r.cost
        guard pending.wrappingAdd(bytes, ordering: .relaxed).newValue <= Self.maxPending else {
            pending.wrappingSubtract(bytes, ordering: .relaxed)
            dropped.wrappingAdd(1, ordering: .relaxed)
            return
        }
        let now = clock()
        NIOThreadPool.singleton.submit { [self] _ in
            store.put(key, r, now: now)
            pending.wrappingSubtract(bytes, ordering: .relaxed)
        }
    }

    var snapshot: StatsSnapshot.Disk {
        let s = store.stats
        return StatsSnapshot.Disk(objects: s.objects, bytes: s.bytes, budget: s.budget, hits: s.hits, writes: s.writes, evictions: s.evictions,
                                  corrupt: s.corrupt, dropped: dropped.load(ordering: .relaxed), loaded: s.loaded)
    }
}
