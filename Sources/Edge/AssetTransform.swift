import Assets
import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1

/// Step 5's asset pipeline, for stored responses: minify and build compressed variants, once.
struct AssetTransform: Sendable {
    let pipeline: AssetPipeline

    init(config: EdgeConfigView) {
        pipeline = AssetPipeline(
            minify: Set(config.minify.compactMap(AssetKind.init(rawValue:))),
            codings: config.compress.compactMap(ContentCoding.init(rawValue:)),
            minimumSize: config.compressMinSize, gzipLevel: config.gzipLevel, brotliLevel: config.brotliLevel, zstdLevel: config.zstdLevel)
    }

    /// Whether a fetched response is worth sending through the pipeline: a 200 the origin did
    /// not encode itself and did not mark `no-transform`, of a type the pipeline handles.
    func applies(status: HTTPResponseStatus, headers: HTTPHeaders) -> Bool {
        guard status == .ok, !headers.contains(name: "content-encoding"), !CacheControl(headers: headers).noTransform,
              let type = headers.first(name: "content-type") else { return false }
        return AssetKind(contentType: type) != nil || AssetPipeline.isCompressibleType(type)
    }

    /// The response with its identity body minified and its variants built. CPU-heavy.
    func apply(_ r: StoredResponse, strongest: Bool) -> StoredResponse {
        let out = pipeline.process(Array(r.body.readableBytesView), contentType: r.headers.first(name: "content-type"), strongest: strongest)
        guard out.minified || !out.variants.isEmpty else { return r }
        var t = r
        if out.minified { t.body = ByteBuffer(bytes: out.body) }
        t.variants = Dictionary(uniqueKeysWithValues: out.variants.map { ($0.key.rawValue, ByteBuffer(bytes: $0.value)) })
        t.transformed = true
        if let etag = t.etag, !etag.hasPrefix("W/") { t.headers.replaceOrAdd(name: "ETag", value: "W/" + etag) }
        return t
    }
}

/// The pipeline settings from the edge's configuration.
typealias EdgeConfigView = Topology.EdgeConfig

import Topology
