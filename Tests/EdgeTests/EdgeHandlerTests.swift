import CacheStore
import Logging
import HTTPCaching
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import TestSupport
import Testing
import Topology
@testable import Edge

/// An origin the test speaks for: each request the edge sends waits until the test answers it.
final class ScriptedOriginClient: OriginClient {
    final class Exchange: OriginCall, Sendable {
        let request: OriginRequest
        let handler: any OriginResponseHandler
        let loop: EmbeddedEventLoop
        private let cancelledFlag = Atomic<Bool>(false)

        init(request: OriginRequest, handler: any OriginResponseHandler, loop: EmbeddedEventLoop) {
            self.request = request
            self.handler = handler
            self.loop = loop
        }

        var eventLoop: any EventLoop { loop }
        var cancelled: Bool { cancelledFlag.load(ordering: .relaxed) }
        /// As AsyncHTTPClient does: a cancelled request ends with an error.
        func cancel() {
            guard !cancelledFlag.exchange(true, ordering: .relaxed) else { return }
            handler.originFailed(.cancelled)
        }

        func head(_ status: Int = 200, _ headers: [(String, String)]) {
            handler.originHead(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: HTTPHeaders(headers)))
        }
        @discardableResult
        func body(_ text: String) -> EventLoopFuture<Void> { handler.originBody(ByteBuffer(string: text), loop: loop) }
        func end() { handler.originEnd() }
        func fail(_ error: OriginError) { handler.originFailed(error) }
        func header(_ name: String) -> String? { request.headers.first(name: name) }
    }

    let loop: EmbeddedEventLoop
    private let log = Mutex<[Exchange]>([])
    init(loop: EmbeddedEventLoop) { self.loop = loop }

    var exchanges: [Exchange] { log.withLock { $0 } }

    func send(_ request: OriginRequest, to handler: any OriginResponseHandler) -> any OriginCall {
        let e = Exchange(request: request, handler: handler, loop: loop)
        log.withLock { $0.append(e) }
        return e
    }

    func shutdown() async {}
}

/// `EdgeHandler` on `EmbeddedChannel`s in front of a scripted origin: each request-path case
/// as a table row, the edge's whole decision visible in what the client channel gets.
@Suite struct EdgeHandlerTests {
    final class Clock: Sendable {
        let now = Mutex(1_000_000.0)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    }

    struct Response {
        var head: HTTPResponseHead?
        var body = ""
        var ended = false
        var status: Int { Int(head?.status.code ?? 0) }
        func header(_ name: String) -> String? { head?.headers.first(name: name) }
        var cacheStatus: String { header("cache-status") ?? "" }
    }

    struct Rig {
        let loop = EmbeddedEventLoop()
        let origin: ScriptedOriginClient
        let clock = Clock()
        let edge: EdgeContext

        init(maxObjectSize: Int = 64 << 10, pushes: PushStore? = nil) {
            origin = ScriptedOriginClient(loop: loop)
            var config = EdgeConfig(name: "e", origin: OriginURL("http://origin.test")!, cacheSize: 1 << 20, maxObjectSize: maxObjectSize)
            config.minify = []
            config.compress = []
            let clock = self.clock
            edge = EdgeContext(
                config: config, store: MemoryStore(budget: config.cacheSize),
                edgeSite: SitePolicy(name: nil, index: nil, config: config, assets: AssetTransform(config: config), pushes: pushes), sites: [],
                coordinator: FetchCoordinator(clock: { clock.now.withLock { $0 } }), origin: origin, stats: EdgeStats(edge: "e"),
                accessLog: nil, clock: { clock.now.withLock { $0 } }, logger: Logger(label: "e", factory: { _ in SwiftLogNoOpLogHandler() }),
                via: "1.1 e (outpost)", rateLimiter: nil
            )
        }

        func client() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(EdgeHandler(edge: edge, overTLS: false))
            return channel
        }

