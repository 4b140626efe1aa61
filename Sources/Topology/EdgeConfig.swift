import Foundation

/// One edge's settings (`edges/<name>.toml`). Every field has a default that serves the demo.
public struct EdgeConfig: Sendable, Equatable {
    public var name: String
    public var dataCenter: String
    public var listen: ListenAddress
    public var origin: OriginURL
    /// The sites this edge serves, from the fleet file's `[[sites]]`; empty: one site, `origin`,
    /// whatever the request's host.
    public var sites: [SiteConfig] = []
    /// Memory budget of the cache in bytes.
    public var cacheSize: Int
    /// Larger responses are streamed through and not stored.
    public var maxObjectSize: Int
    /// The memory tier's eviction policy.
    public var eviction = Eviction.s3fifo
    /// Most bytes of a response that is not stored held for one slow client (the origin read
    /// is paused beyond it).
    public var clientBufferSize = 1 << 20
    /// Largest request body a pass (POST, PUT, …) may carry to the origin.
    public var maxRequestBodySize: Int
    /// Seconds to wait for the origin's response head (and between body reads).
    public var originTimeout: Double
    /// Seconds to keep trying to connect to the origin (refused connections are retried with
    /// back-off until then; stale-if-error answers wait this long when the origin is down).
    public var originConnectTimeout: Double
    /// The public listener over TLS (HTTP/2 and HTTP/1.1 by ALPN); nil turns it off.
    public var tlsListen: ListenAddress?
    /// PEM certificate chain and key for it; without them a self-signed pair is made at start.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// The control listener (push, purge, manifest, health); nil turns it off.
    public var controlListen: ListenAddress?
    /// Bearer token for the control API. From `control_token`, `control_token_file`, or the
    /// environment variable OUTPOST_CONTROL_TOKEN (which wins).
    public var controlToken: String?
    /// Where pushed objects are kept.
    public var dataDirectory: String
    /// Largest single pushed object.
    public var maxPushSize: Int
    /// Most bytes of pushed objects in all.
    public var pushCapacity: Int
    /// Path prefixes that are pulled from the origin again once their pushed object expired
    /// (elsewhere an expired push is a 404).
    public var pullAfterPushExpiry: [String]
    /// Asset kinds minified when stored.
    public var minify: [MinifiedKind] = MinifiedKind.allCases
    /// Content codings built when stored, in the server's order of preference.
    public var compress: [StoredCoding] = [.br, .zstd, .gzip]
    /// Path globs the asset pipeline applies to (minify and compress); default: every path.
    public var assetPaths: [String] = ["/**"]
    /// Bodies smaller than this are not compressed.
    public var compressMinSize = 256
    public var gzipLevel = 6
    public var brotliLevel = 5
    public var zstdLevel = 3
    /// Where the access log goes (`-` for standard output); nil: no access log.
    public var accessLog: String?
    /// Share of its data center's clients this edge gets, relative to the others (director).
    public var weight: Int = 1
    /// Addresses the director hands out for this edge; default: the listen address.
    public var publicIPv4: String?
    public var publicIPv6: String?
    /// Request headers never sent to the origin (lower-cased). The default names the headers
    /// that origins are known to build URLs or routing from without listing them in `Vary`
    /// (the classic cache-poisoning vectors); every other end-to-end header is forwarded.
    public var stripRequestHeaders: Set<String> = EdgeConfig.defaultStrippedRequestHeaders
    public static let defaultStrippedRequestHeaders: Set<String> = [
        "x-forwarded-host", "x-forwarded-server", "x-forwarded-port", "x-original-url", "x-rewrite-url", "x-host",
        "x-http-method-override", "x-http-method", "x-method-override",
    ]
    /// What a `Cookie` on a cacheable request does: forwarded and the response cached by the
    /// usual rules (default: a response that sets a cookie is stored only when public), the
    /// request passed to the origin uncached (Varnish's built-in VCL), or dropped before the
    /// origin sees it (for static sites behind a cookie-setting front end).
    public var cookies: CookiePolicy = .forward
    /// Whether a response that sets a cookie is stored only when the origin marks it shareable
    /// (`public`, `s-maxage`: Varnish's built-in rule, the default) or by RFC 9111 alone.
    public var setCookie: SetCookiePolicy = .publicOnly
    /// Seconds past expiry a stored response may still be served when the origin cannot be
    /// reached or does not answer in time (RFC 9111 §4.2.4 allows it while disconnected;
    /// never against must-revalidate, proxy-revalidate, s-maxage or no-cache). 0 turns it off.
    public var staleIfDisconnected: Double = 3600
    /// Operator caching rules by path glob; the first that matches applies.
    public var cacheRules: [CacheRule] = []
    /// Timeouts and connection caps of the public, TLS and control listeners.
    public var limits = ListenerLimits()
    /// Clients refused with 403 on the public listeners.
    public var deny: [CIDR] = []
    /// Requests a second one client address may make on the public listeners (429 with
    /// `Retry-After` beyond it); nil: no limit.
    public var rateLimit: Double?
    /// Requests a client may make at once above `rateLimit` before it applies.
    public var rateLimitBurst = 100
    /// Stored variants of one URL at most (one per distinct value of the `Vary`-named headers);
    /// more are not stored, so a client sending a new header value per request cannot fill
    /// the cache with one URL.
    public var maxVariants = 16
    /// Seconds an edge told to stop keeps serving while its health check says `draining` (so
    /// the director sends new clients elsewhere first), before it stops accepting.
    public var drainSeconds: Double = 0
    /// Seconds it then waits for requests under way to finish before closing what is left.
    public var drainTimeout: Double = 10
    /// The disk tier's folder (under the memory tier: what memory evicts goes there, and a
    /// memory miss looks there before the origin); nil: memory only.
    public var diskCache: String?
    /// The disk tier's byte budget, never exceeded.
    public var diskCacheSize = 1 << 30
    /// Event loops (threads) serving this edge's connections; nil: one per CPU core (nginx's
    /// `worker_processes auto`).
    public var eventLoops: Int?
    /// The control listener speaks TLS, with the public listener's certificate (`tls_certificate`
    /// and `tls_key`) or a self-signed one made at start.
    public var controlTLS = false
    /// For those that call this edge (the CLI, the director, peers): a PEM file with the
    /// certificate, or its CA, that the control listener presents; nil: the system's roots.
    public var controlCA: String?
    /// For the director: what it checks; nil: the control listener's /health, else the public
    /// listener's `/`.
    public var healthURL: EndpointURL?
    /// Control URLs of other edges this one copies pushed content from when it lacks it (an edge
    /// that joins later, or lost its disk): their manifests, then each object they hold and it
    /// does not, checked by SHA-256.
    public var pushPeers: [EndpointURL] = []
    /// Seconds between two syncs from the peers.
    public var pushSyncInterval: Double = 10
    /// File this came from, if any; nil with `remote`, too.
    public var file: String?
    /// Known from the fleet file's addresses only (`edges = [{ name = …, public = … }]`): the edge
    /// runs on another host with its own settings there, so `outpost up` cannot start it.
    public var remote = false

