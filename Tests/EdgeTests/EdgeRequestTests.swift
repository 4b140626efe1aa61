import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import Testing
@testable import Edge

/// The pure steps of the request path, by tables.
@Suite struct EdgeRequestTests {
    static func head(_ method: HTTPMethod, _ uri: String, _ headers: HTTPHeaders = [:]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }

    @Test(arguments: [
        (head(.GET, "/a?b=1"), RequestDisposition.lookup(target: "/a?b=1")),
        (head(.HEAD, "/a"), .lookup(target: "/a")),
        (head(.GET, "http://evil.example/x?y"), .lookup(target: "/x?y")),
        (head(.GET, "https://evil.example"), .lookup(target: "/")),
        (head(.GET, "/a", ["Authorization": "Bearer t"]), .pass(target: "/a", reason: .request, invalidates: false)),
        (head(.POST, "/form"), .pass(target: "/form", reason: .method, invalidates: true)),
        (head(.DELETE, "/x"), .pass(target: "/x", reason: .method, invalidates: true)),
        (head(.OPTIONS, "/x"), .pass(target: "/x", reason: .method, invalidates: false)),
        (head(.TRACE, "/x"), .reject(.methodNotAllowed, "TRACE is not allowed through this edge.\n")),
    ])
    func receive(_ request: HTTPRequestHead, _ expected: RequestDisposition) {
        #expect(EdgeRequest.receive(request) == expected)
    }

    @Test(arguments: ["*", "example.com:443", "//evil.example/x", "ftp://x/y"])
    func nonPathTargetsAreRejected(_ uri: String) {
        guard case .reject(.badRequest, _) = EdgeRequest.receive(Self.head(.GET, uri)) else {
            Issue.record("\(uri) was not rejected")
            return
        }
    }

    @Test func lookupsForwardEndToEndHeadersButNotWhatTheCacheManages() {
        let client: HTTPHeaders = [
            "Accept": "text/html", "Accept-Encoding": "gzip", "Cookie": "session=1", "X-Forwarded-Host": "evil", "Origin": "https://a.example",
            "Authorization": "Bearer x", "X-Forwarded-For": "1.2.3.4", "Connection": "keep-alive, x-hop", "X-Hop": "1", "X-Request-Id": "42",
            "If-None-Match": "\"client\"", "Range": "bytes=0-1", "TE": "trailers", "Via": "1.1 upstream",
        ]
        let out = EdgeRequest.originHeaders(client: client, lookup: true, clientAddress: "127.0.0.9", via: "1.1 e1 (outpost)")
        #expect(Set(out.map { $0.name.lowercased() }) == ["accept", "cookie", "origin", "x-request-id", "via", "x-forwarded-for", "x-forwarded-proto"])
        #expect(out.first(name: "via") == "1.1 upstream, 1.1 e1 (outpost)")
        #expect(out.first(name: "x-forwarded-for") == "127.0.0.9", "a client's own X-Forwarded-For is not trusted on lookups")
        let stripped = EdgeRequest.originHeaders(client: client, lookup: true, clientAddress: nil, via: "v", strip: ["origin"], cookies: .strip)
        #expect(!stripped.contains(name: "origin") && !stripped.contains(name: "cookie") && stripped.contains(name: "x-forwarded-host"))
        let pass = EdgeRequest.originHeaders(client: client, lookup: false, clientAddress: "127.0.0.9", via: "1.1 e1 (outpost)")
        #expect(pass.first(name: "cookie") == "session=1" && pass.first(name: "authorization") == "Bearer x")
        #expect(pass.first(name: "if-none-match") == "\"client\"" && pass.first(name: "range") == "bytes=0-1", "a pass is the client's own request")
        #expect(pass.first(name: "x-forwarded-for") == "1.2.3.4, 127.0.0.9")
        #expect(!pass.contains(name: "connection") && !pass.contains(name: "x-hop") && !pass.contains(name: "te"))
    }

    @Test func aCookiePassesWhenTheOperatorSaysSo() {
        let head = Self.head(.GET, "/a", ["Cookie": "s=1"])
        #expect(EdgeRequest.receive(head, cookies: .pass) == .pass(target: "/a", reason: .request, invalidates: false))
        #expect(EdgeRequest.receive(head, cookies: .forward) == .lookup(target: "/a"))
        #expect(EdgeRequest.receive(head, cookies: .strip) == .lookup(target: "/a"))
    }

    @Test func deliveryAddsAgeViaCacheStatusAndSlicesRanges() {
        var body = ByteBuffer()
        body.writeString("0123456789")
        let stored = StoredResponse(
            status: .ok, headers: ["ETag": "\"e\"", "Content-Type": "text/plain"], body: body,
            freshness: Freshness(lifetime: 100, correctedInitialAge: 5, responseTime: 1000), vary: .none
        )
        let status = CacheStatus(cacheName: "e1", outcome: .hit, ttl: 85)
        let full = ResponseDelivery.fromStored(stored, request: Self.head(.GET, "/"), now: 1010, cacheStatus: status, via: "1.1 e1")
        #expect(full.status == .ok && full.headers.first(name: "age") == "15" && full.headers.first(name: "content-length") == "10")
        #expect(full.headers.first(name: "cache-status") == "e1; hit; ttl=85" && full.headers.first(name: "via") == "1.1 e1")
        let range = ResponseDelivery.fromStored(stored, request: Self.head(.GET, "/", ["Range": "bytes=2-4"]), now: 1010, cacheStatus: status, via: "v")
        #expect(range.status == .partialContent && range.body.map { String(buffer: $0) } == "234")
        let head = ResponseDelivery.fromStored(stored, request: Self.head(.HEAD, "/"), now: 1010, cacheStatus: status, via: "v")
        #expect(head.body == nil && head.headers.first(name: "content-length") == "10")
        let notModified = ResponseDelivery.fromStored(stored, request: Self.head(.GET, "/", ["If-None-Match": "\"e\""]), now: 1010, cacheStatus: status, via: "v")
        #expect(notModified.status == .notModified && notModified.body == nil && !notModified.headers.contains(name: "content-length"))
    }
}
