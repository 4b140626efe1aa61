import Edge
import Foundation
import HTTPCaching
import Testing
import TestSupport
import Topology

/// What the edge does with hostile clients and hostile origins, through real sockets.
@Suite struct EdgeHardeningTests {
    static let token = "hardening-test-token-0123456789"

    static func edge(origin: String, _ adjust: (inout EdgeConfig) -> Void = { _ in }) async throws -> EdgeServer {
        var c = EdgeConfig(name: "hard", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin)!, originConnectTimeout: 0.5)
        adjust(&c)
        let e = try EdgeServer(config: c)
        try await e.start()
        return e
    }

    static func plainOrigin() async throws -> ScriptedOrigin {
        let o = ScriptedOrigin()
        o.route("/a") { _ in .init(headers: [("Cache-Control", "public, max-age=60"), ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], body: "aaa") }
        o.route("/echo") { r in .init(headers: [("Cache-Control", "no-store")], body: r.header("x-forwarded-proto") ?? "none") }
        _ = try await o.start()
        return o
    }

    /// Dates, ranges and preconditions a client chooses: the RFC's answer, never a crash.
    @Test(arguments: [
        ("If-Modified-Since", "Sun, 06 Nov 999999999999 08:49:37 GMT"),
        ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT\u{0}"),
        ("If-Unmodified-Since", "Sat, 01 Jan -9999999999 00:00:00 GMT"),
        ("If-Range", "Sun, 06 Nov 999999999999 08:49:37 GMT"),
        ("Range", "bytes=99999999999999999999999-"),
        ("Range", "bytes=-99999999999999999999999"),
        ("Range", "bytes=5-1"),
        ("Range", "bytes=0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0"),
        ("If-None-Match", String(repeating: "\"x\",", count: 2000)),
        ("Cache-Control", "max-age=99999999999999999999999999, max-stale=-1"),
        ("Accept-Encoding", "gzip;q=1e999, br;q=nan, zstd;q=-0"),
    ])
    func hostileRequestHeadersGetAnAnswer(_ name: String, _ value: String) async throws {
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url)
        defer { Task { await e.stop(); await origin.stop() } }
        for _ in 0..<2 {  // a miss, then a hit
            let r = try await RawHTTP.async("GET", "/a", port: e.port, headers: [name: value])
            // 400: a NUL in a field value is not HTTP (RFC 9110 §5.5).
            #expect([200, 206, 304, 400, 412, 416].contains(r.status), "\(name): \(value.prefix(60)) → \(r.status)")
        }
        #expect(try await RawHTTP.async("GET", "/a", port: e.port).status == 200, "the edge still answers")
    }

    /// Response headers an origin chooses: stored or not, served, never a crash.
    @Test(arguments: [
        [("Date", "Sun, 06 Nov 999999999999 08:49:37 GMT"), ("Cache-Control", "public, max-age=60")],
        [("Expires", "Sun, 06 Nov 999999999999 08:49:37 GMT")],
        [("Expires", "0"), ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")],
        [("Last-Modified", "Sat, 01 Jan 1 00:00:00 GMT"), ("Date", "Fri, 31 Dec 9999 23:59:59 GMT")],
        [("Age", "99999999999999999999"), ("Cache-Control", "max-age=99999999999999999999")],
        [("Cache-Control", "s-maxage=\"\"\", stale-while-revalidate=99999999999999999999999, stale-if-error=-1")],
        [("Content-Type", ";"), ("Cache-Control", "public, max-age=60")],
        [("Content-Type", ""), ("Cache-Control", "public, max-age=60")],
        [("Vary", String(repeating: "x,", count: 500)), ("Cache-Control", "public, max-age=60")],
        [("Surrogate-Key", String(repeating: "k ", count: 2000)), ("Cache-Control", "public, max-age=60")],
    ])
    func hostileOriginHeadersAreSurvived(_ headers: [(String, String)]) async throws {
        let origin = ScriptedOrigin()
        origin.route("/h") { _ in .init(headers: headers, body: "body of some length for the asset pipeline, with text to minify") }
        _ = try await origin.start()
        let e = try await Self.edge(origin: origin.url)
        defer { Task { await e.stop(); await origin.stop() } }
        for _ in 0..<3 {
            let r = try await RawHTTP.async("GET", "/h", port: e.port, headers: ["Accept-Encoding": "gzip, br"])
            #expect(r.status == 200, "\(headers.map(\.0)) → \(r.status)")
        }
    }

    @Test func deniedAddressesGet403AndOthersAreServed() async throws {
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url) { $0.deny = [CIDR("127.0.0.2/32")!, CIDR("10.0.0.0/8")!] }
        defer { Task { await e.stop(); await origin.stop() } }
        let denied = try RawHTTP.request("GET", "/a", port: e.port, from: "127.0.0.2")
        #expect(denied.status == 403 && denied.text.contains("deny list"))
        #expect(try RawHTTP.request("GET", "/a", port: e.port, from: "127.0.0.3").status == 200)
        #expect(origin.count("/a") == 1, "a denied request never reaches the origin")
    }

    @Test func overTheRateLimitIs429WithRetryAfter() async throws {
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url) {
            $0.rateLimit = 1
            $0.rateLimitBurst = 5
        }
        defer { Task { await e.stop(); await origin.stop() } }
        var statuses: [Int] = []
        var retryAfter: String?
        for _ in 0..<8 {
            let r = try RawHTTP.request("GET", "/a", port: e.port, from: "127.0.0.4")
            statuses.append(r.status)
            if r.status == 429 { retryAfter = r.header("retry-after") }
        }
        #expect(statuses.prefix(5).allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(statuses.suffix(2).allSatisfy { $0 == 429 }, "\(statuses)")
        #expect(retryAfter.flatMap(Int.init).map { (1...2).contains($0) } == true, "Retry-After: \(retryAfter ?? "none")")
        #expect(try RawHTTP.request("GET", "/a", port: e.port, from: "127.0.0.5").status == 200, "other clients have their own budget")
        try await Task.sleep(for: .seconds(1.1))
        #expect(try RawHTTP.request("GET", "/a", port: e.port, from: "127.0.0.4").status == 200, "a token is back after a second")
    }

    @Test func theOriginHearsHowTheClientCame() async throws {
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url) { $0.tlsListen = ListenAddress(host: "127.0.0.1", port: 0) }
        defer { Task { await e.stop(); await origin.stop() } }
        #expect(try await RawHTTP.async("GET", "/echo", port: e.port).text == "http")
        let curl = try ProcessRun.run("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(e.tlsPort)/echo"])
        #expect(curl.stdout == "https", "X-Forwarded-Proto over TLS: \(curl.stdout) \(curl.stderr)")
    }

    @Test func aTLSClientThatNeverHandshakesIsClosed() async throws {
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url) {
            $0.tlsListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.limits.handshakeTimeout = 1
        }
        defer { Task { await e.stop(); await origin.stop() } }
        let c = try RawConnection(host: "127.0.0.1", port: e.tlsPort, timeout: 1)
        let t = Date()
        #expect(c.waitForClose(timeout: 4))
        #expect(Date().timeIntervalSince(t) >= 0.8)
        #expect(e.tlsListenerStats.timedOut(.handshake) == 1)
    }

    /// An HTTP/2 client that completes TLS but never sends its preface is closed by the head
    /// timeout, not kept for the idle one.
    @Test func anHTTP2ClientWithoutAPrefaceIsClosedByTheHeadTimeout() async throws {
        guard let openssl = ProcessRun.find(["/usr/bin/openssl", "/bin/openssl"]) else {
            Issue.record("openssl is needed for this test (.ci/run installs it)")
            return
        }
        let origin = try await Self.plainOrigin()
        let e = try await Self.edge(origin: origin.url) {
            $0.tlsListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.limits.headTimeout = 1
        }
        defer { Task { await e.stop(); await origin.stop() } }
        let client = Process()
        client.executableURL = URL(fileURLWithPath: openssl)
        client.arguments = ["s_client", "-quiet", "-alpn", "h2", "-connect", "127.0.0.1:\(e.tlsPort)"]
        let stdin = Pipe()
        client.standardInput = stdin
        client.standardOutput = FileHandle.nullDevice
        client.standardError = FileHandle.nullDevice
        try client.run()
        defer { if client.isRunning { client.terminate() } }
        #expect(try await eventually(timeout: 6) { !client.isRunning }, "the edge closed the silent HTTP/2 connection")
        #expect(e.tlsListenerStats.timedOut(.head) == 1)
        _ = stdin
    }

    /// A full disk under the access log (/dev/full answers every write with ENOSPC): the edge
    /// keeps serving and counts the lines it could not write.
    @Test func aFullDiskUnderTheAccessLogLosesLinesNotRequests() async throws {
        let origin = try await Self.plainOrigin()
        let dir = TemporaryFolder()
        let e = try await Self.edge(origin: origin.url) {
            $0.accessLog = "/dev/full"
            $0.controlListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.controlToken = Self.token
            $0.dataDirectory = dir.path + "/data"
        }
        defer { Task { await e.stop(); await origin.stop() } }
        for _ in 0..<200 { #expect(try await RawHTTP.async("GET", "/a", port: e.port).status == 200) }
        let metrics = try await eventuallyText(timeout: 3) {
            (try? RawHTTP.request("GET", "/metrics", port: e.controlPort, headers: ["Authorization": "Bearer \(Self.token)"]))?.text ?? ""
        } until: { $0.contains("outpost_access_log_dropped_lines_total{edge=\"hard\"} 200") }
        #expect(metrics.contains("outpost_access_log_dropped_lines_total{edge=\"hard\"} 200"), "\(metrics.split(separator: "\n").filter { $0.contains("dropped") })")
    }

    @Test func accessLogTargetsAreCutAndTheLogReopens() async throws {
        let origin = try await Self.plainOrigin()
        let dir = TemporaryFolder()
        let path = dir.path + "/access.log"
        let e = try await Self.edge(origin: origin.url) { $0.accessLog = path }
        defer { Task { await e.stop(); await origin.stop() } }
        _ = try await RawHTTP.async("GET", "/a?" + String(repeating: "q", count: 20_000), port: e.port)
        #expect(try await eventually { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("...") })
        let line = try String(contentsOfFile: path, encoding: .utf8)
        #expect(line.utf8.count < 2_300, "a 20 kB target is cut: \(line.utf8.count) bytes")
        // Rotation: move the file away, reopen (what SIGUSR1 does), and new lines go to a new file.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        e.reopenLogs()
        _ = try await RawHTTP.async("GET", "/a", port: e.port)
        #expect(try await eventually { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("GET /a HTTP/1.1") })
    }

    /// A refusal is answered as soon as it is known, not after a body the client may trickle
    /// for ever, and the connection is closed.
    @Test func refusalsDoNotWaitForTheBody() async throws {
        let origin = try await Self.plainOrigin()
        let dir = TemporaryFolder()
        let e = try await Self.edge(origin: origin.url) {
            $0.maxRequestBodySize = 1_000
            $0.controlListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.controlToken = Self.token
            $0.dataDirectory = dir.path + "/data"
        }
        defer { Task { await e.stop(); await origin.stop() } }
        let control = try RawConnection(host: "127.0.0.1", port: e.controlPort, timeout: 2)
        control.send("PUT /push/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome")
        #expect(try control.readResponse().status == 401, "no token: refused before the body")
        #expect(control.waitForClose(timeout: 2))
        let big = try RawConnection(host: "127.0.0.1", port: e.port, timeout: 2)
        big.send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + String(repeating: "b", count: 2048) + "\r\n")
        #expect(try big.readResponse().status == 413, "over max_request_body_size: refused before the body ends")
        #expect(big.waitForClose(timeout: 2))
    }

    @Test func variantsOfOneURLAreCapped() async throws {
        let origin = ScriptedOrigin()
        origin.route("/v") { r in .init(headers: [("Cache-Control", "public, max-age=60"), ("Vary", "User-Agent")], body: r.header("user-agent") ?? "") }
        _ = try await origin.start()
        let e = try await Self.edge(origin: origin.url) { $0.maxVariants = 4 }
        defer { Task { await e.stop(); await origin.stop() } }
        for i in 0..<50 { _ = try await RawHTTP.async("GET", "/v", port: e.port, headers: ["User-Agent": "c\(i)"]) }
        #expect(e.store.stats.objects == 4, "50 values of a Vary header keep 4 variants: \(e.store.stats.objects)")
        let again = try await RawHTTP.async("GET", "/v", port: e.port, headers: ["User-Agent": "c49"])
        #expect(again.cacheStatus.contains("hit") && again.text == "c49")
    }
}

func eventuallyText(timeout: Double, _ read: () -> String, until done: (String) -> Bool) async throws -> String {
    let deadline = Date().addingTimeInterval(timeout)
    var last = read()
    while !done(last), Date() < deadline {
        try await Task.sleep(for: .milliseconds(100))
        last = read()
    }
    return last
}