    /// `http(s)://HOST:PORT` of the control listener.
    public var controlURL: String? {
        controlListen.map { (controlTLS ? "https://" : "http://") + $0.description }
    }

    /// The URL the director checks.
    public var effectiveHealthURL: EndpointURL {
        if let healthURL { return healthURL }
        if let c = controlListen { return EndpointURL(tls: controlTLS, address: c, path: "/health") }
        return EndpointURL(tls: false, address: listen, path: "/")
    }

    public static let keys: Set<String> = Set([
        "name", "data_center", "listen", "origin", "cache_size", "max_object_size", "max_request_body_size", "origin_timeout",
        "origin_connect_timeout", "control_listen", "control_token", "control_token_file", "data_dir", "max_push_size",
        "push_capacity", "pull_after_push_expiry", "weight", "public_ipv4", "public_ipv6", "eviction", "access_log", "minify", "compress", "asset_paths", "tls_listen", "tls_certificate", "tls_key",
        "compress_min_size", "gzip_level", "brotli_level", "zstd_level", "deny", "rate_limit", "rate_limit_burst", "max_variants",
        "strip_request_headers", "cookies", "set_cookie", "stale_if_disconnected", "cache_rules", "client_buffer_size",
        "event_loops", "disk_cache", "disk_cache_size", "drain_seconds", "drain_timeout", "control_tls", "control_ca",
        "push_peers", "push_sync_interval",
    ]).union(ListenerLimits.keys)

