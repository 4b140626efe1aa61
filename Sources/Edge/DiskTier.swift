import CacheStore
import ControlAPI
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The edge's side of the disk tier: what the memory tier stores is written to the disk store
/// too, on the tier's own threads and within a bound (a disk that falls behind drops writes,
/// counted, rather than queueing bodies without end); memory misses, invalidations and purges
/// go to it. Purges and invalidations bump a generation, so that a disk read that started
/// before one is not put back into memory after it.
final class DiskTier: Sendable {
    let store: DiskStore
    /// Disk reads and writes: threads of their own, so a slow disk never holds up the pushes
    /// and the asset pipeline on NIO's shared pool.
    let pool: NIOThreadPool
    private let pending = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let generation = Atomic<UInt64>(0)
    /// Bytes waiting to be written at most.
    static let maxPending = 64 << 20

    init(store: DiskStore) {
        self.store = store
        pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
    }

    var currentGeneration: UInt64 { generation.load(ordering: .acquiring) }

    /// Writes a response just stored in memory. Past `maxPending` bytes waiting it is dropped
    /// (counted), and any older copy on disk is forgotten: the memory copy still serves.
    func keep(_ key: CacheKey, _ r: StoredResponse) {
        let bytes = r.cost
        let storedAt = r.freshness.responseTime
        guard pending.wrappingAdd(bytes, ordering: .relaxed).newValue <= Self.maxPending else {
            pending.wrappingSubtract(bytes, ordering: .relaxed)
            dropped.wrappingAdd(1, ordering: .relaxed)
            store.forget(key, at: storedAt)
            return
        }
        pool.submit { [self] _ in
            store.put(key, r, storedAt: storedAt)
            pending.wrappingSubtract(bytes, ordering: .relaxed)
        }
    }

    /// An unsafe method's success, or a push over a pulled copy: the key's file goes.
    func invalidate(_ key: CacheKey, now: Double) {
        generation.wrappingAdd(1, ordering: .releasing)
        store.forget(key, at: now)
        pool.submit { [store] _ in store.remove(key, at: now) }
    }

    /// A purge: banned at once, the ban saved off the event loop.
    func purge(_ selector: PurgeSelector, now: Double) {
        generation.wrappingAdd(1, ordering: .releasing)
        store.ban(selector, now: now)
        pool.submit { [store] _ in store.saveBans() }
    }

    func shutdown() async { try? await pool.shutdownGracefully() }

    var snapshot: StatsSnapshot.Disk {
        let s = store.stats
        return StatsSnapshot.Disk(objects: s.objects, bytes: s.bytes, budget: s.budget, hits: s.hits, writes: s.writes, evictions: s.evictions,
                                  corrupt: s.corrupt, dropped: dropped.load(ordering: .relaxed), loaded: s.loaded)
    }
}
