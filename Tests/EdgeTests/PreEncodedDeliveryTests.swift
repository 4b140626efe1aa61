import CacheStore
import HTTPCaching
import HTTPServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import Edge

/// A hit that leaves pre-encoded says exactly what the same delivery says through the encoder:
/// the same status, the same fields (in any order) and the same body, for every representation
/// and request the fast path takes; the requests it does not take get no wire form.
@Suite struct PreEncodedDeliveryTests {
    static let now = 1_000_000.0

    static func stored(variants: Bool, status: HTTPResponseStatus = .ok) -> StoredResponse {
        var r = StoredResponse(
            status: status,
            headers: ["Content-Type": "text/css", "ETag": "\"abc\"", "Cache-Control": "max-age=60", "Surrogate-Control": "max-age=9",
                      "Outpost-CDN-Cache-Control": "max-age=9", "CDN-Cache-Control": "max-age=30", "Vary": "Origin"],
            body: ByteBuffer(string: String(repeating: "body{color:red}", count: 10)),
            freshness: Freshness(lifetime: 60, correctedInitialAge: 5, responseTime: now - 10), vary: .none
        )
        if variants {
            r.variants = ["gzip": ByteBuffer(string: "gzipped"), "br": ByteBuffer(string: "brotli")]
        }
        return r
    }

    /// Status, fields (lower-cased names, sorted) and body of one encoded response.
    static func parse(_ bytes: String) -> (status: String, fields: [String], body: String) {
        let parts = bytes.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let fields = lines.dropFirst().map { line -> String in
            let colon = line.firstIndex(of: ":")!
            return line[..<colon].lowercased() + ":" + line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (lines[0], fields.sorted(), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// What the encoder sends for `fromStored`'s delivery.
    static func throughTheEncoder(_ d: ResponseDelivery, _ request: HTTPRequestHead) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP1ResponseEncoder())
        try channel.writeInbound(HTTPServerRequestPart.head(request))
        var headers = d.headers
        if !request.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: d.status, headers: headers)))
        if let body = d.body { try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(body))) }
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        return out
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var variants: Bool
        var method: HTTPMethod
        var acceptEncoding: String?
        var close = false
        var testDescription: String { "\(method) variants=\(variants) ae=\(acceptEncoding ?? "-") close=\(close)" }
    }

    static let cases: [Case] = [
        .init(variants: false, method: .GET, acceptEncoding: nil),
        .init(variants: false, method: .HEAD, acceptEncoding: "gzip"),
        .init(variants: true, method: .GET, acceptEncoding: nil),
        .init(variants: true, method: .GET, acceptEncoding: "gzip, br"),
        .init(variants: true, method: .GET, acceptEncoding: "gzip"),
        .init(variants: true, method: .HEAD, acceptEncoding: "br"),
        .init(variants: true, method: .GET, acceptEncoding: "identity"),
        .init(variants: false, method: .GET, acceptEncoding: nil, close: true),
    ]

    @Test(arguments: cases)
    func theWireFormSaysWhatTheEncoderSays(_ c: Case) throws {
        let stored = Self.stored(variants: c.variants)
        var headers: HTTPHeaders = ["Host": "x"]
        if let ae = c.acceptEncoding { headers.add(name: "Accept-Encoding", value: ae) }
        if c.close { headers.add(name: "Connection", value: "close") }
        let request = HTTPRequestHead(version: .http1_1, method: c.method, uri: "/s.css", headers: headers)
        let status = CacheVerdict.hit("e", ttl: 45).status
        let via = "1.1 e (outpost)"
        let viaField = try #require(ResponseDelivery.viaField(via))
        let wire = try #require(ResponseDelivery.wire(stored, request: request, now: Self.now, cacheStatus: status, viaField: viaField))
        var bytes = String(buffer: wire.bytes.0)
        if let rest = wire.bytes.1 { bytes += String(buffer: rest) }
        let expected = try Self.throughTheEncoder(
            ResponseDelivery.fromStored(stored, request: request, now: Self.now, cacheStatus: status, via: via), request)
        let (a, b) = (Self.parse(bytes), Self.parse(expected))
        #expect(a.status == b.status)
        #expect(a.fields == b.fields)
        #expect(a.body == b.body)
        #expect(wire.bodyBytes == b.body.utf8.count)
        #expect(!a.fields.contains { $0.hasPrefix("surrogate-control:") || $0.hasPrefix("outpost-cdn-cache-control:") })
        #expect(a.fields.contains("cdn-cache-control:max-age=30"))
    }

    /// Preconditions, Range, HTTP/1.0 and statuses without a body take the checked way.
    @Test(arguments: [("If-None-Match", "\"abc\""), ("Range", "bytes=0-1"), ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"), ("IF-RANGE", "\"abc\"")])
    func conditionalRequestsHaveNoWireForm(name: String, value: String) throws {
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "x", name: value])
        let via = try #require(ResponseDelivery.viaField("v"))
        #expect(ResponseDelivery.wire(Self.stored(variants: false), request: request, now: Self.now, cacheStatus: CacheVerdict.hit("e", ttl: 1).status, viaField: via) == nil)
    }

    @Test func otherVersionsAndBodilessStatusesHaveNoWireForm() throws {
        let via = try #require(ResponseDelivery.viaField("v"))
        let old = HTTPRequestHead(version: .http1_0, method: .GET, uri: "/", headers: ["Host": "x"])
        #expect(ResponseDelivery.wire(Self.stored(variants: false), request: old, now: Self.now, cacheStatus: CacheVerdict.hit("e", ttl: 1).status, viaField: via) == nil)
        let get = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "x"])
        #expect(ResponseDelivery.wire(Self.stored(variants: false, status: .noContent), request: get, now: Self.now, cacheStatus: CacheVerdict.hit("e", ttl: 1).status, viaField: via) == nil)
        #expect(ResponseDelivery.viaField("1.1 e\r\nX: y") == nil)
    }

    /// A stored response that changes (a 304's refresh, variants built later) is encoded again.
    @Test func aChangedResponseIsEncodedAgain() throws {
        var stored = Self.stored(variants: false)
        let before = String(buffer: try #require(stored.wireHeads.identity))
        stored.headers.replaceOrAdd(name: "Cache-Control", value: "max-age=600")
        let after = String(buffer: try #require(stored.wireHeads.identity))
        #expect(before.contains("Cache-Control: max-age=60\r\n") && after.contains("Cache-Control: max-age=600\r\n"))
        #expect(stored.wireHeads.variants.isEmpty)
        stored.variants = ["gzip": ByteBuffer(string: "z")]
        let gzip = String(buffer: try #require(stored.wireHeads.variants["gzip"]))
        #expect(gzip.contains("Content-Encoding: gzip\r\n") && gzip.contains("Content-Length: 1\r\n") && gzip.contains("ETag: \"abc-gzip\"\r\n"))
        #expect(String(buffer: try #require(stored.wireHeads.identity)).contains("Vary: Accept-Encoding\r\n"))
    }
}