    public init(
        name: String = "edge", dataCenter: String = "local", listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8081),
        origin: OriginURL = OriginURL("http://127.0.0.1:8080")!, cacheSize: Int = 64 << 20, maxObjectSize: Int = 16 << 20,
        maxRequestBodySize: Int = 8 << 20, originTimeout: Double = 10, originConnectTimeout: Double = 3,
        controlListen: ListenAddress? = nil, controlToken: String? = nil, dataDirectory: String = "data/edge",
        maxPushSize: Int = 64 << 20, pushCapacity: Int = 1 << 30, pullAfterPushExpiry: [String] = [], file: String? = nil
    ) {
        self.name = name
        self.dataCenter = dataCenter
        self.listen = listen
        self.origin = origin
        self.cacheSize = cacheSize
        self.maxObjectSize = maxObjectSize
        self.maxRequestBodySize = maxRequestBodySize
        self.originTimeout = originTimeout
        self.originConnectTimeout = originConnectTimeout
        self.controlListen = controlListen
        self.controlToken = controlToken
        self.dataDirectory = dataDirectory
        self.maxPushSize = maxPushSize
        self.pushCapacity = pushCapacity
        self.pullAfterPushExpiry = pullAfterPushExpiry
        self.file = file
    }

    public static func load(file: String) throws(ConfigError) -> EdgeConfig {
        try EdgeConfig(section: ConfigSection.load(file: file))
    }

    public init(section s: ConfigSection) throws(ConfigError) {
        try s.rejectUnknownKeys(Self.keys)
        self.init(file: s.file)
        name = try s.requiredString("name")
        guard EdgeConfig.isValidName(name) else { throw s.error("name", "'\(name)' must be letters, digits, '-' or '_' (it appears in headers)") }
        dataCenter = try s.string("data_center") ?? dataCenter
        listen = try s.listenAddress("listen") ?? listen
        if let o = try s.string("origin") {
            guard let url = OriginURL(o) else { throw s.error("origin", "'\(o)' is not an http:// or https:// URL with a host") }
            origin = url
        }
        // Sizes are bounded so that nothing computed from them can overflow (a body is at most
        // 1 GiB: compression libraries take 32-bit lengths, and variants are a few times it).
        cacheSize = try s.byteSize("cache_size", max: 1 << 40) ?? cacheSize
        maxObjectSize = try s.byteSize("max_object_size", max: 1 << 30) ?? maxObjectSize
        maxRequestBodySize = try s.byteSize("max_request_body_size", max: 1 << 30) ?? maxRequestBodySize
        clientBufferSize = try s.byteSize("client_buffer_size", max: 1 << 30) ?? clientBufferSize
        guard clientBufferSize >= 4096 else { throw s.error("client_buffer_size", "must be at least 4KiB") }
        originTimeout = try s.double("origin_timeout") ?? originTimeout
        guard originTimeout.isFinite, (0.01...86_400).contains(originTimeout) else { throw s.error("origin_timeout", "must be 0.01 to 86400 seconds") }
        originConnectTimeout = try s.double("origin_connect_timeout") ?? originConnectTimeout
        guard originConnectTimeout.isFinite, (0.01...86_400).contains(originConnectTimeout) else {
            throw s.error("origin_connect_timeout", "must be 0.01 to 86400 seconds")
        }
        tlsListen = try s.listenAddress("tls_listen")
        tlsCertificate = try s.string("tls_certificate").map { relative($0, to: s.file) }
        tlsKey = try s.string("tls_key").map { relative($0, to: s.file) }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw s.error(tlsCertificate == nil ? "tls_key" : "tls_certificate", "set both tls_certificate and tls_key, or neither (a self-signed pair is then made)")
        }
        controlListen = try s.listenAddress("control_listen")
        controlToken = try s.string("control_token")
        if let tokenFile = try s.string("control_token_file") {
            guard let text = try? String(contentsOfFile: relative(tokenFile, to: s.file), encoding: .utf8) else {
                throw s.error("control_token_file", "cannot read '\(tokenFile)'; put the control token in that file")
            }
            controlToken = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        controlTLS = try s.bool("control_tls") ?? false
        controlCA = try s.string("control_ca").map { relative($0, to: s.file) }
        for text in try s.strings("push_peers") ?? [] {
            guard let url = EndpointURL(text), url.path == "/" else {
                throw s.error("push_peers", "'\(text)' is not a control URL (http://HOST:PORT or https://HOST:PORT, no path)")
            }
            pushPeers.append(url)
        }
        pushSyncInterval = try s.double("push_sync_interval") ?? pushSyncInterval
        guard pushSyncInterval.isFinite, (0.1...86_400).contains(pushSyncInterval) else { throw s.error("push_sync_interval", "must be 0.1 to 86400 seconds") }
        if let token = controlToken, token.count < 16 {
            throw s.error(s.table["control_token"] != nil ? "control_token" : "control_token_file", "is shorter than 16 characters; use a long random token")
        }
        dataDirectory = try s.string("data_dir").map { URL(fileURLWithPath: relative($0, to: s.file)).standardizedFileURL.path } ?? "data/\(name)"
        maxPushSize = try s.byteSize("max_push_size", max: 1 << 30) ?? maxPushSize
        eviction = try s.choice("eviction", Eviction.self) ?? eviction
        accessLog = try s.string("access_log").map { $0 == "-" ? $0 : URL(fileURLWithPath: relative($0, to: s.file)).standardizedFileURL.path }
        weight = try s.integer("weight") ?? 1
        guard (1...1_000_000).contains(weight) else { throw s.error("weight", "must be 1 to 1000000") }
        publicIPv4 = try s.string("public_ipv4")
        if let v4 = publicIPv4, IPAddress(v4)?.isIPv4 != true { throw s.error("public_ipv4", "'\(v4)' is not an IPv4 address") }
        publicIPv6 = try s.string("public_ipv6")
        if let v6 = publicIPv6, IPAddress(v6).map({ !$0.isIPv4 }) != true { throw s.error("public_ipv6", "'\(v6)' is not an IPv6 address") }
        limits = try ListenerLimits(section: s)
        diskCache = try s.string("disk_cache").map { URL(fileURLWithPath: relative($0, to: s.file)).standardizedFileURL.path }
        diskCacheSize = try s.byteSize("disk_cache_size", max: 1 << 50) ?? diskCacheSize
        drainSeconds = try s.double("drain_seconds") ?? drainSeconds
        guard drainSeconds.isFinite, (0...3600).contains(drainSeconds) else { throw s.error("drain_seconds", "must be 0 to 3600 seconds") }
        drainTimeout = try s.double("drain_timeout") ?? drainTimeout
        guard drainTimeout.isFinite, (0...3600).contains(drainTimeout) else { throw s.error("drain_timeout", "must be 0 to 3600 seconds") }
        guard diskCacheSize >= 1 << 20 else { throw s.error("disk_cache_size", "must be at least 1MiB") }
        // The settings a site may also set for itself.
        self = try SiteSettings(section: s).applied(to: self)
        for d in try s.strings("deny") ?? [] {
            guard let c = CIDR(d) else { throw s.error("deny", "'\(d)' is not an address or a network in CIDR form (203.0.113.0/24, 2001:db8::/32)") }
            deny.append(c)
        }
        if let r = try s.double("rate_limit") {
            guard r.isFinite, (0.001...1_000_000).contains(r) else { throw s.error("rate_limit", "must be between 0.001 and 1000000 requests a second") }
            rateLimit = r
        }
        rateLimitBurst = try s.integer("rate_limit_burst") ?? rateLimitBurst
        guard (1...1_000_000).contains(rateLimitBurst) else { throw s.error("rate_limit_burst", "must be between 1 and 1000000 requests") }
        maxVariants = try s.integer("max_variants") ?? maxVariants
        if let loops = try s.integer("event_loops") {
            guard (1...256).contains(loops) else { throw s.error("event_loops", "must be 1 to 256 (leave it out for one per CPU core)") }
            eventLoops = loops
        }
        guard (1...1024).contains(maxVariants) else { throw s.error("max_variants", "must be between 1 and 1024") }
    }

    /// The token the control API accepts: OUTPOST_CONTROL_TOKEN from the environment wins over
    /// the file, so real deployments keep it out of the configuration.
    public func effectiveControlToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let t = environment["OUTPOST_CONTROL_TOKEN"], !t.isEmpty { return t }
        return controlToken
    }

    /// The IPv4 address DNS answers carry for this edge.
    public var announcedIPv4: IPAddress? {
        if let p = publicIPv4 { return IPAddress(p) }
        return IPAddress(listen.host).flatMap { $0.isIPv4 && listen.host != "0.0.0.0" ? $0 : nil }
    }

    public var announcedIPv6: IPAddress? {
        if let p = publicIPv6 { return IPAddress(p) }
        return IPAddress(listen.host).flatMap { $0.isIPv4 || listen.host == "::" ? nil : $0 }
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_" }
    }
}

