import Topology

/// The director's DNS logic: one query's bytes in, the response's bytes out (nil: drop it).
/// Authoritative for one zone; routing decides the A/AAAA answers. Pure.
public struct DNSAnswerer: Sendable {
    public var zone: DNSName
    public var ttl: UInt32
    public var answerCount: Int
    /// The zone's authoritative servers, in NS answers (the first is the SOA's primary); those
    /// inside the zone get their address records here (glue).
    public var nameServers: [NameServer]
    /// Serial of the SOA: the same on every director of a fleet (see `FleetConfig.topologySerial`).
    public var serial: UInt32

    public struct NameServer: Sendable {
        public var name: DNSName
        public var address: IPAddress?

        public init(name: DNSName, address: IPAddress?) {
            self.name = name
            self.address = address
        }
    }
    /// The names in the zone that get edges: the apex, `www`, and every site's hostname that
    /// lies in the zone (exact, or any name under a wildcard's suffix), relative and folded.
    var exactNames: Set<[String]> = [[], ["www"]]
    var wildcardSuffixes: [[String]] = []

    public init(zone: String, ttl: Int, answerCount: Int, nameServers: [FleetConfig.NameServer], serial: UInt32, sites: [SiteConfig] = []) {
        self.zone = DNSName(zone)
        self.ttl = UInt32(clamping: ttl)
        self.answerCount = answerCount
        let zoneName = self.zone
        self.nameServers = nameServers.map { ns in
            // `ns1` is relative to the zone; `ns.example.net.` is absolute.
            let name = ns.name.hasSuffix(".") ? DNSName(String(ns.name.dropLast())) : DNSName(labels: DNSName(ns.name).labels + zoneName.labels)
            return NameServer(name: name, address: ns.address)
        }
        if self.nameServers.isEmpty { self.nameServers = [NameServer(name: DNSName(labels: ["ns1"] + zoneName.labels), address: nil)] }
        self.serial = serial
        let zoneLabels = self.zone.folded
        for pattern in sites.flatMap(\.hosts) {
            let text = pattern.description
            let labels = DNSName(pattern.isWildcard ? String(text.dropFirst(2)) : text).folded
            // A wildcard above the zone (`*.example` for `cdn.example`) covers every name in it.
            if pattern.isWildcard, labels.count < zoneLabels.count, Array(zoneLabels.suffix(labels.count)) == labels {
                wildcardSuffixes.append([])
                continue
            }
            guard labels.count >= zoneLabels.count, Array(labels.suffix(zoneLabels.count)) == zoneLabels else { continue }
            let relative = Array(labels.dropLast(zoneLabels.count))
            if pattern.isWildcard { wildcardSuffixes.append(relative) } else { exactNames.insert(relative) }
        }
    }

    /// Whether names the edges serve lie under a name that is not one itself (`docs` under
    /// `*.docs`, `b` under `a.b`): it exists, with no records of its own (RFC 8020: an
    /// NXDOMAIN would tell a resolver that minimises its queries that nothing lies below).
    func hasNamesBelow(_ relative: [String]) -> Bool {
        exactNames.contains { $0.count > relative.count && Array($0.suffix(relative.count)) == relative }
            || wildcardSuffixes.contains { $0.count >= relative.count && Array($0.suffix(relative.count)) == relative }
    }

    /// Whether a name (relative to the zone, folded) is one the edges serve.
    func servesEdges(_ relative: [String]) -> Bool {
        exactNames.contains(relative) || wildcardSuffixes.contains { relative.count > $0.count && Array(relative.suffix($0.count)) == $0 }
    }

    public enum Transport: Sendable { case udp, tcp }

    /// The largest UDP answer this server sends, and advertises.
    public static let udpPayloadSize = 1232

    /// Answers `query` from `source`. `route` is called at most once, with the client address
    /// and ECS subnet.
    public func respond(
        to query: [UInt8], from source: IPAddress?, transport: Transport,
        route: (IPAddress?, CIDR?) -> RouteDecision
    ) -> [UInt8]? {
        guard let (first, limit) = answer(to: query, from: source, transport: transport, route: route) else { return nil }
        var r = first
        // Every answer, errors included, fits its transport (RFC 1035 §4.2.1, RFC 6891 §7):
        // when it does not, it says it is truncated and the client asks again over TCP.
        var bytes = r.encode()
        if bytes.count > limit {
            r.truncated = true
            r.answers = []
            r.authority = []
            r.additional = []
            bytes = r.encode()
            if bytes.count > limit {
                r.questions = []
                bytes = r.encode()
            }
        }
        return bytes
    }

    /// The largest answer for this transport and query: 1232 bytes over UDP (DNS flag day
    /// 2020: no IP fragmentation), or less when the query says so, never less than 512 (RFC
    /// 6891 §6.2.5); 512 without EDNS; 65,535 over TCP.
    static func limit(transport: Transport, query: DNSMessage?) -> Int {
        guard transport == .udp else { return 65_535 }
        return query?.edns.map { max(512, min(udpPayloadSize, Int($0.udpPayloadSize))) } ?? 512
    }

