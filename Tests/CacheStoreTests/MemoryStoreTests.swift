import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import Testing

@Suite struct MemoryStoreTests {
    static func key(_ path: String) -> CacheKey { CacheKey(scheme: "http", authority: "o", pathAndQuery: path) }

    static func response(bytes: Int, vary: VarySelector = .none, headers: HTTPHeaders = [:]) -> StoredResponse {
        StoredResponse(
            status: .ok, headers: headers, body: ByteBuffer(repeating: 7, count: bytes),
            freshness: Freshness(lifetime: 60, correctedInitialAge: 0, responseTime: 0), vary: vary
        )
    }

    @Test func budgetIsNeverExceededAndLeastRecentlyUsedGoesFirst() {
        let one = MemoryStore.cost(Self.key("/0"), Self.response(bytes: 10_000))
        let store = MemoryStore(budget: one * 4, policy: LRUPolicy())
        for i in 0..<4 { #expect(store.insert(Self.key("/\(i)"), Self.response(bytes: 10_000))) }
        #expect(store.stats.objects == 4)
        _ = store.lookup(Self.key("/0"), requestHeaders: [:])  // /0 is now the most recent
        store.insert(Self.key("/4"), Self.response(bytes: 10_000))
        #expect(store.stats.bytes <= store.budget)
        #expect(store.stats.evictions == 1)
        #expect(store.lookup(Self.key("/1"), requestHeaders: [:]) == nil, "the least recently used goes first")
        #expect(store.lookup(Self.key("/0"), requestHeaders: [:]) != nil)
        for i in 5..<50 {
            store.insert(Self.key("/\(i)"), Self.response(bytes: 1_000 * (i % 7 + 1)))
            #expect(store.stats.bytes <= store.budget)
        }
    }

    @Test func objectLargerThanBudgetIsRefused() {
        let store = MemoryStore(budget: 1_000)
        #expect(!store.insert(Self.key("/big"), Self.response(bytes: 2_000)))
        #expect(store.stats.objects == 0)
    }

    @Test func variantsAreKeptApartAndReplacedBySelector() {
        let store = MemoryStore(budget: 1 << 20)
        let gzip = VarySelector(fieldNames: ["accept-encoding"], values: ["gzip"])
        let plain = VarySelector(fieldNames: ["accept-encoding"], values: [""])
        store.insert(Self.key("/v"), Self.response(bytes: 10, vary: gzip))
        store.insert(Self.key("/v"), Self.response(bytes: 20, vary: plain))
        #expect(store.lookup(Self.key("/v"), requestHeaders: ["Accept-Encoding": "gzip"])?.body.readableBytes == 10)
        #expect(store.lookup(Self.key("/v"), requestHeaders: [:])?.body.readableBytes == 20)
        #expect(store.lookup(Self.key("/v"), requestHeaders: ["Accept-Encoding": "br"]) == nil)
        store.insert(Self.key("/v"), Self.response(bytes: 30, vary: gzip))
        #expect(store.stats.objects == 2)
        #expect(store.lookup(Self.key("/v"), requestHeaders: ["Accept-Encoding": "gzip"])?.body.readableBytes == 30)
        #expect(store.remove(Self.key("/v")) == 2)
        #expect(store.stats.objects == 0 && store.stats.bytes == 0)
    }

    @Test func updateRefreshesInPlace() {
        let store = MemoryStore(budget: 1 << 20)
        store.insert(Self.key("/u"), Self.response(bytes: 10, headers: ["ETag": "\"1\""]))
        let updated = store.update(Self.key("/u"), vary: .none) { $0.headers.replaceOrAdd(name: "Cache-Control", value: "max-age=5") }
        #expect(updated?.headers.first(name: "cache-control") == "max-age=5")
        #expect(store.lookup(Self.key("/u"), requestHeaders: [:])?.headers.first(name: "etag") == "\"1\"")
        #expect(store.update(Self.key("/missing"), vary: .none) { _ in } == nil)
    }

    @Test func tagsComeFromSurrogateKeyAndCacheTag() {
        let r = Self.response(bytes: 1, headers: ["Surrogate-Key": "a b", "Cache-Tag": "c, d"])
        #expect(r.tags == ["a", "b", "c", "d"])
    }
}

@Suite struct LRUPolicyTests {
    @Test func evictsInRecencyOrder() {
        var lru = LRUPolicy()
        let ids = (0..<5).map { EntryID(key: MemoryStoreTests.key("/\($0)"), variant: $0) }
        for id in ids { lru.inserted(id, cost: 1) }
        lru.accessed(ids[0])
        lru.accessed(ids[2])
        var order: [Int] = []
        while let v = lru.victim() {
            order.append(v.variant)
            lru.removed(v)
        }
        #expect(order == [1, 3, 4, 0, 2])
    }
}
