import Foundation
import TestSupport
import Testing
@testable import Edge

/// What a miss costs the origin and the edge when clients are slow, leave, ask for HEAD or for a
/// range: a real edge in front of an origin that counts the body bytes its socket really took.
///
/// Bounds leave room for the socket buffers on the way (origin → edge → client, a few MiB each
/// on loopback) plus the edge's window (`client_buffer_size`, 1 MiB); without back-pressure or
/// cancellation the origin sends the whole object, several times the bound.
@Suite struct BackPressureTests {
    static let buffers = 40 << 20

    /// Samples `value` until it stops changing (the pipeline is stalled), then returns it.
    func settled(_ value: () -> Int) async throws -> Int {
        var last = value()
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(300))
            let now = value()
            if now == last { return now }
            last = now
        }
        return last
    }

    @Test func aClientThatReadsNothingPausesTheOriginAndReadingResumesIt() async throws {
        let origin = StreamingOrigin()
        let size = 256 << 20
        origin.serve("/big", .init(size: size, headers: [("Cache-Control", "no-store")]))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url, originTimeout: 1)
        let port = h.port
        let c = try RawConnection(host: "127.0.0.1", port: port, timeout: 20)
        c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try await offThePool { try c.readHead() }
        #expect(head.status == 200)
        let stalled = try await settled { origin.bodyBytesSent }
        #expect(stalled < Self.buffers, "the origin sent \(stalled >> 20) MiB to a client that read nothing")
        print("a client reading nothing of a 256 MiB object: the origin stalled after \(stalled) body bytes")
        // Paused for longer than origin_timeout: that is the client's doing, not the origin's.
        try await Task.sleep(for: .milliseconds(2500))
        // Reading on resumes the origin, byte for byte in order.
        let read = try await offThePool { () throws -> [UInt8] in
            var got: [UInt8] = []
            while got.count < stalled + (8 << 20) {
                let part = try c.peek(atLeast: 1)
                guard !part.isEmpty else { break }
                got += part
                _ = try c.discard(max: part.count)
            }
            return got
        }
        #expect(read.count >= stalled + (8 << 20), "the download goes on after the pause")
        #expect(read.allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(try await eventually { origin.bodyBytesSent > stalled })
        await h.stop()
        await origin.stop()
    }

    @Test func aClientThatLeavesCancelsTheOriginRequest() async throws {
        let origin = StreamingOrigin()
        origin.serve("/big", .init(size: 512 << 20, headers: [("Cache-Control", "private")]))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url)
        let port = h.port
        try await offThePool {
            let c = try RawConnection(host: "127.0.0.1", port: port, timeout: 20)
            c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = try c.readHead()
            var n = 0
            while n < 1 << 20 { n += try c.discard(max: 64 << 10) }
        }  // closed here
        #expect(try await eventually(timeout: 10) { origin.abandoned == 1 }, "the origin saw its connection closed")
        let sent = try await settled { origin.bodyBytesSent }
        #expect(sent < Self.buffers, "the origin sent \(sent >> 20) MiB after the client left at 1 MiB")
        print("client left a 512 MiB download at 1 MiB: the origin sent \(sent) body bytes")
        let metrics = String(decoding: h.edge.metricsText(), as: UTF8.self)
        #expect(metrics.contains("outpost_origin_cancelled_total{edge=\"test-edge\"} 1"))
        await h.stop()
        await origin.stop()
    }

    /// HEAD on a miss costs the origin a HEAD, whatever the object: too large, not storable,
    /// or storable.
    @Test(arguments: [("/too-large", "max-age=60"), ("/no-store", "no-store"), ("/storable", "max-age=60")])
    func headOnAMissCostsTheOriginOnlyAHead(path: String, cacheControl: String) async throws {
        let origin = StreamingOrigin()
        let size = path == "/storable" ? 300_000 : 512 << 20
        origin.serve(path, .init(size: size, headers: [("Cache-Control", cacheControl)]))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url)
        let r = try await h.request("HEAD", path)
        #expect(r.status == 200)
        #expect(r.header("content-length") == String(size))
        #expect(r.body.isEmpty)
        let sent = try await settled { origin.bodyBytesSent }
        #expect(sent == 0, "a HEAD cost the origin \(sent) bytes of body")
        #expect(origin.requests == ["HEAD \(path)"])
        print("HEAD of a \(size)-byte object (\(cacheControl)): the origin sent \(sent) body bytes")
        await h.stop()
        await origin.stop()
    }

    /// A HEAD while a GET of the same object is in flight rides on it: no origin request.
    @Test func headRidesOnAGetInFlight() async throws {
        let origin = StreamingOrigin()
        // The origin holds the body back after 64 KiB until the HEAD has been answered, so the
        // GET is in flight however slowly a loaded machine runs this test.
        origin.serve("/slow", .init(size: 2 << 20, headers: [("Cache-Control", "max-age=60")], holdAfter: 64 << 10))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url, maxObjectSize: 4 << 20)
        let port = h.port
        let get = try RawConnection(host: "127.0.0.1", port: port, timeout: 20)
        get.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try await offThePool { try get.readHead() }  // the GET is under way, its body held back
        let head = try await h.request("HEAD", "/slow")
        origin.release()
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.cacheStatus.contains("collapsed"), "Cache-Status: \(head.cacheStatus)")
        #expect(head.header("content-length") == String(2 << 20))
        let total = try await offThePool { () throws -> Int in
            var n = 0
            while n < 2 << 20 {
                let got = try get.discard(max: 1 << 20)
                if got == 0 { break }
                n += got
            }
            return n
        }
        #expect(total == 2 << 20)
        #expect(try await eventually { h.edge.store.stats.objects == 1 })
        #expect(try await h.request("HEAD", "/slow").cacheStatus.contains("hit"))
        #expect(origin.requests == ["GET /slow"])
        await h.stop()
        await origin.stop()
    }

    /// A range of a cold object leaves as soon as the origin has sent its bytes (here the
    /// origin holds the rest back until the range has arrived); the whole object is still
    /// stored.
    @Test func aRangeOfAColdObjectArrivesBeforeTheWholeObject() async throws {
        let origin = StreamingOrigin()
        let size = 3 << 20
        origin.serve("/video", .init(size: size, headers: [("Cache-Control", "max-age=60"), ("ETag", "\"v1\"")], holdAfter: 1 << 20))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url, cacheSize: 32 << 20, maxObjectSize: 16 << 20)
        let first = try await h.get("/video", headers: ["Range": "bytes=0-99"])
        #expect(first.status == 206)
        #expect(first.header("content-range") == "bytes 0-99/\(size)")
        #expect(first.body == [UInt8](repeating: UInt8(ascii: "x"), count: 100))
        // Collapsed onto the same fetch, a range within what has come so far arrives too.
        let mid = try await h.get("/video", headers: ["Range": "bytes=524288-524387"])
        #expect(mid.status == 206 && mid.body.count == 100)
        #expect(h.edge.store.stats.objects == 0, "the origin has not sent the rest yet")
        origin.release()
        #expect(try await eventually(timeout: 10) { h.edge.store.stats.objects == 1 }, "the whole object is stored")
        let last = try await h.get("/video", headers: ["Range": "bytes=-10"])
        #expect(last.status == 206 && last.cacheStatus.contains("hit") && last.body.count == 10)
        #expect(origin.requests == ["GET /video"])
        await h.stop()
        await origin.stop()
    }

    @Test func ifRangeIsHonouredOnAMiss() async throws {
        let origin = StreamingOrigin()
        origin.serve("/a", .init(size: 100_000, headers: [("Cache-Control", "no-store"), ("ETag", "\"a1\"")]))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url)
        let same = try await h.get("/a", headers: ["Range": "bytes=10-19", "If-Range": "\"a1\""])
        #expect(same.status == 206 && same.body.count == 10)
        let changed = try await h.get("/a", headers: ["Range": "bytes=10-19", "If-Range": "\"a0\""])
        #expect(changed.status == 200 && changed.body.count == 100_000)
        let notModified = try await h.get("/a", headers: ["If-None-Match": "\"a1\""])
        #expect(notModified.status == 304 && notModified.body.isEmpty)
        await h.stop()
        await origin.stop()
    }

    /// While an object is being stored, each client reads it at its own pace: one that reads
    /// nothing does not hold up another.
    @Test func aSlowClientDoesNotSlowAnotherOnTheSameFetch() async throws {
        let origin = StreamingOrigin()
        let size = 4 << 20
        origin.serve("/shared", .init(size: size, headers: [("Cache-Control", "max-age=60")], rate: 8 << 20))
        try await origin.start()
        let h = try await EdgeHarness.start(origin: origin.url, cacheSize: 64 << 20, maxObjectSize: 32 << 20)
        let port = h.port
        let slow = try RawConnection(host: "127.0.0.1", port: port, timeout: 20)
        slow.send("GET /shared HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try await offThePool { try slow.readHead() }
        let fast = try await h.get("/shared")
        #expect(fast.status == 200 && fast.body.count == size)
        #expect(fast.cacheStatus.contains("collapsed") || fast.cacheStatus.contains("hit"))
        let total = try await offThePool { () throws -> Int in
            var n = 0
            while n < size {
                let got = try slow.discard(max: 1 << 20)
                if got == 0 { break }
                n += got
            }
            return n
        }
        #expect(total == size)
        #expect(origin.requests == ["GET /shared"])
        await h.stop()
        await origin.stop()
    }
}
