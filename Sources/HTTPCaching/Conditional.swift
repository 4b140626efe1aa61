import NIOHTTP1

/// Preconditions on GET and HEAD (RFC 9110 §13): `If-None-Match`, `If-Modified-Since`, `If-Range`.
public enum ConditionalRequest {
    /// Should a GET/HEAD be answered with 304 (§13.2.2 steps 3 and 4)?
    public static func isNotModified(requestHeaders: HTTPHeaders, etag: String?, lastModified: String?) -> Bool {
        let inm = requestHeaders[canonicalForm: "if-none-match"]
        if !inm.isEmpty {
            guard let etag else { return false }
            let tags = inm.flatMap { splitOutsideQuotes($0) }
            return tags.contains("*") || tags.contains { weakMatch(String($0), etag) }
        }
        if let ims = requestHeaders.first(name: "if-modified-since").flatMap(HTTPDate.parse),
           let lm = lastModified.flatMap(HTTPDate.parse) {
            return lm <= ims
        }
        return false
    }

    /// Should a Range be honoured given `If-Range` (§13.1.5)? A date matches only an equal
    /// Last-Modified; an entity-tag only a strong, equal one.
    public static func rangeApplies(requestHeaders: HTTPHeaders, etag: String?, lastModified: String?) -> Bool {
        guard let ifRange = requestHeaders.first(name: "if-range")?.trimmingSpaces() else { return true }
        if ifRange.hasPrefix("\"") || ifRange.hasPrefix("W/") {
            guard let etag, !etag.hasPrefix("W/"), !ifRange.hasPrefix("W/") else { return false }
            return ifRange == etag
        }
        guard let d = HTTPDate.parse(ifRange), let lm = lastModified.flatMap(HTTPDate.parse) else { return false }
        return d == lm
    }

    /// §8.8.3.2 weak comparison: opaque tags equal, ignoring `W/`.
    static func weakMatch(_ a: String, _ b: String) -> Bool {
        func opaque(_ s: String) -> Substring { s.hasPrefix("W/") ? s.dropFirst(2) : Substring(s) }
        return opaque(a) == opaque(b)
    }
}
