import HTTPCaching
import NIOCore
import NIOHTTP1

/// One stored variant: the response as the origin sent it (hop-by-hop fields removed), its body
/// in one `ByteBuffer` that every hit shares without copying, and what the cache computed once.
public struct StoredResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    public var freshness: Freshness
    public var vary: VarySelector
    /// Surrogate keys (`Surrogate-Key`, `Cache-Tag`) for purge by tag.
    public var tags: [String]
    /// Compressed variants of `body` by content coding (`br`, `zstd`, `gzip`), built once.
    public var variants: [String: ByteBuffer] = [:]
    /// The body is not the origin's bytes (minified, or served in other codings): the ETag
    /// clients see is weak.
    public var transformed = false

    public var etag: String? { headers.first(name: "etag") }
    public var lastModified: String? { headers.first(name: "last-modified") }

    public init(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, freshness: Freshness, vary: VarySelector) {
        self.status = status
        self.headers = headers
        self.body = body
        self.freshness = freshness
        self.vary = vary
        self.tags = StoredResponse.tags(in: headers)
    }

    /// Bytes charged against the budget: body, header text and a fixed overhead per entry.
    public var cost: Int {
        var n = body.readableBytes + 256 + variants.values.reduce(0) { $0 + $1.readableBytes }
        for (name, value) in headers { n += name.utf8.count + value.utf8.count + 4 }
        return n
    }

    static func tags(in headers: HTTPHeaders) -> [String] {
        var out: [String] = []
        for line in headers[canonicalForm: "surrogate-key"] { out += line.split(separator: " ").map(String.init) }
        for line in headers[canonicalForm: "cache-tag"] { out += line.split(separator: ",").map { String($0.trimmingCharacters()) } }
        return out.filter { !$0.isEmpty }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
