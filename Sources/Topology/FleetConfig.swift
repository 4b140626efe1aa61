import Foundation

/// The whole fleet (`edges/fleet.toml`): the origin, the data centers and their edges. It is
/// the one place addresses come from; each edge's own settings stay in its own file.
public struct FleetConfig: Sendable, Equatable {
    public struct Location: Sendable, Equatable {
        public var lat: Double
        public var lon: Double
        public init(lat: Double, lon: Double) {
            self.lat = lat
            self.lon = lon
        }
    }

    public struct DataCenter: Sendable, Equatable {
        public var name: String
        public var location: Location
        public var clientNetworks: [CIDR]
        public var edges: [EdgeConfig]
    }

    /// The director's settings (`[director]` in the fleet file).
    public struct Director: Sendable, Equatable {
        /// The name clients resolve, e.g. `cdn.outpost.test`.
        public var zone = "cdn.outpost.test"
        public var dnsListen = ListenAddress(host: "127.0.0.1", port: 5353)
        public var httpListen = ListenAddress(host: "127.0.0.1", port: 8053)
        /// TTL of A/AAAA answers, seconds: short, so failover reaches clients quickly.
        public var ttl = 5
        /// Seconds between health checks of each edge.
        public var checkInterval = 0.1
        /// Seconds a health check may take.
        public var checkTimeout = 0.25
        /// Consecutive successes to mark an edge up, failures to mark it down.
        public var rise = 2
        public var fall = 2
        /// Where clients of unknown networks are taken to be.
        public var defaultLocation = Location(lat: 50.11, lon: 8.68)
        /// Peers whose X-Forwarded-For the HTTP interface believes.
        public var trustedProxies: [CIDR] = []
        /// How many edges a DNS answer lists.
        public var answerCount = 2
        /// Timeouts and connection caps of the HTTP listener.
        public var limits = ListenerLimits()
        /// DNS over TCP: seconds a connection may stay without a query, and connections at most
        /// (in all and from one address).
        public var dnsTCPIdleTimeout = 10.0
        public var maxDNSTCPConnections = 1_024
        public var maxDNSTCPConnectionsPerClient = 64

        public init() {}
    }

    /// Where the fleet file was.
    public var file: String
    public var origin: OriginURL
    /// The origin's own configuration file, for `outpost up`.
    public var originConfigFile: String?
    public var dataCenters: [DataCenter]
    /// The sites every edge serves (`[[sites]]`); empty: one site, the origin, whatever the host.
    public var sites: [SiteConfig] = []
    public var director = Director()

    public var allEdges: [EdgeConfig] { dataCenters.flatMap(\.edges) }

    public static func load(file: String) throws(ConfigError) -> FleetConfig {
        let s = try ConfigSection.load(file: file)
        try s.rejectUnknownKeys(["origin", "origin_config", "data_centers", "sites", "director"])
        let dir = (file as NSString).deletingLastPathComponent
        func relative(_ p: String) -> String { p.hasPrefix("/") || dir.isEmpty ? p : "\(dir)/\(p)" }

        let originText = try s.requiredString("origin")
        guard let origin = OriginURL(originText) else { throw s.error("origin", "'\(originText)' is not an http:// URL with a host") }
        let sites = try Self.sites(s, origin: origin)
        var dcs: [DataCenter] = []
        var seenEdges: [String: String] = [:]
        var seenListen: [ListenAddress: String] = [:]
        for d in try s.sections("data_centers") {
            try d.rejectUnknownKeys(["name", "location", "client_networks", "edges"])
            var networks: [CIDR] = []
            for n in try d.strings("client_networks") ?? [] {
                guard let c = CIDR(n) else { throw d.error("client_networks", "'\(n)' is not a network in CIDR form (10.1.0.0/16, 2001:db8::/32)") }
                networks.append(c)
            }
            let name = try d.requiredString("name")
            guard !dcs.contains(where: { $0.name == name }) else { throw d.error("name", "data center '\(name)' is defined twice") }
            guard let loc = try d.section("location") else { throw d.error("location", "missing; write location = { lat = 50.1, lon = 8.7 }") }
            try loc.rejectUnknownKeys(["lat", "lon"])
            guard let lat = try loc.double("lat"), (-90...90).contains(lat) else { throw loc.error("lat", "needs a latitude between -90 and 90") }
            guard let lon = try loc.double("lon"), (-180...180).contains(lon) else { throw loc.error("lon", "needs a longitude between -180 and 180") }
            var edges: [EdgeConfig] = []
            for edgeFile in try d.strings("edges") ?? [] {
                var edge: EdgeConfig
                do {
                    edge = try EdgeConfig.load(file: relative(edgeFile))
                } catch {
                    throw error
                }
                guard edge.dataCenter == name else {
                    throw ConfigError(file: relative(edgeFile), line: nil, field: "data_center",
                                      message: "is '\(edge.dataCenter)' but \(file) lists this edge under '\(name)'; make them agree")
                }
                if let other = seenEdges[edge.name] {
                    throw d.error("edges", "edge name '\(edge.name)' is used by both \(other) and \(edgeFile)")
                }
                if let other = seenListen[edge.listen] {
                    throw d.error("edges", "\(edgeFile) listens on \(edge.listen), already used by \(other)")
                }
                seenEdges[edge.name] = edgeFile
                seenListen[edge.listen] = edgeFile
                edge.file = relative(edgeFile)
                edge.sites = sites
                edges.append(edge)
            }
            guard !edges.isEmpty else { throw d.error("edges", "data center '\(name)' lists no edge files") }
            dcs.append(DataCenter(name: name, location: Location(lat: lat, lon: lon),
                                  clientNetworks: networks, edges: edges))
        }
        guard !dcs.isEmpty else { throw s.error("data_centers", "no [[data_centers]] defined; the fleet needs at least one") }
        var fleet = FleetConfig(file: file, origin: origin, originConfigFile: try s.string("origin_config").map(relative), dataCenters: dcs)
        fleet.sites = sites
        if let d = try s.section("director") { fleet.director = try Self.director(d) }
        return fleet
    }

