import CacheStore
import Foundation
import HTTPCaching
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The disk tier on real files: what is written reads back whole; a damaged or cut file is never
/// served; the budget holds; bans outlive a restart; a restart takes stock of what is there.
@Suite struct DiskStoreTests {
    static func key(_ path: String) -> CacheKey { CacheKey(scheme: "http", authority: "o", pathAndQuery: path) }

    static func response(_ text: String, bytes: Int = 0, tags: String? = nil) -> StoredResponse {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "ETag": "\"v1\"", "Cache-Control": "max-age=60"]
        if let tags { headers.add(name: "Cache-Tag", value: tags) }
        return StoredResponse(status: .ok, headers: headers, body: ByteBuffer(string: text + String(repeating: "x", count: bytes)),
                              freshness: Freshness(lifetime: 60, correctedInitialAge: 3, responseTime: 1000, staleIfError: 30),
                              vary: VarySelector(fieldNames: ["accept-language"], values: ["en"]))
    }

    static func opened(_ dir: TemporaryFolder, budget: Int = 1 << 20) throws -> DiskStore {
        let store = try DiskStore.open(directory: dir.path, budget: budget)
        store.load()
        return store
    }

    static func files(_ dir: TemporaryFolder) -> [String] {
        let objects = dir.path + "/objects"
        return ((try? FileManager.default.subpathsOfDirectory(atPath: objects)) ?? []).filter { $0.utf8.count == 67 }.map { objects + "/" + $0 }
    }

    @Test func whatIsWrittenReadsBackWhole() throws {
        let dir = TemporaryFolder()
        let store = try Self.opened(dir)
        var r = Self.response("hello")
        r.variants = ["gzip": ByteBuffer(bytes: [1, 2, 3]), "br": ByteBuffer(bytes: [4, 5])]
        r.transformed = true
        #expect(store.put(Self.key("/a"), r, storedAt: 1001))
        let back = try #require(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]))
        #expect(back.status == .ok && String(buffer: back.body) == "hello" && back.headers.first(name: "etag") == "\"v1\"")
        #expect(back.freshness == r.freshness && back.vary == r.vary && back.transformed)
        #expect(back.variants == r.variants)
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "de"]) == nil, "another variant is a miss")
        #expect(store.get(Self.key("/b"), requestHeaders: [:]) == nil)
        #expect(store.stats.hits == 1 && store.stats.objects == 1)
    }

    @Test(arguments: ["truncated", "flipped", "empty", "planted"])
    func aDamagedFileIsNeverServedAndIsRemoved(_ damage: String) throws {
        let dir = TemporaryFolder()
        let store = try Self.opened(dir)
        #expect(store.put(Self.key("/a"), Self.response("the real one", bytes: 4000), storedAt: 1001))
        let file = try #require(Self.files(dir).first)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        switch damage {
        case "truncated": bytes.removeLast(bytes.count / 2)          // a crash mid-write, renamed anyway
        case "flipped": bytes[bytes.count / 2] ^= 0x40                // a bad sector
        case "empty": bytes = []
        default: bytes = Array("OUTPOST-DISK 01\n\0\0\0\u{2}{}".utf8) + Array(repeating: 0, count: 32)  // written by hand
        }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]) == nil)
        #expect(!FileManager.default.fileExists(atPath: file), "removed")
        #expect(store.stats.corrupt == 1 && store.stats.objects == 0)
    }

    @Test func theBudgetHoldsAndTheLeastRecentlyUsedGoes() throws {
        let dir = TemporaryFolder()
        let one = DiskStore.encodedSize(Self.key("/0"), Self.response("0", bytes: 4000))
        let store = try Self.opened(dir, budget: one * 10 + one / 2)
        for i in 0..<10 { #expect(store.put(Self.key("/\(i)"), Self.response("\(i)", bytes: 4000), storedAt: 1001)) }
        _ = store.get(Self.key("/0"), requestHeaders: ["Accept-Language": "en"])  // now the most recent
        for i in 10..<40 {
            store.put(Self.key("/\(i)"), Self.response("\(i % 10)", bytes: 4000), storedAt: 1001)
            let onDisk = Self.files(dir).reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
            #expect(onDisk <= store.budget && store.stats.bytes == onDisk, "files \(onDisk), counted \(store.stats.bytes), budget \(store.budget)")
            if i == 10 {
                #expect(store.get(Self.key("/1"), requestHeaders: ["Accept-Language": "en"]) == nil, "the least recently used went first")
                #expect(store.get(Self.key("/0"), requestHeaders: ["Accept-Language": "en"]) != nil)
            }
        }
        #expect(store.stats.objects == 10 && store.stats.evictions == 30)
        #expect(!store.put(Self.key("/huge"), Self.response("h", bytes: one * 11), storedAt: 1001), "larger than the budget: not written")
    }

    @Test func aRestartFindsEverythingAndBansOutliveIt() throws {
        let dir = TemporaryFolder()
        do {
            let store = try Self.opened(dir)
            for i in 0..<20 { store.put(Self.key("/p/\(i)"), Self.response("\(i)", tags: i < 5 ? "five" : nil), storedAt: 1001) }
            store.put(Self.key("/q"), Self.response("q"), storedAt: 1001)
            store.ban(PurgeSelector(prefixes: ["/p/1"]), now: 1002)   // /p/1 and /p/10 … /p/19
            store.ban(PurgeSelector(tags: ["five"]), now: 1002)        // /p/0 … /p/4
            #expect(store.get(Self.key("/p/3"), requestHeaders: ["Accept-Language": "en"]) == nil, "banned at once")
            store.saveBans()
        }
        // A new process: no index, only the folder.
        let store = try DiskStore.open(directory: dir.path, budget: 1 << 20)
        #expect(store.get(Self.key("/q"), requestHeaders: ["Accept-Language": "en"]) != nil, "found by name before the scan")
        #expect(!store.put(Self.key("/r"), Self.response("r"), storedAt: 1003), "nothing is written before the scan")
        let (files, _) = store.load()
        #expect(files == 20, "the one read while banned was removed")
        let left = (0..<20).filter { store.get(Self.key("/p/\($0)"), requestHeaders: ["Accept-Language": "en"]) != nil }
        #expect(left == [5, 6, 7, 8, 9], "the bans hold after the restart: \(left)")
        #expect(store.put(Self.key("/p/1"), Self.response("new"), storedAt: 1003))
        #expect(store.get(Self.key("/p/1"), requestHeaders: ["Accept-Language": "en"]).map { String(buffer: $0.body) } == "new", "stored after the ban: served")
        #expect(store.stats.objects == 7)
    }

    @Test func aRemovalIsNotUndoneByAnOlderWriteLandingAfterIt() throws {
        let dir = TemporaryFolder()
        let store = try Self.opened(dir)
        #expect(store.put(Self.key("/a"), Self.response("old"), storedAt: 1001))
        store.remove(Self.key("/a"), at: 1005)   // a POST to /a succeeded
        #expect(!store.put(Self.key("/a"), Self.response("old, queued before the POST"), storedAt: 1004), "a write of a response from before it is refused")
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]) == nil)
        #expect(store.put(Self.key("/a"), Self.response("new"), storedAt: 1006))
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]).map { String(buffer: $0.body) } == "new")
        store.forget(Self.key("/a"), at: 1007)
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]) == nil, "forgotten without touching the disk")
    }

    @Test func oneProcessPerFolderAndUnreadableBansBanEverything() throws {
        let dir = TemporaryFolder()
        do {
            let store = try Self.opened(dir)
            #expect(store.put(Self.key("/a"), Self.response("a"), storedAt: 1001))
            #expect(throws: (any Error).self, "a second store on the folder is refused") { _ = try DiskStore.open(directory: dir.path, budget: 1 << 20) }
        }
        dir.write("bans.json", "{ not json")
        let store = try Self.opened(dir)
        #expect(store.get(Self.key("/a"), requestHeaders: ["Accept-Language": "en"]) == nil, "what the lost bans may have covered is not served")
    }

    @Test func aPartialWriteLeftInTheTemporaryFolderIsRemovedAtOpen() throws {
        let dir = TemporaryFolder()
        dir.write("tmp/0123.partial", "half a file")
        _ = try Self.opened(dir)
        #expect((try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp")).isEmpty)
    }
}
