/// One site the fleet serves (`[[sites]]` in the fleet file): the hostnames that select it and
/// the origin its misses go to. Every edge of the fleet serves every site.
public struct SiteConfig: Sendable, Equatable {
    public var name: String
    public var hosts: [HostPattern]
    public var origin: OriginURL
    /// The `Host` sent to the origin; nil sends the client's (and then the client's host is part
    /// of the cache key, as the origin may answer each host differently).
    public var originHost: String?
    /// What this site sets for itself over each edge's settings (cache rules, assets, pushes,
    /// cookies).
    public var settings = SiteSettings()
    /// Its certificate chain and key (PEM files), chosen by SNI on the TLS listener; nil: the
    /// edge's own.
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(name: String, hosts: [HostPattern], origin: OriginURL, originHost: String? = nil, settings: SiteSettings = SiteSettings()) {
        self.name = name
        self.hosts = hosts
        self.origin = origin
        self.originHost = originHost
        self.settings = settings
    }

    /// An edge's settings as they apply to this site's requests.
    public func settings(over edge: EdgeConfig) -> EdgeConfig { settings.applied(to: edge) }

    public func serves(_ host: String) -> Bool { hosts.contains { $0.matches(host) } }

    /// Which of `sites` a `Host` value or a TLS server name selects (normalised first); nil when
    /// it is malformed or no site serves it.
    public static func index(in sites: [SiteConfig], name: String) -> Int? {
        HostPattern.normalise(name).flatMap { index(in: sites, host: $0) }
    }

    /// Which of `sites` a normalised host selects: an exact name first, then the longest
    /// wildcard; nil when none serves it.
    public static func index(in sites: [SiteConfig], host: String) -> Int? {
        if let i = sites.firstIndex(where: { $0.hosts.contains { !$0.isWildcard && $0.matches(host) } }) { return i }
        var best: (index: Int, length: Int)?
        for (i, site) in sites.enumerated() {
            for p in site.hosts where p.isWildcard && p.matches(host) && p.name.utf8.count > (best?.length ?? 0) {
                best = (i, p.name.utf8.count)
            }
        }
        return best?.index
    }

    static func parse(_ s: ConfigSection, defaultOrigin: OriginURL) throws(ConfigError) -> SiteConfig {
        try s.rejectUnknownKeys(Set(["name", "hosts", "origin", "origin_host", "tls_certificate", "tls_key"]).union(SiteSettings.keys))
        let name = try s.requiredString("name")
        guard (1...63).contains(name.utf8.count), name.utf8.allSatisfy({ isNameByte($0) }) else {
            throw s.error("name", "'\(name)' is not a site name: use 1 to 63 lowercase letters, digits, '-' or '_'")
        }
        var hosts: [HostPattern] = []
        for text in try s.strings("hosts") ?? [] {
            guard let pattern = HostPattern(text) else {
                throw s.error("hosts", "'\(text)' is not a hostname or a wildcard such as *.docs.example (no port, no scheme)")
            }
            hosts.append(pattern)
        }
        guard !hosts.isEmpty else { throw s.error("hosts", "site '\(name)' lists no hosts; write hosts = [\"www.example.com\"]") }
        var origin = defaultOrigin
        if let text = try s.string("origin") {
            guard let o = OriginURL(text) else { throw s.error("origin", "'\(text)' is not an http:// URL with a host and no path") }
            origin = o
        }
        var originHost: String?
        if let text = try s.string("origin_host") {
            guard HostPattern.isAuthority(text) else { throw s.error("origin_host", "'\(text)' is not a host or host:port") }
            originHost = text
        }
        var site = SiteConfig(name: name, hosts: hosts, origin: origin, originHost: originHost, settings: try SiteSettings(section: s))
        site.tlsCertificate = try s.string("tls_certificate").map { relative($0, to: s.file) }
        site.tlsKey = try s.string("tls_key").map { relative($0, to: s.file) }
        guard (site.tlsCertificate == nil) == (site.tlsKey == nil) else {
            throw s.error(site.tlsCertificate == nil ? "tls_key" : "tls_certificate", "set both tls_certificate and tls_key for site '\(name)', or neither (the edge's certificate is then used)")
        }
        return site
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }
}

/// A hostname a site answers for: exact (`www.example.com`) or a wildcard (`*.docs.example`,
/// one or more labels in front of `docs.example`, not `docs.example` itself). Case-insensitive.
public struct HostPattern: Sendable, Equatable, CustomStringConvertible {
    /// Lowercased; for a wildcard, the suffix with its leading dot (`.docs.example`).
    let name: String
    public let isWildcard: Bool

    public init?(_ text: String) {
        var t = text.lowercased()
        if t.hasSuffix(".") { t.removeLast() }
        if t.hasPrefix("*.") {
            let rest = String(t.dropFirst(2))
            guard Self.isHostname(rest) else { return nil }
            name = "." + rest
            isWildcard = true
        } else {
            guard Self.isHostname(t) else { return nil }
            name = t
            isWildcard = false
        }
    }

    public var description: String { isWildcard ? "*" + name : name }

    /// `host`: already normalised by `normalise` (lowercase, no port, no trailing dot).
    public func matches(_ host: String) -> Bool {
        isWildcard ? host.utf8.count > name.utf8.count && host.hasSuffix(name) : host == name
    }

    /// The host part of a `Host` header value, lowercased, without port or trailing dot; nil
    /// when it is not a hostname or an address.
    public static func normalise(_ value: String) -> String? { split(value)?.host }

    /// The normalised host and the port (1–65535, nil when absent) of a `Host` value; nil when
    /// either is malformed.
    public static func split(_ value: String) -> (host: String, port: Int?)? {
        guard let host = normaliseHost(value) else { return nil }
        // The port: digits after the last ':' outside brackets.
        let afterBracket = value.lastIndex(of: "]").map { value[value.index(after: $0)...] } ?? Substring(value)
        guard let colon = afterBracket.lastIndex(of: ":") else { return (host, nil) }
        let digits = afterBracket[afterBracket.index(after: colon)...]
        if digits.isEmpty { return (host, nil) }
        guard digits.utf8.count <= 5, let port = Int(digits), (1...65535).contains(port) else { return nil }
        return (host, port)
    }

    private static func normaliseHost(_ value: String) -> String? {
        var v = Substring(value.lowercased())
        if v.hasPrefix("[") {
            guard let close = v.firstIndex(of: "]") else { return nil }
            let rest = v[v.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isASCIIDigit)) else { return nil }
            let inside = v[v.index(after: v.startIndex)..<close]
            guard (2...45).contains(inside.utf8.count), inside.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }) else { return nil }
            return String(v[...close])
        }
        if let colon = v.lastIndex(of: ":") {
            guard v[v.index(after: colon)...].allSatisfy(\.isASCIIDigit) else { return nil }
            v = v[..<colon]
        }
        if v.hasSuffix(".") { v = v.dropLast() }
        let host = String(v)
        return isHostname(host) ? host : nil
    }

    /// Letters, digits and '-' in dot-separated labels of 1 to 63 bytes, 253 bytes at most
    /// (IPv4 literals pass too).
    static func isHostname(_ s: String) -> Bool {
        guard (1...253).contains(s.utf8.count) else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { b in
                (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-")
            }
        }
    }

    /// A `host` or `host:port` fit for a Host header.
    static func isAuthority(_ s: String) -> Bool {
        guard let host = normalise(s) else { return false }
        return !host.isEmpty
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