    /// `[[sites]]`: unique names, and no host claimed by two sites (an exact name may sit under
    /// another site's wildcard: the exact one wins).
    static func sites(_ s: ConfigSection, origin: OriginURL) throws(ConfigError) -> [SiteConfig] {
        var sites: [SiteConfig] = []
        var claimed: [String: String] = [:]
        for section in try s.sections("sites") {
            let site = try SiteConfig.parse(section, defaultOrigin: origin)
            guard !sites.contains(where: { $0.name == site.name }) else { throw section.error("name", "site '\(site.name)' is defined twice") }
            for host in site.hosts {
                if let other = claimed[host.description] {
                    throw section.error("hosts", "\(host) is claimed by both '\(other)' and '\(site.name)'; a host selects one site")
                }
                claimed[host.description] = site.name
            }
            sites.append(site)
        }
        return sites
    }

    static func director(_ d: ConfigSection) throws(ConfigError) -> Director {
        try d.rejectUnknownKeys(Set(["zone", "dns_listen", "http_listen", "ttl", "check_interval", "check_timeout", "rise", "fall",
                                 "default_location", "trusted_proxies", "answer_count", "dns_tcp_idle_timeout", "max_dns_tcp_connections",
                                 "max_dns_tcp_connections_per_client"]).union(ListenerLimits.keys))
        var r = Director()
        if let zone = try d.string("zone") {
            let labels = zone.lowercased().split(separator: ".", omittingEmptySubsequences: false)
            guard !zone.isEmpty, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }) else {
                throw d.error("zone", "'\(zone)' is not a DNS name (labels of letters, digits and '-', separated by dots)")
            }
            r.zone = zone.lowercased()
        }
        r.dnsListen = try d.listenAddress("dns_listen") ?? r.dnsListen
        r.httpListen = try d.listenAddress("http_listen") ?? r.httpListen
        r.ttl = try d.integer("ttl") ?? r.ttl
        // RFC 2181 §8: a TTL is at most 2^31 - 1; answers that move with health want minutes at most.
        guard (0...604_800).contains(r.ttl) else { throw d.error("ttl", "must be 0 to 604800 seconds") }
        r.checkInterval = try d.double("check_interval") ?? r.checkInterval
        r.checkTimeout = try d.double("check_timeout") ?? r.checkTimeout
        guard r.checkInterval.isFinite, (0.01...3600).contains(r.checkInterval) else { throw d.error("check_interval", "must be 0.01 to 3600 seconds") }
        guard r.checkTimeout.isFinite, (0.01...60).contains(r.checkTimeout) else { throw d.error("check_timeout", "must be 0.01 to 60 seconds") }
        r.rise = try d.integer("rise") ?? r.rise
        r.fall = try d.integer("fall") ?? r.fall
        guard (1...1000).contains(r.rise) else { throw d.error("rise", "must be 1 to 1000") }
        guard (1...1000).contains(r.fall) else { throw d.error("fall", "must be 1 to 1000") }
        r.answerCount = try d.integer("answer_count") ?? r.answerCount
        guard (1...16).contains(r.answerCount) else { throw d.error("answer_count", "must be 1 to 16") }
        r.limits = try ListenerLimits(section: d)
        if let t = try d.double("dns_tcp_idle_timeout") {
            guard t.isFinite, (0.1...3600).contains(t) else { throw d.error("dns_tcp_idle_timeout", "must be 0.1 to 3600 seconds") }
            r.dnsTCPIdleTimeout = t
        }
        r.maxDNSTCPConnections = try d.integer("max_dns_tcp_connections") ?? r.maxDNSTCPConnections
        guard (1...1_000_000).contains(r.maxDNSTCPConnections) else { throw d.error("max_dns_tcp_connections", "must be 1 to 1000000") }
        r.maxDNSTCPConnectionsPerClient = try d.integer("max_dns_tcp_connections_per_client") ?? r.maxDNSTCPConnectionsPerClient
        guard (1...1_000_000).contains(r.maxDNSTCPConnectionsPerClient) else {
            throw d.error("max_dns_tcp_connections_per_client", "must be 1 to 1000000")
        }
        if let loc = try d.section("default_location") {
            guard let lat = try loc.double("lat"), let lon = try loc.double("lon"), (-90...90).contains(lat), (-180...180).contains(lon) else {
                throw d.error("default_location", "write default_location = { lat = 50.1, lon = 8.7 } (latitude -90 to 90, longitude -180 to 180)")
            }
            r.defaultLocation = Location(lat: lat, lon: lon)
        }
        for p in try d.strings("trusted_proxies") ?? [] {
            guard let c = CIDR(p) else { throw d.error("trusted_proxies", "'\(p)' is not a network in CIDR form") }
            r.trustedProxies.append(c)
        }
        return r
    }
}
