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
        let selection = Selection.of(status: .ok, method: method, requestHeaders: requestHeaders, etag: file.etag, lastModified: lastModified,
                                     length: file.size)
        if selection != .notModified { headers.add(name: "Content-Type", value: contentType) }
        let status = selection.apply(to: &headers, status: .ok, length: file.size)
        switch selection {
        case .full:
            return FileResponsePlan(status: status, headers: headers, bytes: method == .GET && file.size > 0 ? 0...(file.size - 1) : nil)
        case .partial(let r):
            return FileResponsePlan(status: status, headers: headers, bytes: r)
        case .notModified, .unsatisfiable:
            return FileResponsePlan(status: status, headers: headers, bytes: nil)
        }
    }
}
