/// The edge settings a site may set for itself (in its `[[sites]]` table) over each edge's own:
/// how it is cached, how its assets are minified and compressed, what its pushes may hold, and
/// what its cookies do. An edge's file sets the same keys for every site it serves; a site's
/// value wins where it gives one.
public struct SiteSettings: Sendable, Equatable {
    public var cacheRules: [CacheRule]?
    public var minify: [MinifiedKind]?
    public var compress: [StoredCoding]?
    public var assetPaths: [String]?
    public var compressMinSize: Int?
    public var gzipLevel: Int?
    public var brotliLevel: Int?
    public var zstdLevel: Int?
    public var pushCapacity: Int?
    public var pullAfterPushExpiry: [String]?
    public var stripRequestHeaders: Set<String>?
    public var cookies: CookiePolicy?
    public var setCookie: SetCookiePolicy?
    public var staleIfDisconnected: Double?

    public init() {}

    public static let keys: Set<String> = [
        "cache_rules", "minify", "compress", "asset_paths", "compress_min_size", "gzip_level", "brotli_level", "zstd_level", "push_capacity",
        "pull_after_push_expiry", "strip_request_headers", "cookies", "set_cookie", "stale_if_disconnected",
    ]

    /// Reads these keys from an edge's or a site's table, each bounded and checked.
    public init(section s: ConfigSection) throws(ConfigError) {
        if s.table["cache_rules"] != nil {
            cacheRules = try s.sections("cache_rules").map { (r: ConfigSection) throws(ConfigError) -> CacheRule in try CacheRule(section: r) }
        }
        minify = try s.choices("minify", MinifiedKind.self)
        compress = try s.choices("compress", StoredCoding.self)
        assetPaths = try s.strings("asset_paths")
        for p in assetPaths ?? [] where !p.hasPrefix("/") { throw s.error("asset_paths", "'\(p)' must start with '/'") }
        compressMinSize = try s.byteSize("compress_min_size", max: 1 << 30)
        gzipLevel = try s.integer("gzip_level")
        if let l = gzipLevel, !(1...9).contains(l) { throw s.error("gzip_level", "must be 1 to 9") }
        brotliLevel = try s.integer("brotli_level")
        if let l = brotliLevel, !(0...11).contains(l) { throw s.error("brotli_level", "must be 0 to 11") }
        zstdLevel = try s.integer("zstd_level")
        if let l = zstdLevel, !(1...19).contains(l) { throw s.error("zstd_level", "must be 1 to 19") }
        pushCapacity = try s.byteSize("push_capacity", max: 1 << 50)
        pullAfterPushExpiry = try s.strings("pull_after_push_expiry")
        for p in pullAfterPushExpiry ?? [] where !p.hasPrefix("/") { throw s.error("pull_after_push_expiry", "'\(p)' must start with '/'") }
        if let strip = try s.strings("strip_request_headers") {
            for h in strip where h.isEmpty || !h.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) {
                throw s.error("strip_request_headers", "'\(h)' is not a header name")
            }
            stripRequestHeaders = Set(strip.map { $0.lowercased() })
        }
        if let c = try s.string("cookies") {
            guard let policy = CookiePolicy(rawValue: c) else { throw s.error("cookies", "'\(c)' is not a cookie policy; use forward, pass or strip") }
            cookies = policy
        }
        setCookie = try s.choice("set_cookie", SetCookiePolicy.self)
        staleIfDisconnected = try CacheRule.seconds(s, "stale_if_disconnected")
    }

    /// `config` with every setting given here in place of its own.
    public func applied(to config: EdgeConfig) -> EdgeConfig {
        var c = config
        if let v = cacheRules { c.cacheRules = v }
        if let v = minify { c.minify = v }
        if let v = compress { c.compress = v }
        if let v = assetPaths { c.assetPaths = v }
        if let v = compressMinSize { c.compressMinSize = v }
        if let v = gzipLevel { c.gzipLevel = v }
        if let v = brotliLevel { c.brotliLevel = v }
        if let v = zstdLevel { c.zstdLevel = v }
        if let v = pushCapacity { c.pushCapacity = v }
        if let v = pullAfterPushExpiry { c.pullAfterPushExpiry = v }
        if let v = stripRequestHeaders { c.stripRequestHeaders = v }
        if let v = cookies { c.cookies = v }
        if let v = setCookie { c.setCookie = v }
        if let v = staleIfDisconnected { c.staleIfDisconnected = v }
        return c
    }
}
