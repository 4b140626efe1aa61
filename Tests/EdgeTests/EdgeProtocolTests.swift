import Foundation
import TestSupport
import Testing
@testable import Edge

/// Collapsing, streaming, failures and the HTTP details of the edge's public listener.
@Suite struct EdgeProtocolTests {
    @Test func hundredConcurrentColdRequestsMakeOneOriginRequest() async throws {
        let origin = ScriptedOrigin()
        let body = patternBytes(50_000)
        origin.route("/cold") { _ in .init(headers: [("Cache-Control", "max-age=60")], chunks: [.init(Array(body[..<1000])), .init(Array(body[1000...]), delay: 0.3)], delay: 0.2) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let responses = try await withThrowingTaskGroup(of: RawResponse.self) { group in
            for _ in 0..<100 { group.addTask { try await edge.get("/cold") } }
            var all: [RawResponse] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(responses.count == 100)
        #expect(responses.allSatisfy { $0.status == 200 && $0.body == body && !$0.truncated })
        #expect(origin.count("/cold") == 1, "one origin request for 100 clients")
        let collapsed = responses.filter { $0.cacheStatus.contains("collapsed") || $0.cacheStatus.contains("hit") }.count
        #expect(collapsed == 99, "all but the first waited on it or hit")
        await edge.stop()
        await origin.stop()
    }

    @Test func aMissStreamsBeforeTheOriginHasFinished() async throws {
        let origin = ScriptedOrigin()
        let gate = ScriptedOrigin.Gate()
        let first = patternBytes(20_000, seed: 1)
        let rest = patternBytes(200_000, seed: 2)
        origin.route("/stream") { _ in .init(headers: [("Cache-Control", "max-age=60")], chunks: [.init(first), .init(rest, gate: gate)]) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let c = try RawConnection(host: "127.0.0.1", port: edge.port, timeout: 5)
        c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        // The origin holds back the rest until the client has seen the first part through the edge.
        let seen = try c.peek(atLeast: 20_000)
        #expect(seen.count >= 20_000)
        gate.release()
        let r = try c.readResponse()
        #expect(r.body == first + rest)
        #expect(try await edge.get("/stream").cacheStatus.contains("hit"))
        await edge.stop()
        await origin.stop()
    }

    @Test(arguments: [true, false])
    func anOriginThatDiesMidBodyLeavesNothingStored(_ withLength: Bool) async throws {
        let origin = ScriptedOrigin()
        let calls = VersionCounter()
        origin.route("/dies") { _ in
            if calls.next() == 1 {
                var r = ScriptedOrigin.Response(headers: [("Cache-Control", "max-age=60")], chunks: [.init(patternBytes(10_000))])
                r.dieAfterChunks = true
                r.declaredLength = 100_000
                r.sendContentLength = withLength
                return r
            }
            return .init(headers: [("Cache-Control", "max-age=60")], body: "complete")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let broken = try await edge.get("/dies")
        // Cut off after what it was sent, or (when the failure came before its first byte went
        // out) a clean 502: never a complete-looking 200.
        #expect(broken.truncated || broken.status == 502, "the client sees a broken response")
        #expect(!(broken.status == 200 && !broken.truncated), "never a complete-looking one")
        #expect(try await eventually { edge.edge.fetchesInFlight == 0 })
        #expect(edge.edge.store.stats.objects == 0)
        let next = try await edge.get("/dies")
        #expect(next.text == "complete" && next.cacheStatus.contains("fwd=miss"))
        await edge.stop()
        await origin.stop()
    }

    @Test func neverAnOpenProxyAndNeverPoisonedByUnkeyedHeaders() async throws {
        let origin = ScriptedOrigin()
        origin.route("/page") { req in
            // An origin that (unwisely) builds links from X-Forwarded-Host.
            let host = req.header("x-forwarded-host") ?? "good.example"
            return .init(headers: [("Cache-Control", "max-age=60")], body: "<a href=\"https://\(host)/\">home</a> host=\(req.header("host") ?? "")")
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let poisoned = try await edge.get("/page", headers: ["X-Forwarded-Host": "evil.example", "Host": "evil.example"])
        #expect(!poisoned.text.contains("evil"))
        let c = try RawConnection(host: "127.0.0.1", port: edge.port)
        c.send("GET http://evil.example/page HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        let absolute = try c.readResponse()
        #expect(absolute.status == 200 && !absolute.text.contains("evil"))
        #expect(origin.requests.allSatisfy { $0.header("host")?.hasPrefix("127.0.0.1") == true }, "only the configured origin is asked")
        #expect(origin.requests.allSatisfy { $0.header("x-forwarded-host") == nil })
        #expect(try await edge.get("/page").text.contains("good.example"))
        await edge.stop()
        await origin.stop()
    }

    @Test func rangesAndPreconditionsOnStoredObjects() async throws {
        let origin = ScriptedOrigin()
        let body = patternBytes(1000)
        origin.route("/r") { _ in .init(headers: [("Cache-Control", "max-age=60"), ("ETag", "\"r1\"")], chunks: [.init(body)]) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let coldRange = try await edge.get("/r", headers: ["Range": "bytes=10-19"])
        #expect(coldRange.status == 206 && coldRange.body == Array(body[10...19]), "a Range on a miss is answered from the whole object")
        let range = try await edge.get("/r", headers: ["Range": "bytes=-100"])
        #expect(range.status == 206 && range.header("content-range") == "bytes 900-999/1000" && range.body == Array(body[900...]))
        #expect(range.cacheStatus.contains("hit"))
        let unsatisfiable = try await edge.get("/r", headers: ["Range": "bytes=1000-"])
        #expect(unsatisfiable.status == 416 && unsatisfiable.header("content-range") == "bytes */1000")
        let notModified = try await edge.get("/r", headers: ["If-None-Match": "\"r1\""])
        #expect(notModified.status == 304 && notModified.body.isEmpty && notModified.header("etag") == "\"r1\"")
        #expect(origin.count("/r") == 1)
        await edge.stop()
        await origin.stop()
    }

    @Test func headMissThenGetHitAndPipelining() async throws {
        let origin = ScriptedOrigin()
        origin.route("/h") { _ in .init(headers: [("Cache-Control", "max-age=60")], body: "hello") }
        origin.route("/g") { _ in .init(headers: [("Cache-Control", "max-age=60")], body: "world") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let head = try await edge.request("HEAD", "/h")
        #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == "5")
        #expect(origin.requests("/h").first?.method == "HEAD", "a HEAD on a miss costs the origin a HEAD")
        let c = try RawConnection(host: "127.0.0.1", port: edge.port)
        c.send("GET /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\nHEAD /g HTTP/1.1\r\nHost: x\r\n\r\n")
        let a = try c.readResponse(), b = try c.readResponse(), h = try c.readResponse(head: true)
        #expect(a.text == "hello" && a.cacheStatus.contains("fwd=miss"))
        #expect(b.text == "world" && b.cacheStatus.contains("fwd=miss"))
        #expect(h.status == 200 && h.cacheStatus.contains("hit"))
        await edge.stop()
        await origin.stop()
    }

    @Test func badRequestsGetClearErrors() async throws {
        let origin = ScriptedOrigin()
        origin.route("/upload") { _ in .init(status: 200, body: "ok") }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url, maxRequestBodySize: 1000)
        let c = try RawConnection(host: "127.0.0.1", port: edge.port)
        c.send("GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        #expect(try c.readResponse().status == 400)
        // A method token the parser does not know: 501 (RFC 9110 §9.1), and the connection closes.
        let unknown = try RawConnection(host: "127.0.0.1", port: edge.port)
        unknown.send("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        let brew = try unknown.readResponse()
        #expect(brew.status == 501 && brew.text.contains("method"), "\(brew.status) \(brew.text)")
        #expect(try unknown.discard(max: 1) == 0, "closed after the answer")
        let big = try await edge.request("POST", "/upload", body: String(repeating: "a", count: 5000))
        #expect(big.status == 413 && big.text.contains("max_request_body_size"))
        let purge = try await edge.request("PURGE", "/upload")
        #expect(purge.status == 405 && purge.text.contains("control API"))
        let connect = try await edge.request("CONNECT", "example.com:443")
        #expect([400, 405].contains(connect.status))
        #expect(origin.count("/upload") == 0)
        await edge.stop()
        await origin.stop()
    }

    @Test func originDownWithNothingCachedIs502ThatNamesTheOrigin() async throws {
        let edge = try await EdgeHarness.start(origin: "http://127.0.0.1:1")
        let r = try await edge.get("/anything")
        #expect(r.status == 502)
        #expect(r.text.contains("http://127.0.0.1:1") && r.text.contains("/anything"))
        #expect(r.header("cache-status")?.contains("test-edge") == true)
        await edge.stop()
    }

    @Test func slowOriginTimesOutWith504() async throws {
        let origin = ScriptedOrigin()
        origin.route("/slow") { _ in .init(body: "late", delay: 3) }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url, originTimeout: 0.5)
        let r = try await edge.get("/slow")
        #expect(r.status == 504 && r.text.contains("did not answer"))
        await edge.stop()
        await origin.stop()
    }
}
