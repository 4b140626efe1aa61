import Assets
import Foundation
import Origin
import TestSupport
import Testing
import Topology
@testable import Edge

/// The demo site's assets through a real edge: minified once, compressed once, negotiated per
/// request.
@Suite struct AssetsEndToEndTests {
    @Test func cssAndJsArriveMinifiedAndCompressed() async throws {
        let origin = try OriginServer(config: OriginConfig(listen: ListenAddress(host: "127.0.0.1", port: 0), root: repositoryRoot + "/origin/site",
                                                           defaultCacheControl: "public, max-age=300"))
        let originPort = try await origin.start()
        let edge = try await EdgeHarness.start(origin: "http://127.0.0.1:\(originPort)")
        let css = Array(try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/origin/site/css/site.css")))
        let minified = AssetKind.css.minify(css).bytes(or: css)

        let miss = try await edge.get("/css/site.css", headers: ["Accept-Encoding": "gzip, br"])
        #expect(miss.body == css && miss.header("content-encoding") == nil, "the miss streams the origin's bytes")
        #expect(try await eventually { edge.edge.store.stats.objects == 1 }, "stored after the pipeline ran")

        let br = try await edge.get("/css/site.css", headers: ["Accept-Encoding": "gzip, deflate, br"])
        #expect(br.header("content-encoding") == "br" && br.cacheStatus.contains("hit"))
        #expect(br.header("vary")?.lowercased().contains("accept-encoding") == true)
        #expect(br.header("content-length") == "\(br.body.count)")
        #expect(try Codec.decompress(br.body, .br) == minified)
        let brETag = try #require(br.header("etag"))
        #expect(brETag.hasPrefix("W/") && brETag.hasSuffix("-br\""))

        let gzip = try await edge.get("/css/site.css", headers: ["Accept-Encoding": "gzip"])
        let gunzipped = try Codec.decompress(gzip.body, .gzip)
        #expect(gzip.header("content-encoding") == "gzip" && gunzipped == minified)
        #expect(gzip.header("etag") != brETag, "a different ETag per encoding")

        let plain = try await edge.get("/css/site.css")
        #expect(plain.header("content-encoding") == nil && plain.body == minified && minified.count < css.count)

        let notModified = try await edge.get("/css/site.css", headers: ["Accept-Encoding": "br", "If-None-Match": brETag])
        #expect(notModified.status == 304)
        let range = try await edge.get("/css/site.css", headers: ["Accept-Encoding": "gzip", "Range": "bytes=0-9"])
        #expect(range.status == 206 && range.header("content-encoding") == "gzip" && range.body.count == 10, "Range on the delivered representation")

        let png = try await edge.get("/images/beans.png", headers: ["Accept-Encoding": "br"])
        _ = try await eventually { edge.edge.store.stats.objects == 2 }
        let png2 = try await edge.get("/images/beans.png", headers: ["Accept-Encoding": "br"])
        #expect(png.header("content-encoding") == nil && png2.header("content-encoding") == nil, "images are left alone")
        #expect(origin.requestCount(for: "/css/site.css") == 1, "computed once per object, never per hit")
        await edge.stop()
        await origin.stop()
    }

    @Test func anOriginCompressedResponseIsDecodedForClientsThatDoNotAcceptIt() async throws {
        let text = String(repeating: "body { color: red; }\n", count: 200)
        let gz = try Codec.compress(Array(text.utf8), .gzip, level: 6)
        let origin = ScriptedOrigin()
        origin.route("/pre.css") { _ in
            .init(headers: [("Cache-Control", "max-age=60"), ("Content-Type", "text/css"), ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
                  chunks: [.init(gz)])
        }
        _ = try await origin.start()
        let edge = try await EdgeHarness.start(origin: origin.url)
        let miss = try await edge.get("/pre.css", headers: ["Accept-Encoding": "gzip"])
        #expect(miss.header("content-encoding") == "gzip" && miss.body == gz, "kept as the origin sent it")
        #expect(try await eventually { edge.edge.store.stats.objects == 1 })
        let identity = try await edge.get("/pre.css")
        #expect(identity.header("content-encoding") == nil && identity.text == text, "decoded for a client without gzip")
        let br = try await edge.get("/pre.css", headers: ["Accept-Encoding": "br"])
        let brBody = try Codec.decompress(br.body, .br)
        #expect(br.header("content-encoding") == "br" && brBody == Array(text.utf8))
        let again = try await edge.get("/pre.css", headers: ["Accept-Encoding": "gzip"])
        #expect(again.header("content-encoding") == "gzip" && again.body == gz && again.cacheStatus.contains("hit"))
        #expect(origin.count("/pre.css") == 1)
        await edge.stop()
        await origin.stop()
    }

    @Test func assetPathsLimitThePipeline() async throws {
        let js = "function  f ( a )  {\n  return a  +  1 ;\n}\n" + String(repeating: "// filler comment line\n", count: 40)
        let origin = ScriptedOrigin()
        for p in ["/static/a.js", "/raw/a.js"] {
            origin.route(p) { _ in .init(headers: [("Cache-Control", "max-age=60"), ("Content-Type", "text/javascript")], body: js) }
        }
        _ = try await origin.start()
        var config = EdgeConfig(name: "paths", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin.url)!)
        config.assetPaths = ["/static/**"]
        let edge = try EdgeServer(config: config)
        let port = try await edge.start()
        for p in ["/static/a.js", "/raw/a.js"] { _ = try await RawHTTP.async("GET", p, port: port) }
        try await Task.sleep(for: .milliseconds(300))
        let minified = try await RawHTTP.async("GET", "/static/a.js", port: port)
        let raw = try await RawHTTP.async("GET", "/raw/a.js", port: port, headers: ["Accept-Encoding": "gzip"])
        #expect(minified.text == "function f(a){return a+1}", "\(minified.text)")
        #expect(raw.text == js && raw.header("content-encoding") == nil, "outside asset_paths: served as it came")
        await edge.stop()
        await origin.stop()
    }
}
