import NIOHTTP1

/// Which response a request gets of one representation: RFC 9110 §13 preconditions, then §14
/// Range. One decision for every server here: the edge's stored objects, the edge's misses (on
/// the origin's head) and the origin's files.
public enum Selection: Sendable, Equatable {
    case full
    case notModified
    case partial(ClosedRange<Int>)
    case unsatisfiable

    /// No precondition and no Range: every representation is sent `.full`, whatever its
    /// validators (the hit path then needs neither).
    public static func isUnconditional(_ requestHeaders: HTTPHeaders) -> Bool {
        !requestHeaders.contains { name, _ in
            let n = name.utf8
            guard let first = n.first, first | 0x20 == UInt8(ascii: "i") || first | 0x20 == UInt8(ascii: "r") else { return false }
            return conditionalFields.contains(name.lowercased())
        }
    }

    static let conditionalFields: Set<String> = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"]

    /// `length` nil: not known yet (no Content-Length), so Range is ignored (§14.2 allows it).
    public static func of(
        status: HTTPResponseStatus, method: HTTPMethod, requestHeaders: HTTPHeaders, etag: String?, lastModified: String?, length: Int?
    ) -> Selection {
        guard status == .ok else { return .full }
        if ConditionalRequest.isNotModified(requestHeaders: requestHeaders, etag: etag, lastModified: lastModified) { return .notModified }
        guard method == .GET, let length,
              ConditionalRequest.rangeApplies(requestHeaders: requestHeaders, etag: etag, lastModified: lastModified) else { return .full }
        switch ByteRangeOutcome.evaluate(rangeHeader: requestHeaders.first(name: "range"), length: length) {
        case .full: return .full
        case .partial(let r): return .partial(r)
        case .unsatisfiable: return .unsatisfiable
        }
    }

    /// The status, and the framing and range fields, of this selection of a representation of
    /// `length` bytes. `headers` may carry a Content-Length already (an origin's); it is set here.
    public func apply(to headers: inout HTTPHeaders, status: HTTPResponseStatus, length: Int?) -> HTTPResponseStatus {
        switch self {
        case .notModified:
            for name in ["content-length", "content-type", "content-range", "accept-ranges"] { headers.remove(name: name) }
            return .notModified
        case .partial(let r):
            headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes")
            headers.replaceOrAdd(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound)/\(length ?? 0)")
            headers.replaceOrAdd(name: "Content-Length", value: String(r.count))
            return .partialContent
        case .unsatisfiable:
            headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes")
            headers.replaceOrAdd(name: "Content-Range", value: "bytes */\(length ?? 0)")
            headers.replaceOrAdd(name: "Content-Length", value: "0")
            return .rangeNotSatisfiable
        case .full:
            if status == .ok, length != nil { headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes") }
            if let length { headers.replaceOrAdd(name: "Content-Length", value: String(length)) }
            return status
        }
    }
}
