import HTTPCaching
import NIOHTTP1
import Testing
import TestSupport
import Topology
@testable import Edge

/// Operator cache rules (`[[cache_rules]]`), as tables.
@Suite struct CacheRuleTests {
    static func rule(_ adjust: (inout CacheRule) -> Void) -> CacheRule {
        var r = CacheRule(path: PathGlob("/**"))
        adjust(&r)
        return r
    }

    @Test(arguments: [
        ("/a?utm_source=x&id=7&gclid=1&utm_medium=y", "/a?id=7"),
        ("/a?b=2&a=1&fbclid=z", "/a?a=1&b=2"),
        ("/a?utm_source=x", "/a"),
        ("/a", "/a"),
        ("/a?", "/a"),
    ])
    func keyRulesDropAndSortParameters(_ target: String, _ keyed: String) {
        let r = Self.rule {
            $0.dropParams = ["utm_*", "gclid", "fbclid"].map(PathGlob.init)
            $0.sortQuery = true
        }
        #expect(r.keyTarget(target) == keyed)
        #expect(Self.rule { $0.ignoreQuery = true }.keyTarget(target) == "/a")
    }

    static func decide(_ r: CacheRule, _ headers: HTTPHeaders, status: Int = 200) -> CachePolicy.Decision {
        let f = Freshness(status: status, headers: headers, requestTime: 0, responseTime: 0)
        let s = Storability.decide(method: .GET, requestHeaders: [:], status: status, responseHeaders: headers)
        return CachePolicy.apply(r, status: status, headers: headers, storability: s, freshness: f)
    }

    @Test func aDefaultTTLFillsInOnlyWhenTheOriginSaysNothing() {
        let r = Self.rule { $0.defaultTTL = 600 }
        let silent = Self.decide(r, [:], status: 302)
        #expect(silent.storability == .storable && silent.freshness.lifetime == 600 && silent.note == "rule /**: default-ttl")
        let stated = Self.decide(r, ["Cache-Control": "max-age=5"])
        #expect(stated.freshness.lifetime == 5 && stated.note == nil)
        let forbidden = Self.decide(r, ["Cache-Control": "private"])
        #expect(forbidden.storability != .storable, "a default TTL never overrides private, no-store, Set-Cookie")
    }

    @Test func minAndMaxTTLBoundEveryLifetime() {
        let r = Self.rule {
            $0.minTTL = 60
            $0.maxTTL = 3600
        }
        #expect(Self.decide(r, ["Cache-Control": "max-age=5"]).freshness.lifetime == 60)
        #expect(Self.decide(r, ["Cache-Control": "max-age=86400"]).freshness.lifetime == 3600)
        #expect(Self.decide(r, ["Cache-Control": "max-age=600"]).note == nil)
        #expect(Self.decide(r, ["Cache-Control": "no-cache, max-age=5"]).freshness.lifetime == 5, "no-cache is validated on every use anyway")
    }

    @Test func staleIfErrorWithoutTheOriginsSay() {
        let r = Self.rule { $0.staleIfError = 86_400 }
        #expect(Self.decide(r, ["Cache-Control": "max-age=60"]).freshness.staleIfError == 86_400)
        #expect(Self.decide(r, ["Cache-Control": "max-age=60, must-revalidate"]).freshness.staleIfError == 0, "RFC 5861 §4")
    }

    @Test func rulesAreReadFromTheEdgesFile() throws {
        let dir = TemporaryFolder()
        let file = dir.write("e.toml", """
            name = "e"
            [[cache_rules]]
            path = "/assets/**"
            default_ttl = "1d"
            max_ttl = 604800
            drop_params = ["utm_*"]
            sort_query = true
            [[cache_rules]]
            path = "/**"
            stale_if_error = "12h"
            """)
        let c = try EdgeConfig.load(file: file)
        #expect(c.cacheRules.count == 2 && c.cacheRules[0].defaultTTL == 86_400 && c.cacheRules[1].staleIfError == 43_200)
        #expect(c.cacheRules.rule(for: "/assets/a.css?x=1")?.path.pattern == "/assets/**")
        let bad = dir.write("bad.toml", "name = \"e\"\n[[cache_rules]]\npath = \"/**\"\ndefault_ttl = \"forever\"\n")
        #expect(throws: ConfigError.self) { try EdgeConfig.load(file: bad) }
    }
}
