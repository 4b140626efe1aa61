import Foundation
import Topology

/// An edge as routing sees it.
public struct RoutingEdge: Sendable, Equatable {
    public var name: String
    public var dataCenter: String
    public var ipv4: IPAddress?
    public var ipv6: IPAddress?
    public var weight: Int
    /// Where HTTP redirects send clients (scheme://host:port).
    public var publicURL: String

    public init(name: String, dataCenter: String, ipv4: IPAddress?, ipv6: IPAddress?, weight: Int, publicURL: String) {
        self.name = name
        self.dataCenter = dataCenter
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.weight = weight
        self.publicURL = publicURL
    }
}

public struct RoutingDataCenter: Sendable, Equatable {
    public var name: String
    public var location: FleetConfig.Location
    public var networks: [CIDR]
    public var edges: [RoutingEdge]

    public init(name: String, location: FleetConfig.Location, networks: [CIDR], edges: [RoutingEdge]) {
        self.name = name
        self.location = location
        self.networks = networks
        self.edges = edges
    }
}

/// What routing decided for one client, and why.
public struct RouteDecision: Sendable, Equatable {
    /// The client address or subnet the decision was made for.
    public var client: String
    /// The data center whose client network matched, if any.
    public var matchedDataCenter: String?
    public var location: FleetConfig.Location
    /// The data center chosen.
    public var dataCenter: String
    /// Its healthy edges, best first for this client (stable for the same subnet).
    public var edges: [RoutingEdge]
    /// No edge anywhere was healthy: every edge is answered.
    public var failOpen: Bool
    /// RFC 7871 scope: how many leading bits of the client's address the answer depends on.
    public var scopePrefix: Int
    public var reason: String

    public init(client: String, matchedDataCenter: String?, location: FleetConfig.Location, dataCenter: String, edges: [RoutingEdge],
                failOpen: Bool, scopePrefix: Int, reason: String) {
        self.client = client
        self.matchedDataCenter = matchedDataCenter
        self.location = location
        self.dataCenter = dataCenter
        self.edges = edges
        self.failOpen = failOpen
        self.scopePrefix = scopePrefix
        self.reason = reason
    }
}

/// Client → location → data centers by great-circle distance → the first with healthy edges →
/// those edges, weighted and stable per client subnet. Pure: health comes in as a set.
public struct Router: Sendable {
    public let dataCenters: [RoutingDataCenter]
    public let defaultLocation: FleetConfig.Location
    /// Data centers by distance, from each data center's location and from the default one:
    /// computed once, since the locations a client can have are exactly these.
    private let orderFrom: [String: [RoutingDataCenter]]
    private let orderFromDefault: [RoutingDataCenter]

    public init(dataCenters: [RoutingDataCenter], defaultLocation: FleetConfig.Location) {
        self.dataCenters = dataCenters
        self.defaultLocation = defaultLocation
        func order(_ from: FleetConfig.Location) -> [RoutingDataCenter] {
            dataCenters.sorted {
                let a = Self.distanceKm(from, $0.location), b = Self.distanceKm(from, $1.location)
                return a != b ? a < b : $0.name < $1.name
            }
        }
        orderFrom = Dictionary(dataCenters.map { ($0.name, order($0.location)) }, uniquingKeysWith: { a, _ in a })
        orderFromDefault = order(defaultLocation)
    }

    public init(fleet: FleetConfig) {
        self.init(
            dataCenters: fleet.dataCenters.map { dc in
                RoutingDataCenter(name: dc.name, location: dc.location, networks: dc.clientNetworks, edges: dc.edges.map {
                    RoutingEdge(name: $0.name, dataCenter: dc.name, ipv4: $0.announcedIPv4, ipv6: $0.announcedIPv6, weight: $0.weight,
                                publicURL: $0.listen.httpURL)
                })
            },
            defaultLocation: fleet.director.defaultLocation
        )
    }

    /// Routes a client known by its address, or by an EDNS Client Subnet (which wins).
    public func route(client: IPAddress?, subnet: CIDR? = nil, healthy: Set<String>) -> RouteDecision {
        // The subnet the answer is for: ECS as given, else the client's /24 (IPv4) or /56 (IPv6).
        let key: CIDR? = subnet ?? client.map { CIDR(network: $0, prefix: $0.isIPv4 ? 24 : 56) }
        let address = subnet?.network ?? client
        var matched: (dc: RoutingDataCenter, network: CIDR)?
        if let address {
            for dc in dataCenters {
                for n in dc.networks where n.contains(address) && n.prefix >= (matched?.network.prefix ?? -1) {
                    matched = (dc, n)
                }
            }
        }
        let location = matched?.dc.location ?? defaultLocation
        let ordered = matched.flatMap { orderFrom[$0.dc.name] } ?? orderFromDefault
        let scope = key.map { min($0.prefix, $0.network.isIPv4 ? 24 : 56) } ?? 0
        let clientText = key?.description ?? "unknown"
        let from = matched.map { "client network \($0.network) of \($0.dc.name)" } ?? "default location"
        for (i, dc) in ordered.enumerated() {
            let up = dc.edges.filter { healthy.contains($0.name) }
            guard !up.isEmpty else { continue }
            let skipped = ordered[..<i].map(\.name)
            let why = skipped.isEmpty
                ? "nearest data center to \(from)"
                : "nearest data center with a healthy edge to \(from); \(skipped.joined(separator: ", ")) down"
            return RouteDecision(client: clientText, matchedDataCenter: matched?.dc.name, location: location, dataCenter: dc.name,
                                 edges: Self.rank(up, for: key), failOpen: false, scopePrefix: scope, reason: why)
        }
        // Nothing is healthy: answering nothing would take the whole CDN down, so answer all.
        let all = ordered.flatMap(\.edges)
        return RouteDecision(client: clientText, matchedDataCenter: matched?.dc.name, location: location, dataCenter: ordered.first?.name ?? "",
                             edges: all, failOpen: true, scopePrefix: scope, reason: "no edge is healthy anywhere: failing open, answering every edge")
    }

    /// Weighted rendezvous hashing: each client subnet gets a stable order, edges get clients in
    /// proportion to their weight, and losing one edge moves only that edge's clients.
    static func rank(_ edges: [RoutingEdge], for key: CIDR?) -> [RoutingEdge] {
        guard let key else { return edges }
        let seed = key.network.bytes + [UInt8(key.prefix)]
        return edges.map { e -> (RoutingEdge, Double) in
            let h = fnv1a(seed + Array(e.name.utf8))
            let unit = (Double(h >> 11) + 0.5) / Double(1 << 53)  // in (0, 1)
            return (e, -Double(e.weight) / log(unit))
        }
        .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.name < $1.0.name }
        .map(\.0)
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        // Finalise (splitmix64) so that names differing in the last byte spread well.
        h ^= h >> 30
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h = h &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }

    /// Great-circle distance (haversine), kilometres.
    public static func distanceKm(_ a: FleetConfig.Location, _ b: FleetConfig.Location) -> Double {
        let r = 6371.0
        let dLat = (b.lat - a.lat) * .pi / 180, dLon = (b.lon - a.lon) * .pi / 180
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.lat * .pi / 180) * cos(b.lat * .pi / 180) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * r * asin(min(1, sqrt(h)))
    }
}