/// The origin an edge pulls from: scheme, host and port, and nothing else (no path, no query),
/// so that the edge can never be turned into a proxy for another host.
public struct OriginURL: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty, c.path.isEmpty || c.path == "/", c.query == nil, c.user == nil
        else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = c.port ?? (scheme == "https" ? 443 : 80)
    }

    /// `host` or `host:port` as a Host header carries it.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)" }
}

/// `http://HOST:PORT/path` or `https://…`: somewhere the director or a peer calls. The host is
/// an address or a name; no user, query or fragment.
public struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    public var tls: Bool
    public var address: ListenAddress
    public var path: String

    public init(tls: Bool, address: ListenAddress, path: String) {
        self.tls = tls
        self.address = address
        self.path = path
    }

    public init?(_ text: String) {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty, c.query == nil, c.fragment == nil, c.user == nil, c.password == nil
        else { return nil }
        tls = scheme == "https"
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        address = ListenAddress(host: bare, port: c.port ?? (tls ? 443 : 80))
        guard (1...65535).contains(address.port) else { return nil }
        path = c.path.isEmpty ? "/" : c.path
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
    }

    /// `scheme://HOST:PORT`, without the path.
    public var base: String { (tls ? "https://" : "http://") + address.description }
    public var description: String { base + (path == "/" ? "" : path) }
}

