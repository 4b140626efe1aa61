import Foundation
import Origin
import TestSupport
import Testing
import Topology
@testable import Edge

/// Every outcome counted exactly, checked against what the origin itself saw.
@Suite struct StatsTests {
    @Test func countsAreExactAndMatchTheOrigin() async throws {
        let dir = TemporaryFolder()
        let origin = ScriptedOrigin()
        origin.route("/a") { _ in .init(headers: [("Cache-Control", "max-age=60")], body: String(repeating: "a", count: 1000)) }
        origin.route("/slow") { _ in .init(headers: [("Cache-Control", "max-age=60")], body: String(repeating: "s", count: 500), delay: 0.3) }
        origin.route("/v") { req in
            req.header("if-none-match") == "\"v\""
                ? .init(status: 304, headers: [("ETag", "\"v\""), ("Cache-Control", "max-age=1")])
                : .init(headers: [("ETag", "\"v\""), ("Cache-Control", "max-age=1")], body: String(repeating: "v", count: 200))
        }
        origin.route("/form") { _ in .init(status: 200, body: "ok") }
        _ = try await origin.start()
        let log = dir.path + "/access.log"
        let config = EdgeConfig(
            name: "stats-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin.url)!,
            controlListen: ListenAddress(host: "127.0.0.1", port: 0), controlToken: "stats-test-token-0123456789", dataDirectory: dir.path + "/data"
        )
        var withLog = config
        withLog.accessLog = log
        let edge = try EdgeServer(config: withLog)
        try await edge.start()
        let port = edge.port
        func get(_ path: String) async throws -> RawResponse { try await RawHTTP.async("GET", path, port: port) }

        _ = try await get("/a")                       // miss (1000 bytes)
        _ = try await get("/a")                       // hit
        _ = try await get("/a")                       // hit
        async let s1 = get("/slow")                   // miss …
        try await Task.sleep(for: .milliseconds(50))
        async let s2 = get("/slow")                   // … and one collapsed onto it
        _ = try await (s1, s2)
        _ = try await get("/v")                       // miss
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await get("/v")                       // revalidated (304)
        _ = try await RawHTTP.async("POST", "/form", port: port, body: "x=1")  // pass
        _ = try await RawHTTP.async("PUT", "/push/p.txt", port: edge.controlPort,
                                    headers: ["Authorization": "Bearer stats-test-token-0123456789", "X-Outpost-Expires": "1h"], body: "pushed!")
        _ = try await get("/p.txt")                   // pushed (7 bytes)
        _ = try await RawHTTP.async("PURGE", "/a", port: port)  // error (405)

        let s = edge.statsSnapshot
        #expect(s.outcomes["miss"]?.requests == 3)
        #expect(s.outcomes["hit"]?.requests == 2)
        #expect(s.outcomes["hit"]?.bytes == 2000)
        #expect(s.outcomes["collapsed"]?.requests == 1)
        #expect(s.outcomes["revalidated"]?.requests == 1)
        #expect(s.outcomes["pass"]?.requests == 1)
        #expect(s.outcomes["pushed"]?.requests == 1 && s.outcomes["pushed"]?.bytes == 7)
        #expect(s.outcomes["error"]?.requests == 1)
        #expect(s.origin.requests == origin.requests.count, "the edge's count of origin requests is the origin's own")
        #expect(s.origin.requests == 5)  // /a, /slow, /v twice, /form
        // 10 public requests, 9 but the pass; answered without an origin request of their own:
        // 2 hits, 1 collapsed, 1 pushed.
        #expect(abs(s.hitRatio - 4.0 / 9.0) < 1e-9, "\(s.hitRatio)")
        // Bytes: hit 2000 + collapsed 500 + pushed 7 + revalidated 200 saved, of 1000+2000+1000(slow×2)+400(v×2)+7+error body.
        let errorBytes = s.outcomes["error"]!.bytes
        #expect(abs(s.byteHitRatio - 2707.0 / Double(4407 + errorBytes)) < 1e-9, "\(s.byteHitRatio)")
        #expect(s.definition.contains("all requests but passes"))

        let metrics = try await RawHTTP.async("GET", "/metrics", port: edge.controlPort, headers: ["Authorization": "Bearer stats-test-token-0123456789"])
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"outpost_requests_total{edge="stats-edge",outcome="hit"} 2"#), "\(metrics.text.prefix(600))")
        #expect(metrics.text.contains(#"outpost_origin_requests_total{edge="stats-edge"} 5"#))
        #expect(metrics.text.contains("outpost_origin_response_seconds_bucket"))
        let json = try await RawHTTP.async("GET", "/stats", port: edge.controlPort, headers: ["Authorization": "Bearer stats-test-token-0123456789"])
        #expect(json.status == 200 && json.text.contains("\"hitRatio\""))
        #expect(try await RawHTTP.async("GET", "/stats", port: edge.controlPort).status == 401)

        await edge.stop()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 10, "one line per request")
        // Each event loop writes its lines in order; the loops' blocks interleave (as nginx
        // workers' buffered logs do), so lines are found by what they say.
        #expect(lines.contains { $0.contains("\"GET /a HTTP/1.1\" 200 1000") && $0.contains(" MISS ") })
        #expect(lines.contains { $0.contains("\"GET /a HTTP/1.1\" 200 1000") && $0.contains(" HIT ") })
        #expect(lines.allSatisfy { $0.split(separator: " ").count >= 12 && Double($0.split(separator: " ").last!) != nil }, "every line ends with its seconds")
        #expect(lines.contains { $0.contains(" COLLAPSED ") } && lines.contains { $0.contains(" REVALIDATED ") } && lines.contains { $0.contains(" PUSHED ") })
        await origin.stop()
    }
}
