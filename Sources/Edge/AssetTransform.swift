import Assets
import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import Foundation
import Synchronization
import Topology

/// Step 5's asset pipeline, for stored responses: minify and build compressed variants, once.
struct AssetTransform: Sendable {
    let pipeline: AssetPipeline
    /// Paths the pipeline applies to.
    let paths: [PathGlob]
    let maxObjectSize: Int
    /// Body bytes queued for the pipeline now. Clients can make an edge fetch many new
    /// compressible objects (`/site.css?1`, `?2`, …): past `maxQueuedBytes` they are stored as
    /// they came, unprocessed, rather than queueing CPU work and copies without bound.
    /// Shared by every site's pipeline on one edge: the bound is the edge's.
    private let queued: QueuedBytes
    static let maxQueuedBytes = 256 << 20

    init(config: EdgeConfig, queue: QueuedBytes = QueuedBytes()) {
        queued = queue
        paths = config.assetPaths.map(PathGlob.init)
        maxObjectSize = config.maxObjectSize
        pipeline = AssetPipeline(
            minify: Set(config.minify.compactMap { AssetKind(rawValue: $0.rawValue) }),
            codings: config.compress.compactMap { ContentCoding(rawValue: $0.rawValue) },
            minimumSize: config.compressMinSize, gzipLevel: config.gzipLevel, brotliLevel: config.brotliLevel, zstdLevel: config.zstdLevel)
    }

    /// Whether a fetched response is worth sending through the pipeline: a 200 the origin did
    /// not encode itself and did not mark `no-transform`, of a type the pipeline handles.
    func applies(path: Substring, status: HTTPResponseStatus, headers: HTTPHeaders) -> Bool {
        guard status == .ok, !CacheControl(headers: headers).noTransform, let type = headers.first(name: "content-type"),
              paths.contains(where: { $0.matches(String(RequestTarget(String(path)).path)) }) else { return false }
        if let coding = headers.first(name: "content-encoding") {
            return ContentCoding(rawValue: coding.trimmingCharacters(in: .whitespaces).lowercased()) != nil
        }
        return AssetKind(contentType: type) != nil || AssetPipeline.isCompressibleType(type)
    }

    /// Takes room in the pipeline's queue for a body of `bytes`; false when it is full.
    func reserve(_ bytes: Int) -> Bool { queued.reserve(bytes, limit: Self.maxQueuedBytes) }
    func release(_ bytes: Int) { queued.release(bytes) }

    /// The response with its identity body minified and its variants built. CPU-heavy.
    func apply(_ r: StoredResponse, strongest: Bool) -> StoredResponse {
        let type = r.headers.first(name: "content-type")
        var t = r
        let out: AssetPipeline.Output
        if let encoding = r.headers.first(name: "content-encoding") {
            guard let coding = ContentCoding(rawValue: encoding.trimmingCharacters(in: .whitespaces).lowercased()),
                  let decoded = pipeline.decodeAndProcess(Array(r.body.readableBytesView), coding: coding, contentType: type, strongest: strongest,
                                                          limit: maxObjectSize * 8) else { return r }
            out = decoded
            t.body = ByteBuffer(bytes: out.body)
            t.headers.remove(name: "content-encoding")
        } else {
            out = pipeline.process(Array(r.body.readableBytesView), contentType: type, strongest: strongest)
            guard out.minified || !out.variants.isEmpty else { return r }
        }
        if out.minified { t.body = ByteBuffer(bytes: out.body) }
        t.variants = Dictionary(uniqueKeysWithValues: out.variants.map { ($0.key.rawValue, ByteBuffer(bytes: $0.value)) })
        t.transformed = true
        if let etag = t.etag, !etag.hasPrefix("W/") { t.headers.replaceOrAdd(name: "ETag", value: "W/" + etag) }
        return t
    }
}

/// A byte count that stays under a limit, shared across threads.
final class QueuedBytes: Sendable {
    private let bytes = Mutex(0)

    func reserve(_ n: Int, limit: Int) -> Bool {
        bytes.withLock { b in
            guard b + n <= limit else { return false }
            b += n
            return true
        }
    }

    func release(_ n: Int) { bytes.withLock { $0 -= n } }
}
