import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import Testing
import Topology
@testable import Edge

/// Steps 1–3 of the request path as tables: which step follows, for each kind of request and
/// each state of the store.
@Suite struct RequestPathTests {
    static let config = EdgeConfig(name: "e", origin: OriginURL("http://origin.test")!)
    static let setting = RequestPath.Setting(
        config: config, scheme: "http",
        key: { target, _ in CacheKey(scheme: "http", authority: "origin.test", pathAndQuery: target) },
        route: Route(site: nil, keyOrigin: CacheKey.Origin(scheme: "http", authority: "origin.test"), origin: "http://origin.test", originHost: nil,
                     policy: SitePolicy(name: nil, index: nil, config: config, assets: AssetTransform(config: config), pushes: nil)),
        servedHosts: "www.test"
    )

    static func request(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = [], host: String? = "www.test") -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders((host.map { [("Host", $0)] } ?? []) + headers))
    }

    /// A compact name of a step, for the tables.
    static func name(_ next: RequestPath.Next) -> String {
        switch next {
        case .synthesize(let status, _, let verdict, _): "synthesize \(status.code)\(verdict.map { " \($0.outcome)" } ?? "")"
        case .lookup(let key): "lookup \(key.path)"
        case .pass(let plan): "pass \(plan.method) \(plan.forwardReason.rawValue)\(plan.invalidates ? " invalidates" : "")"
        case .deliver(_, let verdict): "deliver \(verdict.outcome)"
        case .deliverAndRefresh(_, let verdict, let plan): "deliver \(verdict.outcome), refresh \(plan.forwardReason.rawValue)"
        case .fetch(let plan): "fetch \(plan.method) \(plan.forwardReason.rawValue)\(plan.revalidating == nil ? "" : " conditional")"
        case .head(let plan): "head \(plan.method)"
        }
    }

    @Test(arguments: [
        (request(.GET, "/a"), nil, "lookup /a"),
        (request(.GET, "http://evil.test/a?x=1"), nil, "lookup /a?x=1"),
        (request(.HEAD, "/a"), nil, "lookup /a"),
        (request(.GET, "/a", [("Authorization", "Bearer t")]), nil, "pass GET request"),
        (request(.POST, "/form"), nil, "pass POST method invalidates"),
        (request(.OPTIONS, "*"), nil, "synthesize 400"),
        (request(.OPTIONS, "/x"), nil, "pass OPTIONS method"),
        (request(.PURGE, "/a"), nil, "synthesize 405"),
        (request(.TRACE, "/a"), nil, "synthesize 405"),
        (request(.GET, "not-a-path"), nil, "synthesize 400"),
        (request(.GET, "/a"), 3, "synthesize 429"),
        (request(.GET, "/a", host: nil), nil, "synthesize 400"),
        (request(.GET, "/a", [("Host", "other.test")]), nil, "synthesize 400"),
    ] as [(HTTPRequestHead, Int?, String)])
    func receive(_ request: HTTPRequestHead, _ retryAfter: Int?, _ expected: String) {
        #expect(Self.name(RequestPath.receive(request, retryAfter: retryAfter, client: "192.0.2.1", Self.setting)) == expected)
    }

    @Test func aHostNoSiteServesIs421BeforeAnythingElse() {
        let next = RequestPath.receive(Self.request(.GET, "/a", host: "evil.test"), retryAfter: 3, client: nil, misdirected: .unknownHost, Self.setting)
        #expect(Self.name(next) == "synthesize 421")
        if case .synthesize(_, let text, _, _) = next { #expect(text.contains("'evil.test'") && text.contains("www.test")) }
    }

    static func stored(_ cacheControl: String, age: Double) -> StoredResponse {
        let headers: HTTPHeaders = ["Cache-Control": cacheControl, "ETag": "\"s\""]
        return StoredResponse(
            status: .ok, headers: headers, body: ByteBuffer(string: "body"),
            freshness: Freshness(status: 200, headers: headers, requestTime: 1000 - age, responseTime: 1000 - age),
            vary: VarySelector(responseHeaders: headers, requestHeaders: [:])
        )
    }

    static func pushed(expires: Double) -> PushLookup {
        .live(PushedObject(path: "/p", body: ByteBuffer(string: "pushed"), sha256: "", contentType: "text/plain", tags: [], expires: expires, pushedAt: 0))
    }

    @Test(arguments: [
        ("GET", PushLookup.none, nil, "fetch GET miss"),
        ("HEAD", PushLookup.none, nil, "head HEAD"),
        ("GET", PushLookup.none, stored("max-age=60", age: 10), "deliver hit"),
        ("GET", PushLookup.none, stored("max-age=60, stale-while-revalidate=60", age: 90), "deliver stale, refresh stale"),
        ("GET", PushLookup.none, stored("max-age=60", age: 90), "fetch GET stale conditional"),
        ("HEAD", PushLookup.none, stored("max-age=60", age: 90), "fetch GET stale conditional"),
        ("GET", pushed(expires: 2000), nil, "deliver pushed"),
        ("GET", pushed(expires: 2000), stored("max-age=60", age: 10), "deliver pushed"),
        ("GET", PushLookup.expired(at: 900), nil, "synthesize 404 error"),
    ] as [(String, PushLookup, StoredResponse?, String)])
    func lookup(_ method: String, _ pushed: PushLookup, _ stored: StoredResponse?, _ expected: String) {
        let key = CacheKey(scheme: "http", authority: "origin.test", pathAndQuery: "/p")
        let next = RequestPath.lookup(key, Self.request(HTTPMethod(rawValue: method), "/p"), pushed: pushed, stored: stored, now: 1000, Self.setting)
        #expect(Self.name(next) == expected)
    }

    @Test func anExpiredPushIsPulledAgainWherePullAfterPushExpirySaysSo() {
        var setting = Self.setting
        var config = Self.config
        config.pullAfterPushExpiry = ["/p"]
        setting.route = Route(site: nil, keyOrigin: setting.route.keyOrigin, origin: setting.route.origin, originHost: nil,
                              policy: SitePolicy(name: nil, index: nil, config: config, assets: AssetTransform(config: config), pushes: nil))
        let key = CacheKey(scheme: "http", authority: "origin.test", pathAndQuery: "/p")
        let next = RequestPath.lookup(key, Self.request(.GET, "/p"), pushed: .expired(at: 900), stored: nil, now: 1000, setting)
        #expect(Self.name(next) == "fetch GET miss")
    }
}
