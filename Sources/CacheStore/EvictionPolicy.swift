/// Which stored entry to evict next when the memory budget is full. The store tells the policy
/// about every insert, hit and removal; the policy only orders entries, the store owns them.
/// Implementations are O(1) per call. They are not thread-safe: the store calls them under its lock.
public protocol EvictionPolicy: Sendable {
    /// Whether a missed object should be stored at all (frequency-based admission); the store
    /// asks before inserting.
    mutating func admit(_ id: EntryID, cost: Int) -> Bool
    mutating func inserted(_ id: EntryID, cost: Int)
    mutating func accessed(_ id: EntryID)
    mutating func removed(_ id: EntryID)
    /// The entry to evict now, or nil when the policy tracks none. The store then calls `removed`.
    mutating func victim() -> EntryID?
}

extension EvictionPolicy {
    public mutating func admit(_ id: EntryID, cost: Int) -> Bool { true }
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

/// Least recently used, the baseline every other policy is measured against.
public struct LRUPolicy: EvictionPolicy {
    private var lists = SlotLists(queues: 1)

    public init() {}

    public mutating func inserted(_ id: EntryID, cost: Int) { lists.add(id, cost: cost, queue: 0) }

    public mutating func accessed(_ id: EntryID) {
        if let s = lists.slot(id) { lists.moveToHead(s, queue: 0) }
    }

    public mutating func removed(_ id: EntryID) {
        if let s = lists.slot(id) { lists.remove(s) }
    }

    public mutating func victim() -> EntryID? { lists.tail(0).flatMap { lists.ids[$0] } }
}
