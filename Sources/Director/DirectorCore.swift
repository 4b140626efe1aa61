import Foundation
import HTTPCaching
import HTTPServer
import Logging
import Synchronization
import Topology

/// What the DNS and HTTP interfaces share: the routing table, the answerer and the health
/// snapshot. Every method is a pure function of its input and the current health.
public final class DirectorCore: Sendable {
    public let fleet: FleetConfig
    public let router: Router
    public let answerer: DNSAnswerer
    public let monitor: HealthMonitor
    public let stats: FleetStats
    /// Connection counters of the HTTP listener and of DNS over TCP (in /status.json).
    public let httpListener = ListenerStats()
    public let dnsTCPListener = ListenerStats()
    let log: Logger
    let clock: @Sendable () -> Double

    init(fleet: FleetConfig, monitor: HealthMonitor, stats: FleetStats, clock: @escaping @Sendable () -> Double, log: Logger) {
        self.fleet = fleet
        self.router = Router(fleet: fleet)
        self.monitor = monitor
        self.stats = stats
        self.clock = clock
        self.log = log
        answerer = DNSAnswerer(
            zone: fleet.director.zone, ttl: fleet.director.ttl, answerCount: fleet.director.answerCount,
            nameServers: fleet.director.nameServers.isEmpty
                ? [FleetConfig.NameServer(name: "ns1", address: IPAddress(fleet.director.dnsListen.host))] : fleet.director.nameServers,
            serial: fleet.topologySerial, sites: fleet.sites
        )
    }

    /// The site a hostname belongs to (nil: none, or the fleet has no `[[sites]]`).
    public func site(host: String) -> String? {
        SiteConfig.index(in: fleet.sites, name: host).map { fleet.sites[$0].name }
    }

    public func route(client: IPAddress?, subnet: CIDR?) -> RouteDecision {
        let d = router.route(client: client, subnet: subnet, healthy: monitor.healthy)
        if d.failOpen {
            // Loud, but once every 10 s rather than once per query.
            let now = clock()
            let due = lastFailOpenLog.withLock { last in
                guard now - last >= 10 else { return false }
                last = now
                return true
            }
            if due { log.critical("NO EDGE IS HEALTHY: failing open, answering all \(d.edges.count) edges. Check the edges and the director's health checks (/status).") }
        }
        return d
    }

    private let lastFailOpenLog = Mutex(-Double.infinity)

    func answerDNS(_ query: [UInt8], from source: IPAddress?, transport: DNSAnswerer.Transport) -> [UInt8]? {
        answerer.respond(to: query, from: source, transport: transport) { client, subnet in route(client: client, subnet: subnet) }
    }
}