    private func answer(
        to query: [UInt8], from source: IPAddress?, transport: Transport,
        route: (IPAddress?, CIDR?) -> RouteDecision
    ) -> (DNSMessage, Int)? {
        // Never answer an answer (reflection loops), and do not spend a parse on one.
        if query.count >= 3, query[2] & 0x80 != 0 { return nil }
        let q: DNSMessage
        do {
            q = try DNSMessage.parse(query)
        } catch {
            switch error {
            case .noHeader:
                return nil
            case .malformed(let id, _):
                var m = DNSMessage()
                m.id = id
                m.isResponse = true
                m.rcode = DNSMessage.RCode.formErr
                return (m, Self.limit(transport: transport, query: nil))
            }
        }
        var r = DNSMessage()
        r.id = q.id
        r.isResponse = true
        r.opcode = q.opcode
        r.recursionDesired = q.recursionDesired
        r.questions = q.questions
        if q.edns != nil { r.edns = EDNS(udpPayloadSize: UInt16(Self.udpPayloadSize)) }
        guard q.opcode == 0 else {
            r.rcode = DNSMessage.RCode.notImp
            return (r, Self.limit(transport: transport, query: q))
        }
        guard q.questions.count == 1, let question = q.questions.first else {
            r.rcode = DNSMessage.RCode.formErr
            return (r, Self.limit(transport: transport, query: q))
        }
        // RFC 6891 §6.1.3: an EDNS version this server does not implement gets BADVERS, with
        // the version it does (0).
        if let e = q.edns, e.version != 0 {
            r.rcode = 0
            r.edns?.extendedRCode = DNSMessage.RCode.badVersExtended
            return (r, Self.limit(transport: transport, query: q))
        }
        // RFC 7871 §7.1.1: a query's ECS scope must be 0.
        if let e = q.edns, (e.clientSubnet?.scopePrefix ?? 0) != 0 {
            r.rcode = DNSMessage.RCode.formErr
            return (r, Self.limit(transport: transport, query: q))
        }
        guard question.qclass == 1 || question.qclass == 255, question.name.isWithin(zone) else {
            r.rcode = DNSMessage.RCode.refused
            return (r, Self.limit(transport: transport, query: q))
        }
        r.authoritative = true
        let relative = question.name.folded.dropLast(zone.labels.count)
        let soa = DNSRecord(name: zone, ttl: ttl, data: .soa(
            mname: nameServers[0].name, rname: DNSName(labels: ["hostmaster"] + zone.labels),
            serial: serial, refresh: 3600, retry: 600, expire: 86_400, minimum: ttl))
        let t = question.type
        let server = nameServers.first { $0.name.isWithin(zone) && Array($0.name.folded.dropLast(zone.labels.count)) == Array(relative) }
        switch Array(relative) {
        case _ where server != nil:
            let ns = server?.address
            if (t == DNSMessage.RRType.a || t == DNSMessage.RRType.any), let ns, ns.isIPv4 {
                r.answers = [DNSRecord(name: question.name, ttl: ttl, data: .a(ns))]
            } else if (t == DNSMessage.RRType.aaaa || t == DNSMessage.RRType.any), let ns, !ns.isIPv4 {
                r.answers = [DNSRecord(name: question.name, ttl: ttl, data: .aaaa(ns))]
            } else {
                r.authority = [soa]
            }
        case let name where servesEdges(name):
            if relative.isEmpty && t == DNSMessage.RRType.soa {
                r.answers = [soa]
            } else if relative.isEmpty && t == DNSMessage.RRType.ns {
                r.answers = nameServers.map { DNSRecord(name: zone, ttl: ttl, data: .ns($0.name)) }
                // Glue: the addresses of the servers named inside the zone.
                r.additional = nameServers.compactMap { ns in
                    guard let a = ns.address, ns.name.isWithin(zone) else { return nil }
                    return DNSRecord(name: ns.name, ttl: ttl, data: a.isIPv4 ? .a(a) : .aaaa(a))
                }
            } else if t == DNSMessage.RRType.a || t == DNSMessage.RRType.aaaa || t == DNSMessage.RRType.any {
                let decision = route(source, q.edns?.clientSubnet?.subnet)
                let want6 = t == DNSMessage.RRType.aaaa
                let chosen = decision.edges.compactMap { want6 ? $0.ipv6 : $0.ipv4 }
                let count = decision.failOpen ? chosen.count : answerCount
                r.answers = chosen.prefix(count).map { DNSRecord(name: question.name, ttl: ttl, data: want6 ? .aaaa($0) : .a($0)) }
                if let cs = q.edns?.clientSubnet {
                    // RFC 7871 §7.2.1: echo the option with the scope the answer depends on.
                    r.edns?.clientSubnet = ClientSubnet(sourcePrefix: cs.sourcePrefix, scopePrefix: UInt8(clamping: min(Int(cs.sourcePrefix), decision.scopePrefix)), address: cs.address)
                }
            }
            if r.answers.isEmpty { r.authority = [soa] }  // NODATA
        case let name where hasNamesBelow(name):
            r.authority = [soa]  // NODATA
        default:
            r.rcode = DNSMessage.RCode.nxDomain
            r.authority = [soa]
        }
        return (r, Self.limit(transport: transport, query: q))
    }
}