/// A path from a config file, relative to that file's folder.
func relative(_ path: String, to file: String) -> String {
    if path.hasPrefix("/") { return path }
    let dir = (file as NSString).deletingLastPathComponent
    return dir.isEmpty ? path : "\(dir)/\(path)"
}

/// What an edge does with a `Cookie` on a request it could answer from the cache.
public enum CookiePolicy: String, Sendable, Equatable {
    /// Forward it; cache the response as RFC 9111 and the origin's headers allow (nginx,
    /// Traffic Server).
    case forward
    /// Send the request to the origin and store nothing (Varnish's built-in VCL).
    case pass
    /// Remove it before the origin sees it (the origin then cannot answer per user).
    case strip
}

/// What the cache does with a response that carries `Set-Cookie` (`set_cookie`).
public enum SetCookiePolicy: String, Sendable, CaseIterable {
    /// Stored only when `public` or `s-maxage` says it may be shared (the default).
    case publicOnly = "public-only"
    /// Stored by RFC 9111's rules alone, `Set-Cookie` included: the origin marks a session
    /// `private` (or `no-cache`) itself, as Traffic Server and Squid expect.
    case store
}

/// The memory tier's eviction policy (`eviction`).
public enum Eviction: String, Sendable, CaseIterable {
    /// S3-FIFO with size-aware admission (default).
    case s3fifo
    case lru
    /// W-TinyLFU (Caffeine's), for comparison.
    case wtinylfu
}

/// Asset kinds the pipeline minifies (`minify`).
public enum MinifiedKind: String, Sendable, CaseIterable {
    case html, css, js
}

/// Content codings the pipeline stores variants in (`compress`).
public enum StoredCoding: String, Sendable, CaseIterable {
    case br, zstd, gzip, deflate
}
