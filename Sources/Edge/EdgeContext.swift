import Logging
import Synchronization
import NIOHTTP1
import CacheStore
import Topology

/// What every part of one edge shares: its settings, store, collapsing, origin client, clock
/// and log. Immutable references only, so it is freely shared across event loops.
struct EdgeContext: Sendable {
    let config: EdgeConfig
    let store: MemoryStore
    /// The disk tier under `store`, when `disk_cache` is set.
    let disk: DiskTier?
    let coordinator: FetchCoordinator
    let origin: any OriginClient
    let stats: EdgeStats
    let accessLog: AccessLog?
    let clock: @Sendable () -> Double
    /// The operator's log (swift-log; the process's handler prints its label, the edge's name).
    let logger: Logger
    /// This edge's `Via` entry.
    let via: String
    /// Per-client request limit, when `rate_limit` is set.
    let rateLimiter: ClientRateLimiter?
    /// Told to stop and draining: the health check says so.
    let draining = Flag()

    /// One per `[[sites]]`, in their order; empty when the edge has none.
    let sites: [SitePolicy]
    /// The edge's own settings: the one site of an edge without `[[sites]]`, and what answers
    /// requests no site takes (421, CONNECT, denied clients).
    let edgeSite: SitePolicy
    /// `scheme://authority` of the origin, as every key on this edge begins.
    let keyOrigin: CacheKey.Origin
    /// Where a request goes when the edge has no `[[sites]]`, whatever its host.
    let defaultRoute: Route
    /// Every host this edge serves, for a 421's message (joined once).
    let servedHosts: String

    init(
        config: EdgeConfig, store: MemoryStore, disk: DiskTier? = nil, edgeSite: SitePolicy, sites: [SitePolicy], coordinator: FetchCoordinator, origin: any OriginClient,
        stats: EdgeStats, accessLog: AccessLog?, clock: @escaping @Sendable () -> Double, logger: Logger,
        via: String, rateLimiter: ClientRateLimiter?
    ) {
        self.config = config
        self.store = store
        self.disk = disk
        self.edgeSite = edgeSite
        self.sites = sites
        self.coordinator = coordinator
        self.origin = origin
        self.stats = stats
        self.accessLog = accessLog
        self.clock = clock
        self.logger = logger
        self.via = via
        self.rateLimiter = rateLimiter
        keyOrigin = CacheKey.Origin(scheme: config.origin.scheme, authority: config.origin.authority)
        defaultRoute = Route(site: nil, keyOrigin: keyOrigin, origin: config.origin.description, originHost: nil, policy: edgeSite)
        servedHosts = config.sites.flatMap { $0.hosts.map(\.description) }.joined(separator: ", ")
    }

    /// The site pushes, manifests and purges of the control API address by name; nil (no
    /// name) is the first site, or the edge's only one. nil when no site has that name.
    func site(named name: String?) -> SitePolicy? {
        guard let name else { return sites.first ?? edgeSite }
        return sites.first { $0.name == name }
    }

    /// Every store of pushed objects on this edge (one per site).
    var allPushes: [PushStore] { sitePushes.compactMap { $0 } }
    /// Each site's pushed objects, in `[[sites]]` order (the one default site's without sites).
    var sitePushes: [PushStore?] { sites.isEmpty ? [edgeSite.pushes] : sites.map(\.pushes) }

    func log(_ line: String, _ level: Logger.Level = .info) { logger.log(level: level, "\(line)") }

    /// The cache key of an origin-form target on this edge's origin, after the operator's key
    /// rules (ignored, dropped or sorted query parameters).
    func key(_ target: String, _ route: Route) -> CacheKey {
        let rules = route.policy.config.cacheRules
        let keyed = rules.isEmpty ? target : (rules.rule(for: target)?.keyTarget(target) ?? target)
        return CacheKey(origin: route.keyOrigin, pathAndQuery: keyed)
    }

    /// The site a request's `Host` selects, as the route its lookups and fetches take; nil: this
    /// edge serves no such host (421).
    func route(_ request: HTTPRequestHead) -> Route? {
        guard !config.sites.isEmpty else { return defaultRoute }
        guard let authority = Self.requestAuthority(request), let (host, port) = HostPattern.split(authority) else { return nil }
        // The host the origin is asked for, and keyed by: normalised, with a port only when it
        // is not the default one, so spellings of one host share one key.
        let asked = port.map { $0 == 80 || $0 == 443 ? host : "\(host):\($0)" } ?? host
        return SiteConfig.index(in: config.sites, host: host).map { Route(config.sites[$0], policy: sites[$0], host: asked) }
    }

    /// The authority a request names: an absolute-form target's (RFC 9112 §3.2.2: it wins over
    /// Host), else its Host.
    static func requestAuthority(_ request: HTTPRequestHead) -> String? {
        let uri = request.uri.utf8
        for scheme in ["http://", "https://"] where uri.count > scheme.utf8.count
            && zip(uri, scheme.utf8).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) {
            return String(request.uri.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" })
        }
        return request.headers.first(name: "host")
    }

}

/// Where one request goes: its site, how its keys begin and the origin its misses ask.
struct Route: Sendable {
    /// nil: the edge has no `[[sites]]`.
    let site: String?
    let keyOrigin: CacheKey.Origin
    /// `scheme://authority` of the origin.
    let origin: String
    /// The `Host` the origin request carries; nil: the origin URL's.
    let originHost: String?
    /// The site's settings, pipeline and pushed objects.
    let policy: SitePolicy
    /// Its position in `[[sites]]`, for the per-site counters.
    var siteIndex: Int? { policy.index }

    init(site: String?, keyOrigin: CacheKey.Origin, origin: String, originHost: String?, policy: SitePolicy) {
        self.site = site
        self.keyOrigin = keyOrigin
        self.origin = origin
        self.originHost = originHost
        self.policy = policy
    }

    /// A site's route for a client's host (normalised). Keys begin with the site's name, then
    /// the host the origin is asked for: the client's unless the site sets `origin_host`.
    init(_ site: SiteConfig, policy: SitePolicy, host: String) {
        let asked = site.originHost ?? host
        self.init(site: site.name, keyOrigin: CacheKey.Origin(site: site.name, scheme: site.origin.scheme, authority: asked),
                  origin: site.origin.description, originHost: asked, policy: policy)
    }
}

/// A switch set once, read from any thread.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
