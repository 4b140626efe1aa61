import Edge
import Foundation
import Testing
import TestSupport
import Topology

/// What reaches a real origin from a real edge, recorded by the origin.
@Suite struct HeaderForwardingTests {
    @Test func endToEndHeadersReachTheOriginOnCacheableFetches() async throws {
        let origin = ScriptedOrigin()
        origin.route("/cors") { r in
            .init(headers: [("Cache-Control", "public, max-age=60"), ("Vary", "Origin"), ("Access-Control-Allow-Origin", r.header("origin") ?? "none")], body: "ok")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        defer { Task { await edge.stop(); await origin.stop() } }
        let sent = [
            "Origin": "https://app.example", "X-Request-Id": "r-1", "Accept-Language": "de", "Cookie": "a=1", "X-Forwarded-Host": "evil.example",
            "If-None-Match": "\"from-client\"", "Range": "bytes=0-0", "Accept-Encoding": "gzip", "Connection": "X-Hop", "X-Hop": "gone",
        ]
        let r = try await edge.get("/cors", headers: sent)
        #expect(r.status == 206 || r.status == 200)
        let seen = try #require(origin.requests("/cors").first)
        for name in ["origin", "x-request-id", "accept-language", "cookie"] {
            #expect(seen.header(name) == sent.first { $0.key.lowercased() == name }?.value, "\(name) is forwarded")
        }
        for name in ["x-forwarded-host", "if-none-match", "range", "x-hop"] {
            #expect(seen.header(name) == nil, "\(name) is not: the cache manages it, or it is hop-by-hop, or stripped by default")
        }
        #expect(seen.header("via")?.contains("test-edge") == true && seen.header("x-forwarded-proto") == "http")
        // Vary: Origin keys the variant: another origin gets its own answer, the first a hit.
        let other = try await edge.get("/cors", headers: ["Origin": "https://other.example"])
        #expect(other.header("access-control-allow-origin") == "https://other.example")
        let again = try await edge.get("/cors", headers: ["Origin": "https://app.example"])
        #expect(again.cacheStatus.contains("hit") && again.header("access-control-allow-origin") == "https://app.example")
        #expect(origin.count("/cors") == 2)
    }

    @Test func targetedCacheControlDecidesForTheEdgeAndIsNotPassedOn() async throws {
        let origin = ScriptedOrigin()
        origin.route("/t") { _ in
            .init(headers: [("Cache-Control", "no-cache"), ("Outpost-CDN-Cache-Control", "max-age=300"), ("CDN-Cache-Control", "max-age=30"),
                            ("Surrogate-Control", "max-age=5")], body: "t")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        defer { Task { await edge.stop(); await origin.stop() } }
        _ = try await edge.get("/t")
        let hit = try await edge.get("/t")
        let ttl = hit.cacheStatus.split(separator: ";").first { $0.hasPrefix(" ttl=") }.flatMap { Int($0.dropFirst(5)) }
        #expect(hit.cacheStatus.contains("hit") && (ttl ?? 0) > 240,
                "Outpost's own field (300 s) wins over CDN-Cache-Control (30 s), Surrogate-Control and Cache-Control: \(hit.cacheStatus)")
        #expect(hit.header("cache-control") == "no-cache", "the client still gets the origin's Cache-Control")
        #expect(hit.header("cdn-cache-control") == "max-age=30", "CDN-Cache-Control is for every CDN on the way: passed on")
        #expect(hit.header("outpost-cdn-cache-control") == nil && hit.header("surrogate-control") == nil, "fields for this cache alone are not")
        #expect(origin.count("/t") == 1)
    }

    @Test func keyRulesShareOneObjectWhileTheOriginGetsEveryParameter() async throws {
        let origin = ScriptedOrigin()
        origin.route("/p") { r in .init(headers: [("Cache-Control", "public, max-age=60")], body: r.uri) }
        _ = try await origin.start()
        var config = EdgeConfig(name: "rules", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin.url)!)
        var rule = CacheRule(path: PathGlob("/**"))
        rule.dropParams = [PathGlob("utm_*")]
        rule.sortQuery = true
        config.cacheRules = [rule]
        let edge = try EdgeServer(config: config)
        let port = try await edge.start()
        defer { Task { await edge.stop(); await origin.stop() } }
        let first = try await RawHTTP.async("GET", "/p?b=2&utm_source=news&a=1", port: port)
        #expect(first.text == "/p?b=2&utm_source=news&a=1", "the origin sees the request as sent")
        let second = try await RawHTTP.async("GET", "/p?a=1&b=2&utm_medium=mail", port: port)
        #expect(second.cacheStatus.contains("hit"), "same key once utm_* are dropped and the rest sorted: \(second.cacheStatus)")
        #expect(origin.count("/p") == 1)
    }
}
