/// Which stored entry to evict next when the memory budget is full. The store tells the policy
/// about every insert, hit and removal; the policy only orders entries, the store owns them.
/// Implementations are O(1) per call. They are not thread-safe: the store calls them under its lock.
public protocol EvictionPolicy: Sendable {
    mutating func inserted(_ id: EntryID, cost: Int)
    mutating func accessed(_ id: EntryID)
    mutating func removed(_ id: EntryID)
    /// The entry to evict now, or nil when the policy tracks none. The store then calls `removed`.
    mutating func victim() -> EntryID?
}

/// One stored variant: the primary key plus the variant's selector index.
public struct EntryID: Hashable, Sendable {
    public var key: CacheKey
    public var variant: Int
    public init(key: CacheKey, variant: Int) {
        self.key = key
        self.variant = variant
    }
}

/// Least recently used, as the baseline: an intrusive doubly linked list over slot arrays, so no
/// allocation per access.
public struct LRUPolicy: EvictionPolicy {
    private var slots: [EntryID: Int] = [:]
    private var ids: [EntryID?] = []
    private var prev: [Int] = []
    private var next: [Int] = []
    private var free: [Int] = []
    private var head = -1  // most recent
    private var tail = -1  // least recent

    public init() {}

    public mutating func inserted(_ id: EntryID, cost: Int) {
        if let s = slots[id] { unlink(s); pushFront(s); return }
        let s: Int
        if let f = free.popLast() {
            s = f
            ids[s] = id
        } else {
            s = ids.count
            ids.append(id)
            prev.append(-1)
            next.append(-1)
        }
        slots[id] = s
        pushFront(s)
    }

    public mutating func accessed(_ id: EntryID) {
        guard let s = slots[id], s != head else { return }
        unlink(s)
        pushFront(s)
    }

    public mutating func removed(_ id: EntryID) {
        guard let s = slots.removeValue(forKey: id) else { return }
        unlink(s)
        ids[s] = nil
        free.append(s)
    }

    public mutating func victim() -> EntryID? {
        tail >= 0 ? ids[tail] : nil
    }

    private mutating func unlink(_ s: Int) {
        if prev[s] >= 0 { next[prev[s]] = next[s] } else { head = next[s] }
        if next[s] >= 0 { prev[next[s]] = prev[s] } else { tail = prev[s] }
        prev[s] = -1
        next[s] = -1
    }

    private mutating func pushFront(_ s: Int) {
        prev[s] = -1
        next[s] = head
        if head >= 0 { prev[head] = s }
        head = s
        if tail < 0 { tail = s }
    }
}
