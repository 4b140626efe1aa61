import HTTPCaching
import HTTPServer
import NIOHTTP1

/// What to answer for a found file: status, headers, and which bytes (if any) to send. Pure.
struct FileResponsePlan: Equatable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    /// Bytes of the file to send; nil sends none.
    var bytes: ClosedRange<Int>?

    static func make(
        file: FoundFile, method: HTTPMethod, requestHeaders: HTTPHeaders, cacheControl: String, now: Double, contentType: String
    ) -> FileResponsePlan {
        let lastModified = HTTPDate.format(file.modified)
        var headers: HTTPHeaders = [
            "Date": DateHeader.value(at: now),
            "ETag": file.etag,
            "Last-Modified": lastModified,
            "Cache-Control": cacheControl,
        ]
        if ConditionalRequest.isNotModified(requestHeaders: requestHeaders, etag: file.etag, lastModified: lastModified) {
            return FileResponsePlan(status: .notModified, headers: headers, bytes: nil)
        }
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Accept-Ranges", value: "bytes")
        var outcome = ByteRangeOutcome.full
        if method == .GET,
           ConditionalRequest.rangeApplies(requestHeaders: requestHeaders, etag: file.etag, lastModified: lastModified) {
            outcome = .evaluate(rangeHeader: requestHeaders.first(name: "range"), length: file.size)
        }
        switch outcome {
        case .full:
            headers.add(name: "Content-Length", value: String(file.size))
            return FileResponsePlan(status: .ok, headers: headers, bytes: method == .GET && file.size > 0 ? 0...(file.size - 1) : nil)
        case .partial(let r):
            headers.add(name: "Content-Length", value: String(r.count))
            headers.add(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound)/\(file.size)")
            return FileResponsePlan(status: .partialContent, headers: headers, bytes: r)
        case .unsatisfiable:
            headers.add(name: "Content-Range", value: "bytes */\(file.size)")
            headers.replaceOrAdd(name: "Content-Length", value: "0")
            return FileResponsePlan(status: .rangeNotSatisfiable, headers: headers, bytes: nil)
        }
    }
}
