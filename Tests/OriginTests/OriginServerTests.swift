import Foundation
import HTTPCaching
import NIOPosix
import TestSupport
import Testing
import Topology
@testable import Origin

/// The origin as users run it: a real server on loopback serving real files.
@Suite struct OriginServerTests {
    let dir = TemporaryFolder()
    let outside = TemporaryFolder()

    func startOrigin() async throws -> (OriginServer, Int) {
        dir.write("site/index.html", "<h1>home</h1>")
        dir.write("site/style.css", "body { color: red }")
        dir.write("site/docs/index.html", "<p>docs</p>")
        dir.write("site/assets/app.0123abcd.js", "let x = 1;")
        dir.write("site/data.bin", Data(patternBytes(1000)))
        dir.write("site/.env", "SECRET=1")
        dir.write("site/empty.txt", "")
        outside.write("secret.txt", "outside the root")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/site/escape.txt", withDestinationPath: outside.path + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/site/escape-dir", withDestinationPath: outside.path)
        let config = OriginConfig(
            listen: ListenAddress(host: "127.0.0.1", port: 0), root: dir.path + "/site",
            defaultCacheControl: "public, max-age=60",
            rules: [.init(glob: PathGlob("/assets/*.[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].*"), cacheControl: "public, max-age=31536000, immutable")]
        )
        let server = try OriginServer(config: config)
        let port = try await server.start()
        return (server, port)
    }

    @Test func servesFilesWithTypeValidatorsAndCacheControl() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let r = try await RawHTTP.async("GET", "/style.css", port: port)
        #expect(r.status == 200)
        #expect(r.text == "body { color: red }")
        #expect(r.header("content-type") == "text/css; charset=utf-8")
        #expect(r.header("content-length") == "19")
        #expect(r.header("cache-control") == "public, max-age=60")
        let etag = try #require(r.header("etag"))
        #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"), "strong ETag")
        #expect(r.header("last-modified").flatMap(HTTPDate.parse) != nil)
        #expect(r.header("date").flatMap(HTTPDate.parse) != nil)
        let asset = try await RawHTTP.async("GET", "/assets/app.0123abcd.js", port: port)
        #expect(asset.header("cache-control") == "public, max-age=31536000, immutable")
        #expect(asset.header("content-type") == "text/javascript; charset=utf-8")
        #expect(server.requestCount == 2)
    }

    @Test func generatedBenchmarkObjectsAreOffUnlessEnabled() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        #expect(server.config.syntheticPrefix == nil)
        #expect(try await RawHTTP.async("GET", "/_bench/1-16777216.bin", port: port).status == 404)
    }

    @Test func hostileDatesInPreconditionsAreNotATrap() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        for value in ["Sun, 06 Nov 999999999999 08:49:37 GMT", "Sat, 01 Jan -99999999 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            for name in ["If-Modified-Since", "If-Unmodified-Since", "If-Range"] {
                let r = try await RawHTTP.async("GET", "/index.html", port: port, headers: [name: value, "Range": "bytes=0-3"])
                #expect([200, 206, 304, 412].contains(r.status), "\(name): \(value) → \(r.status)")
            }
        }
    }

    @Test func headHasHeadersButNoBody() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let c = try RawConnection(host: "127.0.0.1", port: port)
        c.send("HEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readResponse(head: true)
        #expect(head.status == 200 && head.header("content-length") == "1000" && head.body.isEmpty)
        // The next response on the same connection starts right after the HEAD's headers.
        let empty = try c.readResponse()
        #expect(empty.status == 200 && empty.header("content-length") == "0" && empty.body.isEmpty)
    }

    @Test func conditionalRequestsGet304() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let first = try await RawHTTP.async("GET", "/index.html", port: port)
        let etag = try #require(first.header("etag"))
        let lm = try #require(first.header("last-modified"))
        let inm = try await RawHTTP.async("GET", "/index.html", port: port, headers: ["If-None-Match": etag])
        #expect(inm.status == 304 && inm.body.isEmpty && inm.header("etag") == etag)
        let ims = try await RawHTTP.async("GET", "/index.html", port: port, headers: ["If-Modified-Since": lm])
        #expect(ims.status == 304)
        let other = try await RawHTTP.async("GET", "/index.html", port: port, headers: ["If-None-Match": "\"other\""])
        #expect(other.status == 200 && other.text == "<h1>home</h1>")
    }

    @Test func singleRangesGet206Or416() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let expected = patternBytes(1000)
        let r = try await RawHTTP.async("GET", "/data.bin", port: port, headers: ["Range": "bytes=100-199"])
        #expect(r.status == 206)
        #expect(r.header("content-range") == "bytes 100-199/1000")
        #expect(r.body == Array(expected[100...199]))
        let suffix = try await RawHTTP.async("GET", "/data.bin", port: port, headers: ["Range": "bytes=-10"])
        #expect(suffix.status == 206 && suffix.body == Array(expected[990...]))
        let bad = try await RawHTTP.async("GET", "/data.bin", port: port, headers: ["Range": "bytes=5000-"])
        #expect(bad.status == 416 && bad.header("content-range") == "bytes */1000")
        let stale = try await RawHTTP.async("GET", "/data.bin", port: port, headers: ["Range": "bytes=0-9", "If-Range": "\"old\""])
        #expect(stale.status == 200 && stale.body.count == 1000, "If-Range that does not match sends the whole file")
    }

    @Test func directoriesServeIndexAndRedirectWithoutSlash() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let root = try await RawHTTP.async("GET", "/", port: port)
        #expect(root.status == 200 && root.text == "<h1>home</h1>")
        let docs = try await RawHTTP.async("GET", "/docs/", port: port)
        #expect(docs.status == 200 && docs.text == "<p>docs</p>")
        let redirect = try await RawHTTP.async("GET", "/docs?x=1", port: port)
        #expect(redirect.status == 301 && redirect.header("location") == "/docs/?x=1")
        let missing = try await RawHTTP.async("GET", "/nope.html", port: port)
        #expect(missing.status == 404)
    }

    @Test(arguments: [
        "/../secret.txt", "/docs/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/%2E%2E/etc/passwd", "/docs%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt", "/index.html%00.css", "/escape.txt", "/escape-dir/secret.txt", "/.env", "/docs/%2e%2e/%2e%2e/secret.txt",
        "//etc/passwd", "/%zz",
    ])
    func neverServesOutsideTheRoot(_ target: String) async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let r = try await RawHTTP.async("GET", target, port: port)
        #expect([400, 404].contains(r.status), "\(target) → \(r.status)")
        #expect(!r.text.contains("outside the root") && !r.text.contains("root:") && !r.text.contains("SECRET"))
    }

    @Test func otherMethodsGet405() async throws {
        let (server, port) = try await startOrigin()
        defer { Task { await server.stop() } }
        let r = try await RawHTTP.async("POST", "/index.html", port: port, body: "x=1")
        #expect(r.status == 405 && r.header("allow") == "GET, HEAD")
    }

    @Test(arguments: [
        ("/a/b.css", SafePath.segments(["a", "b.css"], isDirectoryForm: false)),
        ("/a/./b/", .segments(["a", "b"], isDirectoryForm: true)),
        ("/a%20b.txt?x=1", .segments(["a b.txt"], isDirectoryForm: false)),
        ("/.well-known/x", .segments([".well-known", "x"], isDirectoryForm: false)),
        ("/../x", .rejected(status: 400, reason: "'..' in path")),
        ("/%2e%2e/x", .rejected(status: 400, reason: "'..' in path")),
        ("/a%2fb", .rejected(status: 400, reason: "encoded slash or backslash in path")),
        ("/a%00", .rejected(status: 400, reason: "NUL in path")),
        ("/.git/config", .rejected(status: 404, reason: "hidden files are not served")),
        ("x", .rejected(status: 400, reason: "request target must start with '/'")),
    ])
    func safePath(_ target: String, _ expected: SafePath) {
        #expect(SafePath.resolve(target) == expected)
    }
}
