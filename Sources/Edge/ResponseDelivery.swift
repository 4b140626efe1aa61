import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1

/// Step 6 of the request path, **deliver**: the response for a client from a stored object,
/// applying conditionals and Range and adding `Age`, `Via` and `Cache-Status`. Pure.
struct ResponseDelivery {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    /// The bytes to send (a slice sharing the stored buffer); nil for none.
    var body: ByteBuffer?

    static func fromStored(
        _ stored: StoredResponse, request: HTTPRequestHead, now: Double, cacheStatus: CacheStatus, via: String
    ) -> ResponseDelivery {
        var headers = stored.headers
        decorate(&headers, age: stored.freshness.age(at: now), cacheStatus: cacheStatus, via: via)
        let length = stored.body.readableBytes
        if stored.status == .ok {
            if ConditionalRequest.isNotModified(requestHeaders: request.headers, etag: stored.etag, lastModified: stored.lastModified) {
                for name in ["content-length", "content-type", "content-range", "accept-ranges"] { headers.remove(name: name) }
                return ResponseDelivery(status: .notModified, headers: headers, body: nil)
            }
            headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes")
            if request.method == .GET,
               ConditionalRequest.rangeApplies(requestHeaders: request.headers, etag: stored.etag, lastModified: stored.lastModified) {
                switch ByteRangeOutcome.evaluate(rangeHeader: request.headers.first(name: "range"), length: length) {
                case .full: break
                case .partial(let r):
                    headers.replaceOrAdd(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound)/\(length)")
                    headers.replaceOrAdd(name: "Content-Length", value: String(r.count))
                    return ResponseDelivery(
                        status: .partialContent, headers: headers,
                        body: stored.body.getSlice(at: stored.body.readerIndex + r.lowerBound, length: r.count)
                    )
                case .unsatisfiable:
                    headers.replaceOrAdd(name: "Content-Range", value: "bytes */\(length)")
                    headers.replaceOrAdd(name: "Content-Length", value: "0")
                    return ResponseDelivery(status: .rangeNotSatisfiable, headers: headers, body: nil)
                }
            }
        }
        headers.replaceOrAdd(name: "Content-Length", value: String(length))
        return ResponseDelivery(status: stored.status, headers: headers, body: request.method == .HEAD ? nil : stored.body)
    }

    /// Adds what this cache says about the response: `Age` (RFC 9111 §5.1), `Via` (RFC 9110
    /// §7.6.3) and `Cache-Status` (RFC 9211).
    static func decorate(_ headers: inout HTTPHeaders, age: Double, cacheStatus: CacheStatus, via: String) {
        headers.replaceOrAdd(name: "Age", value: String(Int(max(0, age))))
        headers.add(name: "Via", value: via)
        headers.add(name: "Cache-Status", value: cacheStatus.headerValue)
    }
}
