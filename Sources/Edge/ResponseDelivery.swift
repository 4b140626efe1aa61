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
        var headers = stored.headers
        decorate(&headers, age: stored.freshness.age(at: now), cacheStatus: cacheStatus, via: via)
        // The representation: a compressed variant the client accepts, or the identity body.
        var body = stored.body
        var etag = stored.etag
        if !stored.variants.isEmpty {
            addVary(&headers, "Accept-Encoding")
            let available = Set(stored.variants.keys.compactMap(ContentCoding.init(rawValue:)))
            if let coding = AcceptEncoding.choose(request.headers.first(name: "accept-encoding"), available: available),
               let variant = stored.variants[coding.rawValue] {
                body = variant
                headers.replaceOrAdd(name: "Content-Encoding", value: coding.rawValue)
                // Each representation has its own validator (RFC 9110 §8.8.3).
                if let e = etag {
                    etag = String(e.dropLast()) + "-\(coding.rawValue)\""
                    headers.replaceOrAdd(name: "ETag", value: etag!)
                }
            }
        }
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

    static func addVary(_ headers: inout HTTPHeaders, _ field: String) {
        let present = headers[canonicalForm: "vary"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !present.contains(field.lowercased()) && !present.contains("*") { headers.add(name: "Vary", value: field) }
    }

    /// Adds what this cache says about the response: `Age` (RFC 9111 §5.1), `Via` (RFC 9110
    /// §7.6.3) and `Cache-Status` (RFC 9211).
    static func decorate(_ headers: inout HTTPHeaders, age: Double, cacheStatus: CacheStatus, via: String) {
        // RFC 9213: a field targeted at this cache alone is not passed on (CDN-Cache-Control,
        // meant for every CDN in the path, is).
        for name in ["outpost-cdn-cache-control", "surrogate-control"] where headers.contains(name: name) { headers.remove(name: name) }
        headers.add(name: "Age", value: String(Int(saturating: max(0, age))))
        headers.add(name: "Via", value: via)
        headers.add(name: "Cache-Status", value: cacheStatus.headerValue)
    }
}
