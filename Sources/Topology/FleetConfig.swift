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
        /// The zone's authoritative servers (NS, with glue for names in the zone): every director
        /// of an active-active set. Empty: one, `ns1.<zone>` at `dns_listen`'s address.
        public var nameServers: [NameServer] = []
        /// The SOA serial; nil: derived from the topology, so every director of the fleet gives
        /// the same one, and it changes when the topology does.
        public var serial: UInt32?

        public init() {}
    }

    /// One authoritative server of the zone (`name_servers = [{ name = "ns1", address = "…" }]`).
    public struct NameServer: Sendable, Equatable {
        /// A name in the zone (`ns1`, relative) or outside it (ending in a dot: `ns.example.net.`).
        public var name: String
        public var address: IPAddress?

        public init(name: String, address: IPAddress?) {
            self.name = name
            self.address = address
        }
    }

    /// The SOA serial every director of this fleet answers (RFC 1912 asks for one that changes
    /// with the zone): a hash of what the zone's answers are made of, never 0.
    public var topologySerial: UInt32 {
        if let s = director.serial { return s }
        var text = "\(director.zone) \(director.ttl) \(director.answerCount)\n"
        for ns in director.nameServers { text += "ns \(ns.name) \(ns.address?.description ?? "-")\n" }
        for dc in dataCenters {
            text += "dc \(dc.name) \(dc.location.lat) \(dc.location.lon) \(dc.clientNetworks.map(\.description).joined(separator: ","))\n"
            for e in dc.edges {
                text += "edge \(e.name) \(e.listen) \(e.announcedIPv4?.description ?? "-") \(e.announcedIPv6?.description ?? "-") \(e.weight)\n"
            }
        }
        for site in sites { text += "site \(site.name) \(site.hosts.map(\.description).joined(separator: ","))\n" }
        var h: UInt32 = 0x811c_9dc5
        for b in text.utf8 {
            h ^= UInt32(b)
            h = h &* 0x0100_0193
        }
        return h == 0 ? 1 : h
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
            for entry in try Self.edgeEntries(d) {
                var edge: EdgeConfig
                let source: String
                switch entry {
                case .file(let edgeFile):
                    source = edgeFile
                    edge = try EdgeConfig.load(file: relative(edgeFile))
                    guard edge.dataCenter == name else {
                        throw ConfigError(file: relative(edgeFile), line: nil, field: "data_center",
                                          message: "is '\(edge.dataCenter)' but \(file) lists this edge under '\(name)'; make them agree")
                    }
                    edge.file = relative(edgeFile)
                case .remote(let section):
                    edge = try Self.remoteEdge(section, dataCenter: name)
                    source = "\(section.path) (\(edge.name))"
                }
                if let other = seenEdges[edge.name] {
                    throw d.error("edges", "edge name '\(edge.name)' is used by both \(other) and \(source)")
                }
                if let other = seenListen[edge.listen] {
                    throw d.error("edges", "\(source) listens on \(edge.listen), already used by \(other)")
                }
                seenEdges[edge.name] = source
                seenListen[edge.listen] = source
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

    enum EdgeEntry {
        /// The edge's own settings file, on this host (`outpost up` starts it).
        case file(String)
        /// Addresses only: the edge runs elsewhere with its settings there.
        case remote(ConfigSection)
    }

    /// `edges = ["eu-west-1.toml", { name = "eu-west-2", public = "http://10.0.1.2:8080", … }]`.
    static func edgeEntries(_ d: ConfigSection) throws(ConfigError) -> [EdgeEntry] {
        guard let entry = d.table["edges"] else { return [] }
        guard case .array(let items) = entry.value else { throw d.error("edges", "expected an array of edge files or { name = …, public = … } tables") }
        var out: [EdgeEntry] = []
        for (i, item) in items.enumerated() {
            switch item {
            case .string(let f): out.append(.file(f))
            case .table(let t): out.append(.remote(ConfigSection(table: t, file: d.file, path: "\(d.fieldPath("edges"))[\(i)]")))
            default: throw d.error("edges", "expected an edge file or a { name = …, public = … } table, found \(item.typeName)")
            }
        }
        return out
    }

    static let remoteEdgeKeys: Set<String> = [
        "name", "public", "tls", "control", "control_ca", "control_token_file", "health", "public_ipv4", "public_ipv6", "weight",
    ]

    /// An edge on another host, by its addresses: what the director needs (public address and
    /// health URL) and what the CLI needs (control URL; the token from OUTPOST_CONTROL_TOKEN or
    /// a file on this host).
    static func remoteEdge(_ s: ConfigSection, dataCenter: String) throws(ConfigError) -> EdgeConfig {
        try s.rejectUnknownKeys(remoteEdgeKeys)
        let name = try s.requiredString("name")
        guard EdgeConfig.isValidName(name) else { throw s.error("name", "'\(name)' must be letters, digits, '-' or '_' (it appears in headers)") }
        var e = EdgeConfig(name: name, dataCenter: dataCenter)
        e.remote = true
        func url(_ key: String, tls: Bool?, path: Bool = false) throws(ConfigError) -> EndpointURL? {
            guard let text = try s.string(key) else { return nil }
            let scheme = tls.map { $0 ? "https://" : "http://" } ?? "http:// or https://"
            guard let u = EndpointURL(text), tls.map({ $0 == u.tls }) ?? true, path || u.path == "/" else {
                throw s.error(key, "'\(text)' is not \(scheme)HOST:PORT\(path ? "/PATH" : "")")
            }
            return u
        }
        guard let pub = try url("public", tls: false) else { throw s.error("public", "missing; write public = \"http://ADDRESS:PORT\", the listener clients use") }
        e.listen = pub.address
        e.tlsListen = try url("tls", tls: true)?.address
        if let control = try url("control", tls: nil) {
            e.controlListen = control.address
            e.controlTLS = control.tls
        }
        e.controlCA = try s.string("control_ca").map { relative($0, to: s.file) }
        if let tokenFile = try s.string("control_token_file") {
            // Read when this host has it; a director's host may have none (it needs no token).
            e.controlToken = (try? String(contentsOfFile: relative(tokenFile, to: s.file), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        e.healthURL = try url("health", tls: nil, path: true)
        e.publicIPv4 = try s.string("public_ipv4")
        if let v4 = e.publicIPv4, IPAddress(v4)?.isIPv4 != true { throw s.error("public_ipv4", "'\(v4)' is not an IPv4 address") }
        e.publicIPv6 = try s.string("public_ipv6")
        if let v6 = e.publicIPv6, IPAddress(v6).map({ !$0.isIPv4 }) != true { throw s.error("public_ipv6", "'\(v6)' is not an IPv6 address") }
        guard e.announcedIPv4 != nil || e.announcedIPv6 != nil else {
            throw s.error("public", "'\(pub)' has no IP address for DNS answers; use the address, or set public_ipv4/public_ipv6")
        }
        e.weight = try s.integer("weight") ?? 1
        guard (1...1_000_000).contains(e.weight) else { throw s.error("weight", "must be 1 to 1000000") }
        return e
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
                                 "max_dns_tcp_connections_per_client", "name_servers", "serial"]).union(ListenerLimits.keys))
        var r = Director()
        if let zone = try d.string("zone") {
            let labels = zone.lowercased().split(separator: ".", omittingEmptySubsequences: false)
            guard !zone.isEmpty, zone.utf8.count <= 240, labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else {
                throw d.error("zone", "'\(zone)' is not a DNS name (labels of ASCII letters, digits and '-', separated by dots; 240 characters at most, so names in it fit)")
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
        for ns in try d.sections("name_servers") {
            try ns.rejectUnknownKeys(["name", "address"])
            let name = try ns.requiredString("name").lowercased()
            let labels = (name.hasSuffix(".") ? String(name.dropLast()) : name).split(separator: ".", omittingEmptySubsequences: false)
            guard labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else {
                throw ns.error("name", "'\(name)' is not a DNS name (ns1, or ns.example.net. outside the zone)")
            }
            var address: IPAddress?
            if let a = try ns.string("address") {
                guard let ip = IPAddress(a) else { throw ns.error("address", "'\(a)' is not an IP address") }
                address = ip
            }
            // RFC 1035 §2.3.4: a name is at most 255 octets on the wire (253 characters written).
            let full = name.hasSuffix(".") ? String(name.dropLast()) : "\(name).\(r.zone)"
            guard full.utf8.count <= 253 else { throw ns.error("name", "'\(full)' is longer than a DNS name may be (253 characters)") }
            guard !r.nameServers.contains(where: { $0.name == name }) else { throw ns.error("name", "'\(name)' is listed twice") }
            r.nameServers.append(NameServer(name: name, address: address))
        }
        if let serial = try d.integer("serial") {
            guard (1...Int(UInt32.max)).contains(serial) else { throw d.error("serial", "must be 1 to 4294967295") }
            r.serial = UInt32(serial)
        }
        for p in try d.strings("trusted_proxies") ?? [] {
            guard let c = CIDR(p) else { throw d.error("trusted_proxies", "'\(p)' is not a network in CIDR form") }
            r.trustedProxies.append(c)
        }
        return r
    }
}
