import NIOHTTP1

/// The directives of one or more `Cache-Control` header lines (RFC 9111 §5.2), parsed once.
/// Unknown directives are ignored as §5.2.3 requires; a malformed delta-seconds is treated as
/// absent for `max-age`/`s-maxage` except that a present-but-invalid `max-age` makes the
/// response stale (§4.2.1: "a cache ... SHOULD consider it stale").
public struct CacheControl: Sendable, Equatable {
    public var maxAge: Int?
    public var sharedMaxAge: Int?
    public var staleWhileRevalidate: Int?
    public var staleIfError: Int?
    public var noStore = false
    public var noCache = false
    public var isPrivate = false
    public var isPublic = false
    public var mustRevalidate = false
    public var proxyRevalidate = false
    public var immutable = false
    public var noTransform = false
    public var onlyIfCached = false
    /// `must-understand` (§5.2.2.3): store only if the status code is understood, and then
    /// `no-store` does not apply.
    public var mustUnderstand = false
    /// `max-age` was present but not a valid number.
    public var invalidMaxAge = false

    public init() {}

    public init(headers: HTTPHeaders) {
        self.init()
        for line in headers[canonicalForm: "cache-control"] {
            parse(line)
        }
    }

    public init(_ value: String) {
        self.init()
        parse(Substring(value))
    }

    /// The directives of a targeted field (RFC 9213 §2.1), a Dictionary Structured Field:
    /// `nil` when it does not parse. A directive whose value has the wrong type (`max-age="60"`,
    /// `no-store=3`) is ignored; `no-cache` and `private` with a value count as unqualified.
    public init?(structured lines: [String]) {
        guard let members = StructuredDictionary.parse(lines) else { return nil }
        self.init()
        for (key, item) in members {
            var seconds: Int?
            if case .integer(let n) = item, n >= 0 { seconds = Int(min(n, 2_147_483_648)) }
            let flag = item == .boolean(true)
            switch key {
            case "max-age": maxAge = seconds ?? maxAge
            case "s-maxage": sharedMaxAge = seconds ?? sharedMaxAge
            case "stale-while-revalidate": staleWhileRevalidate = seconds ?? staleWhileRevalidate
            case "stale-if-error": staleIfError = seconds ?? staleIfError
            case "no-store": noStore = noStore || flag
            case "no-cache": noCache = noCache || item != .boolean(false)
            case "private": isPrivate = isPrivate || item != .boolean(false)
            case "public": isPublic = isPublic || flag
            case "must-revalidate": mustRevalidate = mustRevalidate || flag
            case "proxy-revalidate": proxyRevalidate = proxyRevalidate || flag
            case "immutable": immutable = immutable || flag
            case "no-transform": noTransform = noTransform || flag
            case "must-understand": mustUnderstand = mustUnderstand || flag
            default: continue
            }
        }
    }

    private mutating func parse(_ line: Substring) {
        for item in splitOutsideQuotes(line) {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard let rawName = pair.first else { continue }
            let name = rawName.trimmingSpaces().lowercased()
            var value: Substring? = pair.count > 1 ? pair[1].trimmingSpaces() : nil
            if let v = value, v.count >= 2, v.first == "\"", v.last == "\"" {
                value = v.dropFirst().dropLast()
            }
            let seconds = value.flatMap { Self.deltaSeconds($0) }
            switch name {
            case "max-age":
                if let seconds { maxAge = seconds } else { invalidMaxAge = true }
            case "s-maxage": sharedMaxAge = seconds
            case "stale-while-revalidate": staleWhileRevalidate = seconds
            case "stale-if-error": staleIfError = seconds
            case "no-store": noStore = true
            // Qualified forms (`no-cache="Set-Cookie"`, `private="x"`) are treated as unqualified:
            // the conservative reading allowed by §5.2.2.4 and §5.2.2.7.
            case "no-cache": noCache = true
            case "private": isPrivate = true
            case "public": isPublic = true
            case "must-revalidate": mustRevalidate = true
            case "proxy-revalidate": proxyRevalidate = true
            case "immutable": immutable = true
            case "no-transform": noTransform = true
            case "only-if-cached": onlyIfCached = true
            case "must-understand": mustUnderstand = true
            default: continue
            }
        }
    }

    /// delta-seconds (§1.2.2): digits only; values too large saturate at 2^31.
    static func deltaSeconds(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s).map { min($0, 2_147_483_648) } ?? 2_147_483_648
    }

    /// The fields a response can aim at caches like this one, most specific first (RFC 9213
    /// §2.1): Outpost's own, then every CDN's, then the older Surrogate-Control.
    public static let targetedFields = ["outpost-cdn-cache-control", "cdn-cache-control", "surrogate-control"]

    /// The directives this cache follows for a response (RFC 9213 §2.1): the first targeted
    /// field with a valid, non-empty value, and then `Cache-Control` and `Expires` are ignored
    /// (`targeted` says so); otherwise `Cache-Control`.
    public static func forSharedCache(_ headers: HTTPHeaders) -> (directives: CacheControl, targeted: Bool) {
        for field in targetedFields {
            let lines = headers[canonicalForm: field]
            guard lines.contains(where: { !$0.trimmingSpaces().isEmpty }) else { continue }
            var cc = CacheControl()
            if field == "surrogate-control" {
                // Not a structured field: read as Cache-Control is.
                for line in lines { cc.parse(line) }
            } else {
                // §2.1: a Dictionary Structured Field; one that does not parse is ignored whole.
                guard let structured = CacheControl(structured: headers[field]) else { continue }
                cc = structured
            }
            if cc != CacheControl() { return (cc, true) }
        }
        return (CacheControl(headers: headers), false)
    }

    /// May a stored response be served stale at all (§4.2.4)? `must-revalidate`, and for a shared
    /// cache `proxy-revalidate` and `s-maxage`, forbid it.
    public var forbidsStaleForSharedCache: Bool {
        mustRevalidate || proxyRevalidate || sharedMaxAge != nil || noCache
    }
}

/// Splits a header list on commas that are not inside a quoted string.
func splitOutsideQuotes(_ line: Substring) -> [Substring] {
    var out: [Substring] = []
    var inQuotes = false
    var start = line.startIndex
    var i = line.startIndex
    while i < line.endIndex {
        let c = line[i]
        if c == "\"" { inQuotes.toggle() } else if c == ",", !inQuotes {
            out.append(line[start..<i])
            start = line.index(after: i)
        }
        i = line.index(after: i)
    }
    out.append(line[start..<line.endIndex])
    return out.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
}
