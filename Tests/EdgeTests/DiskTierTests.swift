import Foundation
import TestSupport
import Testing
import Topology
@testable import Edge

/// The disk tier through real edges: more than memory holds is served again without the origin,
/// a `kill -9` loses nothing that was written, a damaged file is fetched again, purges reach it.
@Suite(.serialized) struct DiskTierTests {
    static let objects = 24
    static let size = 8 << 10

    /// An origin of `objects` cacheable 8 KiB objects, each saying its own name.
    static func origin() async throws -> ScriptedOrigin {
        let origin = ScriptedOrigin()
        for i in 0..<objects {
            origin.route("/o/\(i)") { _ in
                .init(headers: [("Cache-Control", "max-age=3600"), ("Content-Type", "application/octet-stream"), ("ETag", "\"\(i)\"")],
                      body: "object \(i) " + String(repeating: "x", count: size))
            }
        }
        _ = try await origin.start()
        return origin
    }

    static func config(_ origin: ScriptedOrigin, disk: String, port: Int = 0) -> EdgeConfig {
        var c = EdgeConfig(name: "disk-edge", listen: ListenAddress(host: "127.0.0.1", port: port), origin: OriginURL(origin.url)!,
                           cacheSize: 64 << 10)  // a third of the objects
        c.diskCache = disk
        c.diskCacheSize = 4 << 20
        return c
    }

    static func files(_ dir: String) -> Int {
        ((try? FileManager.default.subpathsOfDirectory(atPath: dir + "/objects")) ?? []).filter { $0.utf8.count == 67 }.count
    }

    @Test func threeTimesTheMemoryBudgetIsServedAgainWithoutTheOrigin() async throws {
        let origin = try await Self.origin()
        let dir = TemporaryFolder()
        let edge = try EdgeServer(config: Self.config(origin, disk: dir.path))
        try await edge.start()
        #expect(try await eventually { edge.context.disk?.store.isLoaded == true })
        for i in 0..<Self.objects {
            let r = try await RawHTTP.async("GET", "/o/\(i)", port: edge.port)
            #expect(r.status == 200 && r.text.hasPrefix("object \(i) "))
        }
        #expect(try await eventually { Self.files(dir.path) == Self.objects }, "every object written: \(Self.files(dir.path))")
        #expect(edge.store.stats.bytes <= 64 << 10 && edge.store.stats.objects < Self.objects, "memory holds a part only")
        for i in 0..<Self.objects {
            let r = try await RawHTTP.async("GET", "/o/\(i)", port: edge.port)
            #expect(r.status == 200 && r.text.hasPrefix("object \(i) ") && r.text.utf8.count == Self.size + "object \(i) ".utf8.count)
            #expect(r.cacheStatus.contains("hit"), "/o/\(i): \(r.cacheStatus)")
        }
        #expect((0..<Self.objects).allSatisfy { origin.count("/o/\($0)") == 1 }, "the origin was asked once per object")
        // Read from disk, each went back into memory: the latest is a memory hit now.
        #expect(try await RawHTTP.async("GET", "/o/\(Self.objects - 1)", port: edge.port).cacheStatus.contains("hit"))
        let snapshot = edge.statsSnapshot
        let disk = try #require(snapshot.disk)
        #expect(disk.hits > 0 && disk.objects == Self.objects && disk.bytes <= disk.budget && (snapshot.store.hits ?? 0) > 0, "\(disk)")
        let metrics = String(decoding: edge.metricsText(), as: UTF8.self)
        #expect(metrics.contains("outpost_tier_hits_total{edge=\"disk-edge\",tier=\"disk\"} \(disk.hits)"), "\(metrics.split(separator: "\n").filter { $0.contains("tier") })")
        await edge.stop()
        await origin.stop()
    }

    @Test func aDamagedFileIsFetchedAgainAndAPurgeReachesTheDisk() async throws {
        let origin = try await Self.origin()
        let dir = TemporaryFolder()
        var config = Self.config(origin, disk: dir.path)
        config.controlListen = ListenAddress(host: "127.0.0.1", port: 0)
        config.controlToken = "disk-test-token-0123456789"
        config.dataDirectory = dir.path + "/pushes"
        let edge = try EdgeServer(config: config)
        try await edge.start()
        #expect(try await eventually { edge.context.disk?.store.isLoaded == true })
        for i in 0..<Self.objects { _ = try await RawHTTP.async("GET", "/o/\(i)", port: edge.port) }
        #expect(try await eventually { Self.files(dir.path) == Self.objects })
        // Damage every file: whatever memory no longer holds must come from the origin again,
        // whole, never from a damaged file.
        for f in ((try? FileManager.default.subpathsOfDirectory(atPath: dir.path + "/objects")) ?? []) where f.utf8.count == 67 {
            let path = dir.path + "/objects/" + f
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count / 2] ^= 1
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        for i in 0..<Self.objects {
            let r = try await RawHTTP.async("GET", "/o/\(i)", port: edge.port)
            #expect(r.status == 200 && r.text == "object \(i) " + String(repeating: "x", count: Self.size), "/o/\(i)")
        }
        #expect(edge.statsSnapshot.disk?.corrupt ?? 0 > 0)
        #expect((0..<Self.objects).contains { origin.count("/o/\($0)") == 2 }, "what memory had evicted was fetched again")
        // A purge reaches the disk: nothing of the prefix is served from either tier.
        let purge = try await RawHTTP.async("POST", "/purge?prefix=/o/", port: edge.controlPort,
                                            headers: ["Authorization": "Bearer disk-test-token-0123456789"], body: "")
        #expect(purge.status == 200)
        let before = (0..<Self.objects).map { origin.count("/o/\($0)") }
        for i in 0..<Self.objects { _ = try await RawHTTP.async("GET", "/o/\(i)", port: edge.port) }
        #expect((0..<Self.objects).allSatisfy { origin.count("/o/\($0)") == before[$0] + 1 }, "every purged object fetched again")
        await edge.stop()
        await origin.stop()
    }
}
