/// The primary cache key (RFC 9111 §2): normalised scheme, host and target. Two requests that
/// differ only in ways a server cannot tell apart (`%7E` vs `~`, `/a/./b` vs `/a/b`) share a key;
/// request headers never enter it (Vary selects among variants instead, see `VarySelector`).
public struct CacheKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String
    /// Where the path starts in `value`, so prefix purges can compare paths.
    public let path: Substring

    public init(scheme: String, authority: String, pathAndQuery: String) {
        self.init(origin: Origin(scheme: scheme, authority: authority), pathAndQuery: pathAndQuery)
    }

    /// The normalised `scheme://authority` that keys begin with, built once per origin.
    public struct Origin: Sendable {
        let prefix: String
        let count: Int
        public init(scheme: String, authority: String) {
            prefix = "\(scheme.lowercased())://\(authority.lowercased())"
            count = prefix.count
        }

        /// Keys of one site of several: `site` and a space lead, so purges can select a site's keys
        /// (`sitePrefix`) and two sites never share one.
        public init(site: String, scheme: String, authority: String) {
            prefix = "\(Self.sitePrefix(site))\(scheme.lowercased())://\(authority.lowercased())"
            count = prefix.count
        }

        public static func sitePrefix(_ site: String) -> String { site + " " }
    }

    public init(origin: Origin, pathAndQuery: String) {
        value = origin.prefix + CacheKey.normalise(pathAndQuery)
        path = value.dropFirst(origin.count)
    }

    public var description: String { value }

    public static func < (a: CacheKey, b: CacheKey) -> Bool { a.value < b.value }

    public static func == (a: CacheKey, b: CacheKey) -> Bool { a.value == b.value }
    public func hash(into h: inout Hasher) { h.combine(value) }

    /// Percent-decodes unreserved characters, upper-cases remaining escapes (RFC 3986 §6.2.2)
    /// and removes dot segments from the path (§5.2.4). The query is kept in order.
    public static func normalise(_ target: String) -> String {
        var path = Substring(target)
        var query: Substring = ""
        if let q = target.firstIndex(of: "?") {
            path = target[..<q]
            query = target[q...]
        }
        return removeDotSegments(normaliseEscapes(path)) + normaliseEscapes(query)
    }

    static func normaliseEscapes(_ s: Substring) -> String {
        // Byte scans: Foundation's substring search is far too slow for every request.
        guard s.utf8.contains(UInt8(ascii: "%")) else { return String(s) }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                let v = h << 4 | l
                if isUnreserved(v) {
                    out.append(v)
                } else {
                    out.append(UInt8(ascii: "%"))
                    out.append(upperHex(h))
                    out.append(upperHex(l))
                }
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func removeDotSegments(_ path: String) -> String {
        guard Self.hasDotSegmentStart(path) else { return path }
        var out: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, seg) in segments.enumerated() {
            let last = i == segments.count - 1
            switch seg {
            case ".": if last { out.append("") }
            case "..":
                if !out.isEmpty { out.removeLast() }
                if last { out.append("") }
            default: out.append(seg)
            }
        }
        return "/" + out.joined(separator: "/")
    }

    /// Whether `/.` occurs (only then can there be dot segments).
    static func hasDotSegmentStart(_ path: String) -> Bool {
        var previousSlash = false
        for b in path.utf8 {
            if previousSlash && b == UInt8(ascii: ".") { return true }
            previousSlash = b == UInt8(ascii: "/")
        }
        return false
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func upperHex(_ v: UInt8) -> UInt8 { v < 10 ? v + UInt8(ascii: "0") : v - 10 + UInt8(ascii: "A") }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }
}
