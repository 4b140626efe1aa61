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
}
