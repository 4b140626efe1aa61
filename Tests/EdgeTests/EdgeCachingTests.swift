import Foundation
import Assets
import HTTPCaching
import Origin
import TestSupport
import Testing
import Topology
@testable import Edge

/// The edge's caching through real sockets: a real edge, a real (scripted) origin on loopback.
@Suite struct EdgeCachingTests {
    @Test func missThenHitWithTheRealOrigin() async throws {
        let origin = try OriginServer(config: OriginConfig(listen: ListenAddress(host: "127.0.0.1", port: 0), root: repositoryRoot + "/origin/site",
                                                           defaultCacheControl: "public, max-age=300"))
        let originPort = try await origin.start()
        let edge = try await EdgeHarness.start(origin: "http://127.0.0.1:\(originPort)", name: "eu-test-1")
        let first = try await edge.get("/index.html")
        #expect(first.status == 200)
        #expect(first.cacheStatus.hasPrefix("eu-test-1; fwd=miss"), "\(first.cacheStatus)")
        #expect(first.cacheStatus.contains("stored"))
        // Stored once the asset pipeline (off the event loop) is done with it.
        #expect(try await eventually { edge.edge.store.stats.objects == 1 })
        let second = try await edge.get("/index.html")
        #expect(second.status == 200)
        #expect(second.cacheStatus.hasPrefix("eu-test-1; hit; ttl="), "\(second.cacheStatus)")
        #expect(second.header("age") != nil)
        #expect(second.header("via")?.contains("eu-test-1") == true)
        let onDisk = Array(try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/origin/site/index.html")))
        #expect(first.body == onDisk, "the miss streams the origin's bytes")
        #expect(second.body == AssetKind.html.minify(onDisk).bytes(or: onDisk), "the stored copy is minified, once")
        #expect(second.body.count < onDisk.count)
        #expect(origin.requestCount(for: "/index.html") == 1, "the origin saw one request")
        await edge.stop()
        await origin.stop()
    }

    @Test func expiryThenRevalidationWith304ThenHit() async throws {
        let origin = ScriptedOrigin()
        origin.route("/page") { req in
            if req.header("if-none-match") == "\"v1\"" {
                return .init(status: 304, headers: [("ETag", "\"v1\""), ("Cache-Control", "max-age=60")])
            }
            return .init(headers: [("ETag", "\"v1\""), ("Cache-Control", "max-age=1")], body: "version one")
        }
        _ = try await origin.start()
        // The edge's clock is the test's: expiry happens when the test says, however slow the machine.
        let clock = ManualClock()
        let edge = try await EdgeHarness.start(origin: origin.url, clock: clock.now)
        #expect(try await edge.get("/page").cacheStatus.contains("fwd=miss"))
        #expect(try await edge.get("/page").cacheStatus.contains("hit"))
        clock.advance(1.5)
        let revalidated = try await edge.get("/page")
        #expect(revalidated.status == 200 && revalidated.text == "version one")
        #expect(revalidated.cacheStatus.contains("fwd=stale; fwd-status=304"), "\(revalidated.cacheStatus)")
        #expect(origin.requests("/page").last?.header("if-none-match") == "\"v1\"", "a conditional request")
        let hit = try await edge.get("/page")
        #expect(hit.cacheStatus.contains("hit"), "the 304's max-age=60 now applies: \(hit.cacheStatus)")
        #expect(hit.header("cache-control") == "max-age=60")
        #expect(origin.count("/page") == 2)
        await edge.stop()
        await origin.stop()
    }

    @Test func noCacheIsStoredButValidatedEveryTime() async throws {
        let origin = ScriptedOrigin()
        origin.route("/nc") { req in
            req.header("if-modified-since") != nil
                ? .init(status: 304, headers: [("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"), ("Cache-Control", "no-cache")])
                : .init(headers: [("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"), ("Cache-Control", "no-cache")], body: "validated")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/nc")
        let second = try await edge.get("/nc")
        #expect(second.text == "validated" && second.cacheStatus.contains("fwd-status=304"))
        #expect(origin.requests("/nc").last?.header("if-modified-since") == "Sun, 06 Nov 1994 08:49:37 GMT")
        await edge.stop()
        await origin.stop()
    }

    @Test(arguments: ["no-store", "private, max-age=60"])
    func neverStored(_ cacheControl: String) async throws {
        let origin = ScriptedOrigin()
        origin.route("/secret") { _ in .init(headers: [("Cache-Control", cacheControl)], body: "per user") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        for _ in 0..<3 {
            let r = try await edge.get("/secret")
            #expect(r.text == "per user" && r.cacheStatus.contains("fwd=miss") && !r.cacheStatus.contains("; stored"), "\(r.cacheStatus)")
        }
        #expect(origin.count("/secret") == 3)
        #expect(edge.edge.store.stats.objects == 0)
        await edge.stop()
        await origin.stop()
    }

    @Test func varyKeepsVariantsApart() async throws {
        let origin = ScriptedOrigin()
        origin.route("/v") { req in
            let de = req.header("accept-language")?.contains("de") == true
            return .init(headers: [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")], body: de ? "Hallo" : "Hello")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        #expect(try await edge.get("/v", headers: ["Accept-Language": "de"]).text == "Hallo")
        #expect(try await edge.get("/v").text == "Hello")
        let de = try await edge.get("/v", headers: ["Accept-Language": "de"])
        let en = try await edge.get("/v")
        #expect(de.text == "Hallo" && de.cacheStatus.contains("hit"))
        #expect(en.text == "Hello" && en.cacheStatus.contains("hit"))
        #expect(origin.count("/v") == 2)
        await edge.stop()
        await origin.stop()
    }

    @Test func heuristicFreshnessFromLastModified() async throws {
        let origin = ScriptedOrigin()
        let lm = HTTPDate.format(Date().timeIntervalSince1970 - 10_000)
        origin.route("/h") { _ in .init(headers: [("Last-Modified", lm), ("Date", HTTPDate.format(Date().timeIntervalSince1970))], body: "h") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/h")
        let hit = try await edge.get("/h")
        #expect(hit.cacheStatus.contains("hit; ttl=99") || hit.cacheStatus.contains("hit; ttl=100") || hit.cacheStatus.contains("hit; ttl=98"), "\(hit.cacheStatus)")
        await edge.stop()
        await origin.stop()
    }

    @Test func budgetEvictsAndIsNeverExceeded() async throws {
        let origin = ScriptedOrigin()
        origin.route("/o") { req in .init(headers: [("Cache-Control", "max-age=60")], body: String(repeating: "x", count: 16_000) + req.uri) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url, cacheSize: 64 << 10)
        for i in 0..<10 {
            _ = try await edge.get("/o?n=\(i)")
            #expect(edge.edge.store.stats.bytes <= 64 << 10)
        }
        #expect(edge.edge.store.stats.evictions >= 6)
        #expect(try await edge.get("/o?n=9").cacheStatus.contains("hit"), "the newest stays")
        #expect(try await edge.get("/o?n=0").cacheStatus.contains("fwd=miss"), "the oldest was evicted")
        await edge.stop()
        await origin.stop()
    }

    @Test func objectsOverMaxObjectSizeStreamThroughUnstored() async throws {
        let origin = ScriptedOrigin()
        let big = patternBytes(300_000)
        origin.route("/big") { _ in .init(headers: [("Cache-Control", "max-age=60")], chunks: [.init(Array(big[..<100_000])), .init(Array(big[100_000...]))]) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url, maxObjectSize: 100_000)
        let r = try await edge.get("/big")
        #expect(r.body == big)
        #expect(r.cacheStatus.contains("too large"))
        #expect(try await edge.get("/big").body == big)
        #expect(origin.count("/big") == 2)
        #expect(edge.edge.store.stats.objects == 0)
        await edge.stop()
        await origin.stop()
    }

    @Test func staleWhileRevalidateServesStaleAndRefreshesInBackground() async throws {
        let origin = ScriptedOrigin()
        let version = VersionCounter()
        origin.route("/swr") { _ in .init(headers: [("Cache-Control", "max-age=1, stale-while-revalidate=30")], body: "v\(version.next())") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        #expect(try await edge.get("/swr").text == "v1")
        try await Task.sleep(for: .milliseconds(1100))
        let stale = try await edge.get("/swr")
        #expect(stale.text == "v1", "served stale at once")
        #expect(stale.cacheStatus.contains("hit; ttl=-") && stale.cacheStatus.contains("stale-while-revalidate"), "\(stale.cacheStatus)")
        #expect(try await eventually { origin.count("/swr") == 2 })
        #expect(try await eventually { edge.edge.fetchesInFlight == 0 })
        let fresh = try await edge.get("/swr")
        #expect(fresh.text == "v2" && fresh.cacheStatus.contains("hit"))
        await edge.stop()
        await origin.stop()
    }

    @Test func staleIfErrorKeepsContentUpWhenTheOriginIsDown() async throws {
        let origin = ScriptedOrigin()
        origin.route("/sie") { _ in .init(headers: [("Cache-Control", "max-age=1, stale-if-error=600")], body: "still here") }
        origin.route("/plain") { _ in .init(headers: [("Cache-Control", "max-age=1")], body: "plain") }
        for cc in ["must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=1"] {
            origin.route("/strict-\(cc)") { _ in .init(headers: [("Cache-Control", "max-age=1, \(cc)")], body: "strict") }
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let off = try await EdgeHarness.start(origin: origin.url, configure: { $0.staleIfDisconnected = 0 })
        let strict = ["must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=1"].map { "/strict-\($0)" }
        for path in ["/sie", "/plain"] + strict { _ = try await edge.get(path) }
        _ = try await off.get("/plain")
        await origin.stop()
        try await Task.sleep(for: .milliseconds(1100))
        let r = try await edge.get("/sie")
        #expect(r.status == 200 && r.text == "still here")
        #expect(r.cacheStatus.contains("stale-if-error"), "\(r.cacheStatus)")
        // RFC 9111 §4.2.4: a cache that cannot reach the origin may serve stale (stale_if_disconnected) ...
        let plain = try await edge.get("/plain")
        #expect(plain.status == 200 && plain.text == "plain", "served stale while the origin is unreachable")
        // ... but never what must-revalidate, proxy-revalidate, no-cache or s-maxage forbid.
        for path in strict {
            let s = try await edge.get(path)
            #expect(s.status == 502, "\(path): the failure shows")
            #expect(s.text.contains("origin") && s.text.contains(path), "the error says what failed: \(s.text)")
        }
        let turnedOff = try await off.get("/plain")
        #expect(turnedOff.status == 502, "stale_if_disconnected = 0 serves no stale copy")
        await edge.stop()
        await off.stop()
    }

    @Test func staleIfErrorCoversOrigin5xx() async throws {
        let origin = ScriptedOrigin()
        let calls = VersionCounter()
        origin.route("/flaky") { _ in
            calls.next() == 1
                ? .init(headers: [("Cache-Control", "max-age=1, stale-if-error=600")], body: "good")
                : .init(status: 503, headers: [("Cache-Control", "no-store")], body: "down")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/flaky")
        try await Task.sleep(for: .milliseconds(1100))
        let r = try await edge.get("/flaky")
        #expect(r.status == 200 && r.text == "good" && r.cacheStatus.contains("fwd-status=503"), "\(r.cacheStatus)")
        await edge.stop()
        await origin.stop()
    }

    @Test func unsafeMethodsPassThroughAndInvalidate() async throws {
        let origin = ScriptedOrigin()
        origin.route("/item") { req in
            req.method == "POST" ? .init(status: 201, body: "created") : .init(headers: [("Cache-Control", "max-age=60")], body: "item")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/item")
        #expect(try await edge.get("/item").cacheStatus.contains("hit"))
        let post = try await edge.request("POST", "/item", body: "name=x")
        #expect(post.status == 201 && post.text == "created" && post.cacheStatus.contains("fwd=method"))
        #expect(try await edge.get("/item").cacheStatus.contains("fwd=miss"), "the POST invalidated the stored GET (RFC 9111 §4.4)")
        await edge.stop()
        await origin.stop()
    }

    @Test func authorizedRequestsAreNotAnsweredFromCache() async throws {
        let origin = ScriptedOrigin()
        origin.route("/me") { req in .init(headers: [("Cache-Control", "max-age=60")], body: req.header("authorization") ?? "anonymous") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/me")
        let alice = try await edge.get("/me", headers: ["Authorization": "Bearer alice"])
        #expect(alice.text == "Bearer alice" && alice.cacheStatus.contains("fwd=request"))
        let anonymous = try await edge.get("/me")
        #expect(anonymous.text == "anonymous" && anonymous.cacheStatus.contains("hit"))
        await edge.stop()
        await origin.stop()
    }
}

final class VersionCounter: Sendable {
    private let n = Mutex(0)
    func next() -> Int { n.withLock { $0 += 1; return $0 } }
}

import Synchronization

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let t = Mutex(1_800_000_000.0)
    var now: @Sendable () -> Double { { [self] in t.withLock { $0 } } }
    func advance(_ seconds: Double) { t.withLock { $0 += seconds } }

    /// `cookies = pass`: a request with a cookie goes to the origin, and what it gets back is
    /// never stored, so it cannot be shown to anybody else.
    @Test func aCookiePassIsNeverStored() async throws {
        let origin = ScriptedOrigin()
        origin.route("/account") { req in .init(headers: [("Cache-Control", "max-age=60")], body: req.header("cookie") ?? "anonymous") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url, configure: { $0.cookies = .pass })
        let mine = try await edge.get("/account", headers: ["Cookie": "session=alice"])
        #expect(mine.text == "session=alice" && mine.cacheStatus.contains("fwd=request") && !mine.cacheStatus.contains("stored"), "\(mine.cacheStatus)")
        let anonymous = try await edge.get("/account")
        #expect(anonymous.text == "anonymous", "the cookie's page was served to a request without it")
        #expect(origin.count("/account") == 2)
        #expect(origin.requests.first?.header("authorization") == nil, "a pass sends no Authorization the client did not")
        await edge.stop()
        await origin.stop()
    }

    /// A 5xx while revalidating does not replace the stored copy, even when it is storable:
    /// the good copy stays for the next validation (and for stale-if-error).
    @Test func aServerErrorWhileRevalidatingKeepsTheStoredCopy() async throws {
        let origin = ScriptedOrigin()
        let calls = VersionCounter()
        origin.route("/page") { req in
            switch calls.next() {
            case 1: .init(headers: [("Cache-Control", "max-age=1"), ("ETag", "\"v1\"")], body: "good")
            case 2: .init(status: 503, headers: [("Cache-Control", "max-age=0"), ("Expires", "0")], body: "down")
            default: req.header("if-none-match") == "\"v1\"" ? .init(status: 304, headers: [("Cache-Control", "max-age=60")], body: "")
                                                             : .init(headers: [("Cache-Control", "max-age=60")], body: "refetched")
            }
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        _ = try await edge.get("/page")
        try await Task.sleep(for: .milliseconds(1100))
        let down = try await edge.get("/page")
        #expect(down.status == 503 && down.text == "down", "the error is forwarded: \(down.status)")
        let back = try await edge.get("/page")
        #expect(back.status == 200 && back.text == "good" && back.cacheStatus.contains("fwd-status=304"), "\(back.text) \(back.cacheStatus)")
        await edge.stop()
        await origin.stop()
    }
}
