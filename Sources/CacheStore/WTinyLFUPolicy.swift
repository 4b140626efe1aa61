/// W-TinyLFU (Einziger, Friedman, Manes, 2017; Caffeine's policy), sized in bytes: new objects
/// enter a small LRU window (1 % of the bytes); what leaves the window competes with the main
/// region's next victim, and the one a frequency sketch has seen more often stays. The main
/// region is a segmented LRU (probation, and a protected part of 80 %). A reference the
/// eviction tests and `outpost bench eviction` measure Outpost's default against; it can also
/// be chosen (`eviction = "wtinylfu"`).
public struct WTinyLFUPolicy: EvictionPolicy {
    private static let window = 0, probation = 1, protected = 2
    private var lists = SlotLists(queues: 3)
    private var sketch = FrequencySketch(capacity: 65_536)
    public let windowShare: Double
    public let protectedShare: Double

    public init(windowShare: Double = 0.01, protectedShare: Double = 0.8) {
        self.windowShare = windowShare
        self.protectedShare = protectedShare
    }

    public mutating func inserted(_ id: EntryID, cost: Int) {
        sketch.sampleSize = max(1_000, 10 * lists.slots.count)
        sketch.increment(id.key.hashValue)
        lists.add(id, cost: cost, queue: Self.window)
    }

    public mutating func accessed(_ id: EntryID) {
        sketch.increment(id.key.hashValue)
        guard let s = lists.slot(id) else { return }
        switch lists.queueOf[s] {
        case Self.window: lists.moveToHead(s, queue: Self.window)
        case Self.probation:
            lists.moveToHead(s, queue: Self.protected)
            // The protected part keeps its share: its least recently used go back to probation.
            let main = lists.bytes[Self.probation] + lists.bytes[Self.protected]
            while Double(lists.bytes[Self.protected]) > protectedShare * Double(main), let t = lists.tail(Self.protected), t != s {
                lists.moveToHead(t, queue: Self.probation)
            }
        default: lists.moveToHead(s, queue: Self.protected)
        }
    }

    public mutating func removed(_ id: EntryID) {
        if let s = lists.slot(id) { lists.remove(s) }
    }

    public mutating func victim() -> EntryID? {
        while true {
            let total = Double(lists.totalBytes)
            let mainVictim = lists.tail(Self.probation) ?? lists.tail(Self.protected)
            guard let candidate = lists.tail(Self.window), Double(lists.bytes[Self.window]) > windowShare * total else {
                return (mainVictim ?? lists.tail(Self.window)).flatMap { lists.ids[$0] }
            }
            // Main not full yet: what leaves the window goes there without a contest.
            let main = lists.bytes[Self.probation] + lists.bytes[Self.protected]
            guard let v = mainVictim, Double(main + lists.costs[candidate]) > (1 - windowShare) * total else {
                lists.moveToHead(candidate, queue: Self.probation)
                continue
            }
            // TinyLFU's admission: the candidate from the window against main's victim.
            guard let c = lists.ids[candidate], let m = lists.ids[v] else { return nil }
            if sketch.frequency(c.key.hashValue) > sketch.frequency(m.key.hashValue) {
                lists.moveToHead(candidate, queue: Self.probation)
                return m
            }
            return c
        }
    }
}