        func send(_ channel: EmbeddedChannel, _ uri: String, _ headers: [(String, String)] = [], method: HTTPMethod = .GET) throws {
            var h = HTTPHeaders(headers)
            h.add(name: "Host", value: "edge.test")
            try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: h)))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
        }

        /// Runs what was woken, then reads what the client channel got.
        func read(_ channel: EmbeddedChannel) throws -> Response {
            loop.run()
            var r = Response()
            while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
                switch part {
                case .head(let h): r.head = h
                case .body(.byteBuffer(let b)): r.body += String(buffer: b)
                case .body: break
                case .end: r.ended = true
                }
            }
            return r
        }

        func outcome(_ name: String) -> Int { edge.stats.snapshot(edge: "e", dataCenter: "d", store: edge.store.stats, pushes: [], now: 0).outcomes[name]?.requests ?? 0 }
    }

    static let cacheable: [(String, String)] = [("Cache-Control", "max-age=60"), ("ETag", "\"e1\""), ("Content-Length", "5")]

    @Test func missThenHit() throws {
        let rig = Rig()
        let a = try rig.client()
        try rig.send(a, "/a")
        #expect(rig.origin.exchanges.count == 1)
        let x = rig.origin.exchanges[0]
        #expect(x.request.url == "http://origin.test/a" && x.request.method == .GET)
        x.head(200, Self.cacheable)
        x.body("hello")
        x.end()
        let miss = try rig.read(a)
        #expect(miss.status == 200 && miss.body == "hello" && miss.ended)
        #expect(miss.cacheStatus == "e; fwd=miss; fwd-status=200; ttl=60; stored")
        let b = try rig.client()
        try rig.send(b, "/a")
        let hit = try rig.read(b)
        #expect(hit.body == "hello" && hit.cacheStatus.hasPrefix("e; hit") && hit.header("age") == "0")
        #expect(rig.origin.exchanges.count == 1)
        #expect(rig.outcome("miss") == 1 && rig.outcome("hit") == 1)
    }

    @Test func aPushedObjectIsAnsweredWithoutTheOriginAndAnExpiredOneIs404() throws {
        let dir = TemporaryFolder()
        let (pushes, _) = try PushStore.open(directory: dir.path, capacity: 1 << 20, now: 1_000_000)
        try pushes.put(PushedObject(path: "/p.txt", body: ByteBuffer(string: "pushed!"), sha256: "", contentType: "text/plain",
                                    tags: [], expires: 1_000_060, pushedAt: 1_000_000))
        let rig = Rig(pushes: pushes)
        let c = try rig.client()
        try rig.send(c, "/p.txt")
        let r = try rig.read(c)
        #expect(r.body == "pushed!" && r.cacheStatus.contains("detail=\"pushed\"") && r.cacheStatus.contains("ttl=60"))
        rig.clock.advance(120)
        try rig.send(c, "/p.txt")
        let gone = try rig.read(c)
        #expect(gone.status == 404 && gone.body.contains("expired") && gone.cacheStatus.contains("pushed object expired"))
        #expect(rig.origin.exchanges.isEmpty, "pushed paths never go to the origin")
        #expect(rig.outcome("pushed") == 1 && rig.outcome("error") == 1)
    }

    @Test func staleIsRevalidatedWithTheStoredValidators() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/v")
        rig.origin.exchanges[0].head(200, [("Cache-Control", "max-age=10"), ("ETag", "\"v1\""), ("Content-Length", "5")])
        rig.origin.exchanges[0].body("first")
        rig.origin.exchanges[0].end()
        _ = try rig.read(c)
        rig.clock.advance(20)
        try rig.send(c, "/v")
        let x = rig.origin.exchanges[1]
        #expect(x.header("if-none-match") == "\"v1\"")
        x.head(304, [("Cache-Control", "max-age=10"), ("ETag", "\"v1\"")])
        x.end()
        let r = try rig.read(c)
        #expect(r.status == 200 && r.body == "first" && r.cacheStatus.contains("fwd=stale; fwd-status=304"))
        #expect(rig.outcome("revalidated") == 1)
    }

    @Test func staleWhileRevalidateAnswersAtOnceAndRefreshesBehind() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/s")
        rig.origin.exchanges[0].head(200, [("Cache-Control", "max-age=1, stale-while-revalidate=60"), ("Content-Length", "3")])
        rig.origin.exchanges[0].body("old")
        rig.origin.exchanges[0].end()
        _ = try rig.read(c)
        rig.clock.advance(5)
        try rig.send(c, "/s")
        let r = try rig.read(c)
        #expect(r.body == "old" && r.cacheStatus.contains("detail=\"stale-while-revalidate\""))
        #expect(rig.origin.exchanges.count == 2, "a background refresh went out")
        rig.origin.exchanges[1].head(200, [("Cache-Control", "max-age=60"), ("Content-Length", "3")])
        rig.origin.exchanges[1].body("new")
        rig.origin.exchanges[1].end()
        try rig.send(c, "/s")
        #expect(try rig.read(c).body == "new")
    }

    @Test(arguments: [OriginError.timeout, .failed("connection refused")])
    func staleIfErrorServesTheStoredCopyWhenTheOriginFails(error: OriginError) throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/e")
        rig.origin.exchanges[0].head(200, [("Cache-Control", "max-age=1, stale-if-error=60"), ("Content-Length", "4")])
        rig.origin.exchanges[0].body("kept")
        rig.origin.exchanges[0].end()
        _ = try rig.read(c)
        rig.clock.advance(5)
        try rig.send(c, "/e")
        rig.origin.exchanges[1].fail(error)
        let r = try rig.read(c)
        #expect(r.status == 200 && r.body == "kept" && r.cacheStatus.contains("detail=\"stale-if-error\""))
    }

    @Test func concurrentMissesCollapseOntoOneOriginRequest() throws {
        let rig = Rig()
        let a = try rig.client(), b = try rig.client()
        try rig.send(a, "/c")
        try rig.send(b, "/c")
        #expect(rig.origin.exchanges.count == 1)
        rig.origin.exchanges[0].head(200, Self.cacheable)
        rig.origin.exchanges[0].body("he")
        #expect(try rig.read(a).body == "he", "each reader gets the bytes as they come")
        rig.origin.exchanges[0].body("llo")
        rig.origin.exchanges[0].end()
        let ra = try rig.read(a), rb = try rig.read(b)
        #expect(ra.body == "llo" && ra.ended)
        #expect(rb.body == "hello" && rb.ended && rb.cacheStatus.contains("collapsed"))
        #expect(rig.outcome("miss") == 1 && rig.outcome("collapsed") == 1)
    }

    @Test func anAuthenticatedRequestPassesAndIsNotShared() throws {
        let rig = Rig()
        let a = try rig.client(), b = try rig.client()
        try rig.send(a, "/p", [("Authorization", "Bearer x")])
        try rig.send(b, "/p")
        #expect(rig.origin.exchanges.count == 2, "the pass is not collapsed with a lookup")
        #expect(rig.origin.exchanges[0].header("authorization") == "Bearer x")
        rig.origin.exchanges[0].head(200, [("Content-Length", "6")])
        rig.origin.exchanges[0].body("secret")
        rig.origin.exchanges[0].end()
        let r = try rig.read(a)
        #expect(r.body == "secret" && r.cacheStatus.contains("fwd=request"))
        #expect(rig.outcome("pass") == 1)
        #expect(try rig.read(b).head == nil, "the other request still waits for its own response")
    }

    @Test func anOriginFailingMidBodyBreaksTheResponseOffAndStoresNothing() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/m")
        rig.origin.exchanges[0].head(200, [("Cache-Control", "max-age=60"), ("Content-Length", "10")])
        rig.origin.exchanges[0].body("half")
        let started = try rig.read(c)
        rig.origin.exchanges[0].fail(.failed("connection reset"))
        let r = try rig.read(c)
        #expect(started.status == 200 && started.body == "half" && !r.ended)
        #expect(!c.isActive, "the connection is closed so the client sees a short body")
        #expect(rig.edge.store.stats.objects == 0)
        #expect(rig.outcome("error") == 1)
    }

    @Test(arguments: [("no-store", true), ("max-age=60", false)])
    func aClientGoneMidBodyCancelsOnlyAResponseThatIsNotStored(cacheControl: String, cancels: Bool) throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/g")
        let x = rig.origin.exchanges[0]
        x.head(200, [("Cache-Control", cacheControl), ("Content-Length", "10")])
        x.body("part")
        _ = try rig.read(c)
        try c.close().wait()
        rig.loop.run()
        #expect(x.cancelled == cancels)
        #expect(rig.outcome("miss") == 1, "a request whose client left is still counted")
        if !cancels {
            x.body("-rest!")
            x.end()
            #expect(rig.edge.store.stats.objects == 1, "a fetch being stored finishes, as in Varnish")
        }
    }

    /// `origin_timeout` (10 s here) from the request to the head, and between body parts.
    @Test(arguments: [false, true])
    func anOriginThatGoesQuietTimesOut(afterHead: Bool) throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/q")
        let x = rig.origin.exchanges[0]
        if afterHead {
            rig.loop.advanceTime(by: .seconds(8))
            x.head(200, [("Cache-Control", "max-age=60"), ("Content-Length", "10")])
            x.body("part")
        }
        rig.loop.advanceTime(by: .seconds(9))
        #expect(!x.cancelled, "heard from within the timeout")
        rig.loop.advanceTime(by: .seconds(2))
        #expect(x.cancelled)
        let r = try rig.read(c)
        if afterHead {
            #expect(r.status == 200 && r.body == "part" && !c.isActive, "broken off mid-body")
        } else {
            #expect(r.status == 504 && r.body.contains("did not answer /q within 10 s"))
        }
    }

    @Test func headOnAMissSendsAHeadAndGetsOnlyTheHead() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/h", method: .HEAD)
        let x = rig.origin.exchanges[0]
        #expect(x.request.method == .HEAD)
        x.head(200, [("Cache-Control", "max-age=60"), ("Content-Length", "1000")])
        x.end()
        let r = try rig.read(c)
        #expect(r.status == 200 && r.header("content-length") == "1000" && r.body.isEmpty && r.ended)
        #expect(rig.edge.store.stats.objects == 0, "a HEAD stores nothing")
    }

    @Test func rangeOnAMissLeavesWithItsBytesAndOnAHitFromTheStore() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/r", [("Range", "bytes=2-4")])
        let x = rig.origin.exchanges[0]
        x.head(200, [("Cache-Control", "max-age=60"), ("ETag", "\"r\""), ("Content-Length", "10")])
        x.body("01234")
        let r = try rig.read(c)
        #expect(r.status == 206 && r.header("content-range") == "bytes 2-4/10" && r.body == "234" && r.ended,
                "the range is complete before the origin's body is")
        x.body("56789")
        x.end()
        try rig.send(c, "/r", [("Range", "bytes=-3")])
        let hit = try rig.read(c)
        #expect(hit.status == 206 && hit.body == "789" && hit.cacheStatus.contains("hit"))
        try rig.send(c, "/r", [("Range", "bytes=2-4"), ("If-Range", "\"other\"")])
        #expect(try rig.read(c).status == 200, "If-Range that does not match: the whole object")
        try rig.send(c, "/r", [("Range", "bytes=20-")])
        #expect(try rig.read(c).status == 416)
        #expect(rig.origin.exchanges.count == 1)
    }

    @Test func aConditionalOnAMissIsAnsweredAtTheHead() throws {
        let rig = Rig()
        let c = try rig.client()
        try rig.send(c, "/n", [("If-None-Match", "\"e1\"")])
        let x = rig.origin.exchanges[0]
        #expect(x.header("if-none-match") == nil, "the cache sends its own conditionals, not the client's")
        x.head(200, Self.cacheable)
        let r = try rig.read(c)
        #expect(r.status == 304 && r.body.isEmpty && r.ended)
        x.body("hello")
        x.end()
        #expect(rig.edge.store.stats.objects == 1)
    }
}
