/// An operator's caching rule for the paths a glob matches (`[[cache_rules]]` in the edge's
/// file), as nginx's `proxy_cache_valid` / `proxy_cache_use_stale` and Bunny's edge rules give
/// them. The first rule whose glob matches a request's path applies.
public struct CacheRule: Sendable, Equatable {
    public var path: PathGlob
    /// Lifetime in seconds for a response that states none (no max-age, s-maxage or Expires).
    public var defaultTTL: Double?
    /// Bounds on any lifetime, stated or default.
    public var minTTL: Double?
    public var maxTTL: Double?
    /// Seconds past expiry a stored response may be served when the origin fails, as if it
    /// had said `stale-if-error` (at least this; a larger one of its own stands).
    public var staleIfError: Double?
    /// The cache key ignores the query entirely.
    public var ignoreQuery = false
    /// Query parameters left out of the key, by name glob (`utm_*`, `gclid`).
    public var dropParams: [PathGlob] = []
    /// The remaining parameters are sorted by name in the key (`?b=1&a=2` is `?a=2&b=1`).
    public var sortQuery = false

    public init(path: PathGlob) { self.path = path }

    static let keys: Set<String> = ["path", "default_ttl", "min_ttl", "max_ttl", "stale_if_error", "ignore_query", "drop_params", "sort_query"]

    init(section s: ConfigSection) throws(ConfigError) {
        try s.rejectUnknownKeys(Self.keys)
        let pattern = try s.requiredString("path")
        guard pattern.hasPrefix("/") else { throw s.error("path", "'\(pattern)' must start with '/'") }
        self.init(path: PathGlob(pattern))
        defaultTTL = try Self.seconds(s, "default_ttl")
        minTTL = try Self.seconds(s, "min_ttl")
        maxTTL = try Self.seconds(s, "max_ttl")
        if let lo = minTTL, let hi = maxTTL, lo > hi { throw s.error("min_ttl", "is larger than max_ttl") }
        staleIfError = try Self.seconds(s, "stale_if_error")
        ignoreQuery = try s.bool("ignore_query") ?? false
        dropParams = try (s.strings("drop_params") ?? []).map(PathGlob.init)
        sortQuery = try s.bool("sort_query") ?? false
    }

    /// Seconds as a number or a duration (`30s`, `15m`, `12h`, `7d`, `2w`), 0 to ten years.
    static func seconds(_ s: ConfigSection, _ key: String) throws(ConfigError) -> Double? {
        guard let entry = s.table[key] else { return nil }
        var value: Double?
        switch entry.value {
        case .integer(let i): value = Double(i)
        case .float(let d): value = d
        case .string(let text):
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
            if let u = text.last, let factor = units[u], text.dropLast().allSatisfy({ $0.isASCII && $0.isNumber }), let n = Double(text.dropLast()) {
                value = n * factor
            }
        default: break
        }
        guard let v = value, v.isFinite, (0...315_360_000).contains(v) else {
            throw s.error(key, "expected seconds or a duration such as 90s, 15m, 12h, 7d (at most ten years)")
        }
        return v
    }

    /// The origin-form target as the cache key sees it under this rule.
    public func keyTarget(_ target: String) -> String {
        guard let q = target.firstIndex(of: "?") else { return target }
        let path = target[..<q]
        if ignoreQuery { return String(path) }
        guard !dropParams.isEmpty || sortQuery else { return target }
        var params = target[target.index(after: q)...].split(separator: "&", omittingEmptySubsequences: true)
        params.removeAll { p in
            let name = String(p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            return dropParams.contains { $0.matches(name) }
        }
        if sortQuery { params.sort { ($0.split(separator: "=", maxSplits: 1).first ?? "") < ($1.split(separator: "=", maxSplits: 1).first ?? "") } }
        return params.isEmpty ? String(path) : path + "?" + params.joined(separator: "&")
    }
}

extension Array where Element == CacheRule {
    /// The first rule for the path of `target` (query ignored).
    public func rule(for target: String) -> CacheRule? {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        return first { $0.path.matches(path) }
    }
}
