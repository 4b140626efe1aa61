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
        public var clientNetworks: [String]
        public var edges: [EdgeConfig]
    }

    /// Where the fleet file was.
    public var file: String
    public var origin: OriginURL
    /// The origin's own configuration file, for `outpost up`.
    public var originConfigFile: String?
    public var dataCenters: [DataCenter]

    public var allEdges: [EdgeConfig] { dataCenters.flatMap(\.edges) }

    public static func load(file: String) throws(ConfigError) -> FleetConfig {
        let s = try ConfigSection.load(file: file)
        try s.rejectUnknownKeys(["origin", "origin_config", "data_centers"])
        let dir = (file as NSString).deletingLastPathComponent
        func relative(_ p: String) -> String { p.hasPrefix("/") || dir.isEmpty ? p : "\(dir)/\(p)" }

        let originText = try s.requiredString("origin")
        guard let origin = OriginURL(originText) else { throw s.error("origin", "'\(originText)' is not an http:// URL with a host") }
        var dcs: [DataCenter] = []
        var seenEdges: [String: String] = [:]
        var seenListen: [ListenAddress: String] = [:]
        for d in try s.sections("data_centers") {
            try d.rejectUnknownKeys(["name", "location", "client_networks", "edges"])
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
                edges.append(edge)
            }
            guard !edges.isEmpty else { throw d.error("edges", "data center '\(name)' lists no edge files") }
            dcs.append(DataCenter(name: name, location: Location(lat: lat, lon: lon),
                                  clientNetworks: try d.strings("client_networks") ?? [], edges: edges))
        }
        guard !dcs.isEmpty else { throw s.error("data_centers", "no [[data_centers]] defined; the fleet needs at least one") }
        return FleetConfig(file: file, origin: origin, originConfigFile: try s.string("origin_config").map(relative), dataCenters: dcs)
    }
}
