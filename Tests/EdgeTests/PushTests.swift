import CacheStore
import Foundation
import HTTPCaching
import NIOHTTP1
import TestSupport
import Testing
import Topology
@testable import Edge

/// Pushed content through a real edge's control API, with a real data folder on disk.
@Suite struct PushTests {
    static let token = "test-token-0123456789abcdef"
    static let auth = ["Authorization": "Bearer \(token)"]

    struct Running {
        let edge: EdgeServer
        var port: Int { edge.port }
        var control: Int { edge.controlPort }

        func push(_ path: String, _ body: String, expires: String? = "1h", headers: [String: String] = [:]) async throws -> RawResponse {
            var h = PushTests.auth.merging(headers) { _, b in b }
            if let expires { h["X-Outpost-Expires"] = expires }
            return try await RawHTTP.async("PUT", "/push" + path, port: control, headers: h, body: body)
        }

        func control(_ method: String, _ target: String, headers: [String: String] = PushTests.auth) async throws -> RawResponse {
            try await RawHTTP.async(method, target, port: control, headers: headers, body: method == "POST" ? "" : nil)
        }

        func get(_ target: String) async throws -> RawResponse { try await RawHTTP.async("GET", target, port: port) }
    }

    static func start(
        dataDir: String, origin: String = "http://127.0.0.1:1", maxPushSize: Int = 1 << 20, pushCapacity: Int = 1 << 20,
        pullAfterPushExpiry: [String] = [], clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) async throws -> Running {
        let config = EdgeConfig(
            name: "push-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin)!, originConnectTimeout: 0.5,
            controlListen: ListenAddress(host: "127.0.0.1", port: 0), controlToken: token, dataDirectory: dataDir,
            maxPushSize: maxPushSize, pushCapacity: pushCapacity, pullAfterPushExpiry: pullAfterPushExpiry
        )
        let edge = try EdgeServer(config: config, clock: clock)
        try await edge.start()
        return Running(edge: edge)
    }

    @Test func pushThenServeWithNoOriginAtAll() async throws {
        let dir = TemporaryFolder()
        let e = try await Self.start(dataDir: dir.path)
        let before = Date().timeIntervalSince1970
        let pushed = try await e.push("/css/site.css", "body{color:red}", headers: ["Content-Type": "text/css", "X-Outpost-Tags": "css,v1"])
        let after = Date().timeIntervalSince1970
        #expect(pushed.status == 201, "\(pushed.text)")
        #expect(pushed.text.contains("\"sha256\":\"\(SHA256Hex.of(Array("body{color:red}".utf8)))\""))
        let r = try await e.get("/css/site.css")
        #expect(r.status == 200 && r.text == "body{color:red}")
        #expect(r.header("content-type") == "text/css")
        #expect(r.cacheStatus.hasPrefix("push-edge; hit; ttl=") && r.cacheStatus.contains("pushed"))
        #expect(r.header("cache-control") == "public, max-age=3600")
        let expires = try #require(r.header("expires").flatMap(HTTPDate.parse))
        #expect(expires >= (before + 3600).rounded(.down) && expires <= after + 3600, "Expires is the push time + 1h")
        let range = try await RawHTTP.async("GET", "/css/site.css", port: e.port, headers: ["Range": "bytes=0-3"])
        #expect(range.status == 206 && range.text == "body")
        await e.edge.stop()
    }

