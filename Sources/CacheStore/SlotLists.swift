/// Doubly linked queues over slot arrays: every entry lives in exactly one queue, and moving,
/// removing or finding the tail is O(1) with no allocation after warm-up. The eviction policies
/// are built on it.
struct SlotLists: Sendable {
    private(set) var slots: [EntryID: Int] = [:]
    private(set) var ids: [EntryID?] = []
    private(set) var costs: [Int] = []
    var freqs: [UInt8] = []
    private(set) var queueOf: [Int] = []
    private var prev: [Int] = []
    private var next: [Int] = []
    private var free: [Int] = []
    private var heads: [Int]
    private(set) var tails: [Int]
    /// Bytes in each queue.
    private(set) var bytes: [Int]

    init(queues: Int) {
        heads = [Int](repeating: -1, count: queues)
        tails = heads
        bytes = [Int](repeating: 0, count: queues)
    }

    var totalBytes: Int { bytes.reduce(0, +) }

    func slot(_ id: EntryID) -> Int? { slots[id] }

    /// Adds a new entry at the head of `queue`; returns its slot.
    @discardableResult
    mutating func add(_ id: EntryID, cost: Int, queue: Int) -> Int {
        if let old = slots[id] { remove(old) }
        let s: Int
        if let f = free.popLast() {
            s = f
            ids[s] = id
            costs[s] = cost
            freqs[s] = 0
            queueOf[s] = queue
        } else {
            s = ids.count
            ids.append(id)
            costs.append(cost)
            freqs.append(0)
            queueOf.append(queue)
            prev.append(-1)
            next.append(-1)
        }
        slots[id] = s
        link(s, queue)
        return s
    }

    mutating func remove(_ s: Int) {
        unlink(s)
        slots[ids[s]!] = nil
        ids[s] = nil
        free.append(s)
    }

    /// Moves an entry to the head of `queue` (its own or another).
    mutating func moveToHead(_ s: Int, queue: Int) {
        unlink(s)
        link(s, queue)
    }

    func tail(_ queue: Int) -> Int? { tails[queue] >= 0 ? tails[queue] : nil }

    private mutating func unlink(_ s: Int) {
        let q = queueOf[s]
        if prev[s] >= 0 { next[prev[s]] = next[s] } else { heads[q] = next[s] }
        if next[s] >= 0 { prev[next[s]] = prev[s] } else { tails[q] = prev[s] }
        prev[s] = -1
        next[s] = -1
        bytes[q] -= costs[s]
    }

    private mutating func link(_ s: Int, _ q: Int) {
        queueOf[s] = q
        prev[s] = -1
        next[s] = heads[q]
        if heads[q] >= 0 { prev[heads[q]] = s }
        heads[q] = s
        if tails[q] < 0 { tails[q] = s }
        bytes[q] += costs[s]
    }
}
