import HTTPCaching
import NIOHTTP1
import Testing

@Suite struct VaryTests {
    @Test func selectsByNormalisedValues() {
        let v = VarySelector(responseHeaders: ["Vary": "Accept-Encoding, accept-language"], requestHeaders: ["Accept-Encoding": "gzip", "Accept-Language": "de"])
        #expect(v.fieldNames == ["accept-encoding", "accept-language"])
        #expect(v.matches(["accept-encoding": " gzip ", "Accept-Language": "de"]))
        #expect(!v.matches(["Accept-Encoding": "br", "Accept-Language": "de"]))
        #expect(!v.matches(["Accept-Language": "de"]))
    }

    @Test func absentHeaderMatchesAbsent() {
        let v = VarySelector(responseHeaders: ["Vary": "Accept-Encoding"], requestHeaders: [:])
        #expect(v.matches([:]))
        #expect(!v.matches(["Accept-Encoding": "gzip"]))
        #expect(VarySelector.none.matches(["Anything": "x"]))
    }
}

@Suite struct RangeTests {
    @Test(arguments: [
        ("bytes=0-99", 1000, ByteRangeOutcome.partial(0...99)),
        ("bytes=900-", 1000, .partial(900...999)),
        ("bytes=-100", 1000, .partial(900...999)),
        ("bytes=-5000", 1000, .partial(0...999)),
        ("bytes=990-2000", 1000, .partial(990...999)),
        ("bytes=1000-", 1000, .unsatisfiable),
        ("bytes=-0", 1000, .unsatisfiable),
        ("bytes=0-", 0, .unsatisfiable),
        ("bytes=5-1", 1000, .full),
        ("bytes=0-1,5-9", 1000, .full),
        ("items=0-1", 1000, .full),
        ("bytes=a-b", 1000, .full),
    ])
    func evaluates(_ header: String, _ length: Int, _ expected: ByteRangeOutcome) {
        #expect(ByteRangeOutcome.evaluate(rangeHeader: header, length: length) == expected)
    }

    @Test func noHeaderIsFull() {
        #expect(ByteRangeOutcome.evaluate(rangeHeader: nil, length: 10) == .full)
    }
}

@Suite struct ConditionalTests {
    static let lm = "Sun, 06 Nov 1994 08:49:37 GMT"

    @Test(arguments: [
        ([("If-None-Match", "\"a\"")], true),
        ([("If-None-Match", "W/\"a\"")], true),
        ([("If-None-Match", "\"b\", \"a\"")], true),
        ([("If-None-Match", "*")], true),
        ([("If-None-Match", "\"b\"")], false),
        // If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.1.3).
        ([("If-None-Match", "\"b\""), ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")], false),
        ([("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")], true),
        ([("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")], false),
        ([("If-Modified-Since", "garbage")], false),
        ([], false),
    ] as [([(String, String)], Bool)])
    func notModified(_ headers: [(String, String)], _ expected: Bool) {
        #expect(ConditionalRequest.isNotModified(requestHeaders: HTTPHeaders(headers), etag: "\"a\"", lastModified: Self.lm) == expected)
    }

    @Test func ifRange() {
        #expect(ConditionalRequest.rangeApplies(requestHeaders: ["If-Range": "\"a\""], etag: "\"a\"", lastModified: nil))
        #expect(!ConditionalRequest.rangeApplies(requestHeaders: ["If-Range": "\"b\""], etag: "\"a\"", lastModified: nil))
        #expect(!ConditionalRequest.rangeApplies(requestHeaders: ["If-Range": "W/\"a\""], etag: "W/\"a\"", lastModified: nil))
        #expect(ConditionalRequest.rangeApplies(requestHeaders: ["If-Range": Self.lm], etag: nil, lastModified: Self.lm))
        #expect(ConditionalRequest.rangeApplies(requestHeaders: [:], etag: nil, lastModified: nil))
    }
}

@Suite struct HeaderRulesTests {
    @Test func removesHopByHopAndConnectionNamedFields() {
        let h = HeaderRules.removingHopByHop(["Connection": "close, X-Secret", "X-Secret": "1", "Keep-Alive": "5", "Transfer-Encoding": "chunked", "ETag": "\"a\""])
        #expect(h.map(\.name) == ["ETag"])
    }

    @Test func a304UpdatesStoredHeadersButNotLength() {
        let stored: HTTPHeaders = ["Content-Length": "10", "ETag": "\"a\"", "Cache-Control": "max-age=1", "Content-Type": "text/plain"]
        let updated = HeaderRules.updating(stored: stored, with: ["Cache-Control": "max-age=60", "Content-Length": "0", "Date": "x", "Connection": "close"])
        #expect(updated.first(name: "cache-control") == "max-age=60")
        #expect(updated.first(name: "content-length") == "10")
        #expect(updated.first(name: "content-type") == "text/plain")
        #expect(updated.first(name: "date") == "x")
        #expect(!updated.contains(name: "connection"))
    }
}

@Suite struct CacheStatusTests {
    @Test func formatsRFC9211() {
        #expect(CacheStatus(cacheName: "e1", outcome: .hit, ttl: 30).headerValue == "e1; hit; ttl=30")
        var s = CacheStatus(cacheName: "e1", outcome: .forward(.miss), ttl: 60)
        s.stored = true
        s.forwardStatus = 200
        s.collapsed = true
        #expect(s.headerValue == "e1; fwd=miss; fwd-status=200; ttl=60; stored; collapsed")
    }
}

@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("/a", "/a", nil, [] as [String]),
        ("/a?", "/a", "", []),
        ("/a?x=1&x=2&y", "/a", "x=1&x=2&y", ["x=1", "x=2", "y="]),
        ("/p?q=a+b%20c&%7A=%zz", "/p", "q=a+b%20c&%7A=%zz", ["q=a b c", "z=%zz"]),
        ("/a?b?c=d", "/a", "b?c=d", ["b?c=d"]),
    ] as [(String, String, String?, [String])])
    func splitsPathAndQueryAndDecodesParameters(_ target: String, _ path: String, _ query: String?, _ parameters: [String]) {
        let t = RequestTarget(target)
        #expect(t.path == path)
        #expect(t.query.map(String.init) == query)
        #expect(t.parameters.map { "\($0.name)=\($0.value)" } == parameters)
    }
}
