import HTTPCaching
import NIOCore
import NIOHTTP1

/// One stored variant: the response as the origin sent it (hop-by-hop fields removed), its body
/// in one `ByteBuffer` that every hit shares without copying, and what the cache computed once.
public struct StoredResponse: Sendable {
    public var status: HTTPResponseStatus { didSet { encodeHeads() } }
    public var headers: HTTPHeaders { didSet { encodeHeads() } }
    public var body: ByteBuffer { didSet { encodeHeads() } }
    public var freshness: Freshness
    public var vary: VarySelector
    /// Surrogate keys (`Surrogate-Key`, `Cache-Tag`) for purge by tag.
    public var tags: [String]
    /// Compressed variants of `body` by content coding (`br`, `zstd`, `gzip`), built once.
    public var variants: [String: ByteBuffer] = [:] { didSet { encodeHeads() } }
    /// Each representation's head as it goes on the wire for a whole delivery (status line and
    /// fields up to `Content-Length`, no blank line), encoded again whenever the response
    /// changes, so that a hit sends bytes instead of building headers: the identity one, and
    /// one per key of `variants`. Empty when the head cannot be sent pre-encoded.
    public private(set) var wireHeads: WireHeads = .init()

    public struct WireHeads: Sendable {
        public var identity: ByteBuffer?
        public var variants: [String: ByteBuffer] = [:]
    }
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
        encodeHeads()
    }

    /// Fields a delivery never passes on (RFC 9213: a field targeted at this cache alone;
    /// CDN-Cache-Control, meant for every CDN in the path, is passed on).
    public static let notPassedOn = ["outpost-cdn-cache-control", "surrogate-control"]

    /// The headers, body and validator of the representation in `coding` (a key of
    /// `variants`), or of the identity one. With variants, every representation says
    /// `Vary: Accept-Encoding`, and each has its own validator (RFC 9110 §8.8.3).
    public func representation(_ coding: String?) -> (headers: HTTPHeaders, body: ByteBuffer, etag: String?) {
        var headers = self.headers
        var body = self.body
        var etag = self.etag
        if !variants.isEmpty {
            Self.addVary(&headers, "Accept-Encoding")
            if let coding, let variant = variants[coding] {
                body = variant
                headers.replaceOrAdd(name: "Content-Encoding", value: coding)
                if let e = etag {
                    let tagged = String(e.dropLast()) + "-\(coding)\""
                    etag = tagged
                    headers.replaceOrAdd(name: "ETag", value: tagged)
                }
            }
        }
        return (headers, body, etag)
    }

    public static func addVary(_ headers: inout HTTPHeaders, _ field: String) {
        let present = headers[canonicalForm: "vary"].map { $0.trimmingSpaces().lowercased() }
        if !present.contains(field.lowercased()) && !present.contains("*") { headers.add(name: "Vary", value: field) }
    }

    /// The representation's head for a whole delivery: its fields without those never passed
    /// on, `Accept-Ranges` for a 200, and its length. Nil for a status without a body.
    func wireHead(_ coding: String?) -> ByteBuffer? {
        guard status.mayHaveResponseBody, !headers.contains(name: "transfer-encoding") else { return nil }
        var (headers, body, _) = representation(coding)
        for name in Self.notPassedOn where headers.contains(name: name) { headers.remove(name: name) }
        if status == .ok { headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes") }
        headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        return HTTPWire.head(status: status, headers: headers)
    }

    private mutating func encodeHeads() {
        var heads = WireHeads(identity: wireHead(nil))
        for coding in variants.keys { heads.variants[coding] = wireHead(coding) }
        wireHeads = heads
    }

    /// Bytes charged against the budget: body, header text and a fixed overhead per entry.
    public var cost: Int {
        var n = body.readableBytes + 256 + variants.values.reduce(0) { $0 + $1.readableBytes }
        for (name, value) in headers { n += name.utf8.count + value.utf8.count + 4 }
        n += (wireHeads.identity?.readableBytes ?? 0) + wireHeads.variants.values.reduce(0) { $0 + $1.readableBytes }
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
