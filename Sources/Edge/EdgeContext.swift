import CacheStore
import Topology

/// What every part of one edge shares: its settings, store, collapsing, origin client, clock
/// and log. Immutable references only, so it is freely shared across event loops.
struct EdgeContext: Sendable {
    let config: EdgeConfig
    let store: MemoryStore
    /// Pushed objects, when the control API is on.
    let pushes: PushStore?
    let coordinator: FetchCoordinator
    let origin: any OriginClient
    let stats: EdgeStats
    let assets: AssetTransform
    let accessLog: AccessLog?
    let clock: @Sendable () -> Double
    let logger: @Sendable (String) -> Void
    /// This edge's `Via` entry.
    let via: String
    /// Per-client request limit, when `rate_limit` is set.
    let rateLimiter: ClientRateLimiter?

    /// `scheme://authority` of the origin, as every key on this edge begins.
    let keyOrigin: CacheKey.Origin

    init(
        config: EdgeConfig, store: MemoryStore, pushes: PushStore?, coordinator: FetchCoordinator, origin: any OriginClient, stats: EdgeStats,
        assets: AssetTransform, accessLog: AccessLog?, clock: @escaping @Sendable () -> Double, logger: @escaping @Sendable (String) -> Void,
        via: String, rateLimiter: ClientRateLimiter?
    ) {
        self.config = config
        self.store = store
        self.pushes = pushes
        self.coordinator = coordinator
        self.origin = origin
        self.stats = stats
        self.assets = assets
        self.accessLog = accessLog
        self.clock = clock
        self.logger = logger
        self.via = via
        self.rateLimiter = rateLimiter
        keyOrigin = CacheKey.Origin(scheme: config.origin.scheme, authority: config.origin.authority)
    }

    func log(_ line: String) { logger("[\(config.name)] \(line)") }

    /// The cache key of an origin-form target on this edge's origin, after the operator's key
    /// rules (ignored, dropped or sorted query parameters).
    func key(_ target: String) -> CacheKey {
        let keyed = config.cacheRules.isEmpty ? target : (config.cacheRules.rule(for: target)?.keyTarget(target) ?? target)
        return CacheKey(origin: keyOrigin, pathAndQuery: keyed)
    }
}