    @Test func expectContinueIsAnswered() async throws {
        let dir = TemporaryFolder()
        let e = try await Self.start(dataDir: dir.path)
        let c = try RawConnection(host: "127.0.0.1", port: e.control)
        c.send("PUT /push/e.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nX-Outpost-Expires: 1h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try c.readResponse()
        #expect(interim.status == 100, "curl waits for this before sending a large body")
        c.send("hello")
        #expect(try c.readResponse().status == 201)
        #expect(try await e.get("/e.txt").text == "hello")
        await e.edge.stop()
    }

    @Test func expiryIsHonoured() async throws {
        let dir = TemporaryFolder()
        let origin = ScriptedOrigin()
        origin.route("/fallback/a.txt") { _ in .init(headers: [("Cache-Control", "max-age=60")], body: "from origin") }
        origin.route("/gone.txt") { _ in .init(body: "must not be fetched") }
        _ = try await origin.start()
        // The edge's clock is the test's, so "1s" expires exactly when the test says.
        let clock = ManualClock()
        let e = try await Self.start(dataDir: dir.path, origin: origin.url, pullAfterPushExpiry: ["/fallback/"], clock: clock.now)
        #expect(try await e.push("/gone.txt", "short-lived", expires: "1s").status == 201)
        #expect(try await e.push("/fallback/a.txt", "pushed", expires: "1s").status == 201)
        #expect(try await e.get("/gone.txt").text == "short-lived")
        clock.advance(1.5)
        let gone = try await e.get("/gone.txt")
        #expect(gone.status == 404 && gone.text.contains("expired"))
        #expect(origin.count("/gone.txt") == 0, "a pushed path is never fetched from the origin")
        let fallback = try await e.get("/fallback/a.txt")
        #expect(fallback.text == "from origin", "configured to fall back to pull")
        #expect(try await e.control("GET", "/manifest").text.contains("\"objects\":[]"))
        #expect(e.edge.pushes!.sweepExpired(now: clock.now()) == 2, "expired files are cleaned up")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/objects").isEmpty)
        await e.edge.stop()
        await origin.stop()
    }

    @Test func restartKeepsEveryAcknowledgedPush() async throws {
        let dir = TemporaryFolder()
        let first = try await Self.start(dataDir: dir.path)
        for i in 0..<20 {
            #expect(try await first.push("/objects/\(i).txt", "object \(i)", expires: "1d").status == 201)
        }
        await first.edge.stop()
        // A partial upload left in tmp/ by a crash is removed at start.
        _ = FileManager.default.createFile(atPath: dir.path + "/tmp/partial", contents: Data("half".utf8))
        let second = try await Self.start(dataDir: dir.path)
        for i in 0..<20 {
            let r = try await second.get("/objects/\(i).txt")
            #expect(r.status == 200 && r.text == "object \(i)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
        let manifest = try await second.control("GET", "/manifest?prefix=/objects/")
        #expect(manifest.text.components(separatedBy: "\"path\"").count - 1 == 20)
        await second.edge.stop()
    }

    @Test func patchMovesTheExpiryOfWhatIsStoredWithoutItsBody() async throws {
        let dir = TemporaryFolder()
        let e = try await Self.start(dataDir: dir.path)
        #expect(try await e.push("/a.css", "a  {  color : red  }", expires: "1h", headers: ["Content-Type": "text/css"]).status == 201)
        let sha = SHA256Hex.of(Array("a  {  color : red  }".utf8))
        let wrong = try await RawHTTP.async("PATCH", "/push/a.css", port: e.control, headers: Self.auth.merging(["X-Outpost-Expires": "2d", "X-Outpost-SHA256": String(repeating: "0", count: 64)]) { $1 })
        #expect(wrong.status == 409, "\(wrong.text)")
        let none = try await RawHTTP.async("PATCH", "/push/nothing.css", port: e.control, headers: Self.auth.merging(["X-Outpost-Expires": "2d"]) { $1 })
        #expect(none.status == 404)
        let ok = try await RawHTTP.async("PATCH", "/push/a.css", port: e.control, headers: Self.auth.merging(["X-Outpost-Expires": "2d", "X-Outpost-SHA256": sha]) { $1 })
        #expect(ok.status == 200, "\(ok.text)")
        let expires = try #require(e.edge.pushes?.manifest(now: Date().timeIntervalSince1970).first?.expires)
        #expect(expires > Date().timeIntervalSince1970 + 86_400, "two days now")
        let served = try await e.get("/a.css")
        #expect(served.status == 200 && served.text.contains("red") && served.text.count < "a  {  color : red  }".count, "still the same content, minified: \(served.text)")
        await e.edge.stop()
        // The new expiry is on disk.
        let again = try await Self.start(dataDir: dir.path)
        #expect((again.edge.pushes?.manifest(now: Date().timeIntervalSince1970).first?.expires ?? 0) > Date().timeIntervalSince1970 + 86_400)
        await again.edge.stop()
    }

    @Test func anExpiredPushStillAnswers404AfterARestart() async throws {
        let dir = TemporaryFolder()
        let clock = ManualClock()
        let e = try await Self.start(dataDir: dir.path, clock: clock.now)
        #expect(try await e.push("/gone.txt", "soon gone", expires: "30s").status == 201)
        clock.advance(60)
        #expect(try await e.get("/gone.txt").status == 404)
        #expect(e.edge.pushes?.sweepExpired(now: clock.now()) == 1, "its file is removed")
        await e.edge.stop()
        let again = try await Self.start(dataDir: dir.path, clock: clock.now)
        let r = try await again.get("/gone.txt")
        #expect(r.status == 404 && r.text.contains("expired"), "not pulled from the origin after the restart: \(r.status) \(r.text)")
        await again.edge.stop()
    }

    @Test func aPushReplacesThePulledCopyAndDeleteRemovesIt() async throws {
        let dir = TemporaryFolder()
        let origin = ScriptedOrigin()
        origin.route("/page.html") { _ in .init(headers: [("Cache-Control", "max-age=600")], body: "pulled") }
        _ = try await origin.start()
        let e = try await Self.start(dataDir: dir.path, origin: origin.url)
        #expect(try await e.get("/page.html").text == "pulled")
        #expect(try await e.push("/page.html", "pushed").status == 201)
        #expect(try await e.get("/page.html").text == "pushed")
        #expect(try await e.control("DELETE", "/push/page.html").status == 200)
        #expect(try await e.control("DELETE", "/push/page.html").status == 404)
        let after = try await e.get("/page.html")
        #expect(after.text == "pulled" && after.cacheStatus.contains("fwd=miss"))
        await e.edge.stop()
        await origin.stop()
    }

    @Test func purgeByURLPrefixAndTagHardAndSoft() async throws {
        let dir = TemporaryFolder()
        let origin = ScriptedOrigin()
        for p in ["/blog/a", "/blog/b", "/shop/c", "/shop/d"] {
            origin.route(p) { _ in
                .init(headers: [("Cache-Control", "max-age=600, stale-if-error=600"), ("ETag", "\"x\""), ("Surrogate-Key", p.hasPrefix("/shop") ? "shop all" : "blog all")], body: p)
            }
        }
        _ = try await origin.start()
        let e = try await Self.start(dataDir: dir.path, origin: origin.url)
        for p in ["/blog/a", "/blog/b", "/shop/c", "/shop/d"] { _ = try await e.get(p) }
        #expect(try await e.push("/pushed/p1", "p1", headers: ["X-Outpost-Tags": "shop"]).status == 201)

        let byURL = try await e.control("POST", "/purge?url=/blog/a")
        #expect(byURL.status == 200 && byURL.text.contains("\"purged\":1"))
        #expect(try await e.get("/blog/a").cacheStatus.contains("fwd=miss"))
        #expect(try await e.get("/blog/b").cacheStatus.contains("hit"))

        let byPrefix = try await e.control("POST", "/purge?prefix=/blog/")
        #expect(byPrefix.text.contains("\"purged\":2"))

        let byTag = try await e.control("POST", "/purge?tag=shop")
        #expect(byTag.text.contains("\"pulled\":2") && byTag.text.contains("\"pushed\":1"), "\(byTag.text)")
        #expect(try await e.get("/pushed/p1").status != 200)
        #expect(try await e.get("/shop/c").cacheStatus.contains("fwd=miss"))

        // Soft: still stored, but stale: the next request revalidates, and when the origin is
        // down it is served stale.
        _ = try await e.get("/shop/d")
        let soft = try await e.control("POST", "/purge?tag=all&soft=true")
        #expect(soft.text.contains("\"soft\":true"))
        let revalidated = try await e.get("/shop/d")
        #expect(revalidated.cacheStatus.contains("fwd=stale"), "\(revalidated.cacheStatus)")
        _ = try await e.control("POST", "/purge?url=/shop/d&soft=1")
        await origin.stop()
        let stale = try await e.get("/shop/d")
        #expect(stale.status == 200 && stale.text == "/shop/d" && stale.cacheStatus.contains("stale-if-error"), "\(stale.cacheStatus)")
        await e.edge.stop()
    }

    @Test func authentication() async throws {
        let dir = TemporaryFolder()
        let e = try await Self.start(dataDir: dir.path)
        let none = try await e.control("GET", "/manifest", headers: [:])
        #expect(none.status == 401 && none.header("www-authenticate")?.contains("Bearer") == true)
        let wrong = try await e.control("GET", "/manifest", headers: ["Authorization": "Bearer wrong-token-wrong-token"])
        #expect(wrong.status == 403)
        let prefix = try await e.control("GET", "/manifest", headers: ["Authorization": "Bearer \(Self.token.dropLast())"])
        #expect(prefix.status == 403)
        let unauthorisedPush = try await RawHTTP.async("PUT", "/push/x", port: e.control, headers: ["X-Outpost-Expires": "1h"], body: "x")
        #expect(unauthorisedPush.status == 401)
        #expect(try await e.control("GET", "/health", headers: [:]).status == 200, "health is open")
        // The public listener never exposes control calls.
        let onPublic = try await RawHTTP.async("PUT", "/push/x", port: e.port, headers: Self.auth.merging(["X-Outpost-Expires": "1h"]) { a, _ in a }, body: "x")
        #expect(onPublic.status != 201)
        #expect(try await e.get("/x").status != 200)
        await e.edge.stop()
    }

    @Test func badInputGetsAClear4xxAndChangesNothing() async throws {
        let dir = TemporaryFolder()
        let e = try await Self.start(dataDir: dir.path, maxPushSize: 1000, pushCapacity: 3000)
        #expect(try await e.push("/keep.txt", "original").status == 201)
        let cases: [(String, String, String?, [String: String], Int, String)] = [
            ("/keep.txt", "new", nil, [:], 400, "missing X-Outpost-Expires"),
            ("/keep.txt", "new", "soon", [:], 400, "neither a duration"),
            ("/keep.txt", "new", "2001-01-01T00:00:00Z", [:], 400, "in the past"),
            ("/keep.txt", "new", "1h", ["X-Outpost-SHA256": String(repeating: "0", count: 64)], 422, "SHA-256"),
            ("/keep.txt", "new", "1h", ["X-Outpost-SHA256": "abc"], 400, "64 hex"),
            ("/keep.txt", String(repeating: "x", count: 2000), "1h", [:], 413, "max_push_size"),
            ("/keep.txt", "new", "1h", ["X-Outpost-Tags": "bad tag!"], 400, "tag"),
        ]
        for (path, body, expires, headers, status, fragment) in cases {
            let r = try await e.push(path, body, expires: expires, headers: headers)
            #expect(r.status == status, "\(fragment): \(r.status) \(r.text)")
            #expect(r.text.contains(fragment), "\(r.text)")
        }
        for hostile in ["/../etc/passwd", "/a/%2e%2e/b", "/a//b", "/a%2fb", "/a%00b", "/a/./b"] {
            let r = try await RawHTTP.async("PUT", "/push" + hostile, port: e.control, headers: Self.auth.merging(["X-Outpost-Expires": "1h"]) { a, _ in a }, body: "x")
            #expect(r.status == 400, "\(hostile) → \(r.status)")
        }
        for i in 0..<3 { _ = try await e.push("/fill\(i)", String(repeating: "y", count: 900)) }
        let full = try await e.push("/one-more", String(repeating: "z", count: 900))
        #expect(full.status == 507 && full.text.contains("push_capacity"))
        #expect(try await e.get("/keep.txt").text == "original", "nothing changed")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/objects")
        #expect(files.count == 4, "keep + three fills, not the refused one; nothing half written: \(files)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
        await e.edge.stop()
    }

    @Test(arguments: [("90s", 90.0), ("15m", 900), ("12h", 43_200), ("7d", 604_800), ("2w", 1_209_600)])
    func expiryDurations(_ text: String, _ seconds: Double) {
        #expect(PushExpiry.parse(text, now: 1000) == 1000 + seconds)
    }

    @Test func expiryTimes() {
        #expect(PushExpiry.parse("2026-12-01T00:00:00Z", now: 0) == 1_796_083_200)
        #expect(PushExpiry.parse("Tue, 01 Dec 2026 00:00:00 GMT", now: 0) == 1_796_083_200)
        #expect(PushExpiry.parse("@1796083200", now: 0) == 1_796_083_200)
        #expect(PushExpiry.parse("tomorrow", now: 0) == nil)
        #expect(PushExpiry.parse("7x", now: 0) == nil)
    }

    @Test(arguments: [("/a/b.css", "/a/b.css"), ("/%7Euser/x", "/~user/x")] as [(String, String)])
    func validPushPaths(_ raw: String, _ normalised: String) {
        #expect(PushPath.validate(raw) == normalised)
    }
}
