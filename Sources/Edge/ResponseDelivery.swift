import Assets
import CacheStore
import Foundation
import HTTPCaching
import NIOCore
import NIOHTTP1

/// Step 6 of the request path, **deliver**: the response for a client from a stored object,
/// applying conditionals and Range and adding `Age`, `Via` and `Cache-Status`. Pure.
struct ResponseDelivery {
    /// Headers the edge sets on every delivery, so stored responses are kept without them and a
    /// hit only adds (no search-and-replace per hit).
    static let setOnDelivery = ["content-length", "age", "accept-ranges"]

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    /// The bytes to send (a slice sharing the stored buffer); nil for none.
    var body: ByteBuffer?

    static func fromStored(
        _ stored: StoredResponse, request: HTTPRequestHead, now: Double, cacheStatus: CacheStatus, via: String
    ) -> ResponseDelivery {
        // The representation: a compressed variant the client accepts, or the identity body.
        var (headers, body, etag) = stored.representation(coding(of: stored, for: request))
        decorate(&headers, age: stored.freshness.age(at: now), cacheStatus: cacheStatus, via: via)
        let length = body.readableBytes
        let selection = Selection.of(status: stored.status, method: request.method, requestHeaders: request.headers, etag: etag,
                                     lastModified: stored.lastModified, length: length)
        let status = selection.apply(to: &headers, status: stored.status, length: length)
        switch selection {
        case .full:
            return ResponseDelivery(status: status, headers: headers, body: request.method == .HEAD ? nil : body)
        case .partial(let r):
            return ResponseDelivery(status: status, headers: headers, body: body.getSlice(at: body.readerIndex + r.lowerBound, length: r.count))
        case .notModified, .unsatisfiable:
            return ResponseDelivery(status: status, headers: headers, body: nil)
        }
    }

    /// The compressed variant of `stored` that the request accepts, if any.
    static func coding(of stored: StoredResponse, for request: HTTPRequestHead) -> String? {
        guard !stored.variants.isEmpty else { return nil }
        let available = Set(stored.variants.keys.compactMap(ContentCoding.init(rawValue:)))
        return AcceptEncoding.choose(request.headers.first(name: "accept-encoding"), available: available)?.rawValue
    }

    /// The same delivery as `fromStored` makes, as the bytes that go on the wire, for the common
    /// hit: HTTP/1.1, GET or HEAD, no precondition or Range. The stored head (encoded once per
    /// representation) is followed by the fields of this delivery; nil when the delivery is
    /// not that simple, or the head has no wire form (then `fromStored` answers).
    static func wire(
        _ stored: StoredResponse, request: HTTPRequestHead, now: Double, cacheStatus: CacheStatus, viaField: ByteBuffer
    ) -> (bytes: (ByteBuffer, ByteBuffer?), bodyBytes: Int)? {
        guard request.version == .http1_1, request.method == .GET || request.method == .HEAD,
              Selection.isUnconditional(request.headers) else { return nil }
        let coding = coding(of: stored, for: request)
        guard let head = coding.map({ stored.wireHeads.variants[$0] }) ?? stored.wireHeads.identity else { return nil }
        var tail = ByteBuffer()
        tail.reserveCapacity(96 + viaField.readableBytes)
        HTTPWire.writeField("Age", String(Int(saturating: max(0, stored.freshness.age(at: now)))), to: &tail)
        tail.writeImmutableBuffer(viaField)
        let status = cacheStatus.headerValue
        guard HTTPWire.isFieldValue(status) else { return nil }
        HTTPWire.writeField("Cache-Status", status, to: &tail)
        if !request.isKeepAlive { tail.writeStaticString("Connection: close\r\n") }
        tail.writeStaticString("\r\n")
        let body = request.method == .HEAD ? nil : (coding.flatMap { stored.variants[$0] } ?? stored.body)
        return (HTTPWire.parts(head: head, tail: tail, body: body), body?.readableBytes ?? 0)
    }

    /// `Via: <via>\r\n`, once per edge; nil if it cannot be sent as it is.
    static func viaField(_ via: String) -> ByteBuffer? {
        guard HTTPWire.isFieldValue(via) else { return nil }
        var b = ByteBuffer()
        HTTPWire.writeField("Via", via, to: &b)
        return b
    }

    /// Adds what this cache says about the response: `Age` (RFC 9111 §5.1), `Via` (RFC 9110
    /// §7.6.3) and `Cache-Status` (RFC 9211).
    static func decorate(_ headers: inout HTTPHeaders, age: Double, cacheStatus: CacheStatus, via: String) {
        // RFC 9213: a field targeted at this cache alone is not passed on (CDN-Cache-Control,
        // meant for every CDN in the path, is).
        for name in StoredResponse.notPassedOn where headers.contains(name: name) { headers.remove(name: name) }
        headers.add(name: "Age", value: String(Int(saturating: max(0, age))))
        headers.add(name: "Via", value: via)
        headers.add(name: "Cache-Status", value: cacheStatus.headerValue)
    }
}
