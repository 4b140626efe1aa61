import CacheStore
import ControlAPI
import Foundation
import HTTPServer
import Prometheus
import Synchronization

/// How one request was answered, as counted and logged.
public enum Outcome: String, CaseIterable, Sendable, Codable {
    /// From memory, fresh.
    case hit
    /// From memory, stale (stale-while-revalidate, stale-if-error).
    case stale
    /// A pushed object.
    case pushed
    /// Waited on another request's origin fetch.
    case collapsed
    /// The origin confirmed the stored copy with a 304.
    case revalidated
    /// Fetched from the origin.
    case miss
    /// Not cacheable (unsafe method, Authorization): forwarded as is.
    case pass
    /// Refused or failed (4xx from the edge itself, 5xx the origin could not be reached for).
    case error

    /// Position in counter arrays.
    var index: Int {
        switch self {
        case .hit: 0
        case .stale: 1
        case .pushed: 2
        case .collapsed: 3
        case .revalidated: 4
        case .miss: 5
        case .pass: 6
        case .error: 7
        }
    }

    /// Answered without an origin request of its own.
    var isHit: Bool { self == .hit || self == .stale || self == .pushed || self == .collapsed }
    /// Its body did not come from the origin this time (a 304 saves the body).
    var savesOriginBytes: Bool { isHit || self == .revalidated }

    /// The word nginx users know from `$upstream_cache_status`.
    var logWord: String {
        switch self {
        case .hit: "HIT"
        case .stale: "STALE"
        case .pushed: "PUSHED"
        case .collapsed: "COLLAPSED"
        case .revalidated: "REVALIDATED"
        case .miss: "MISS"
        case .pass: "BYPASS"
        case .error: "ERROR"
        }
    }
}

/// An edge's counters: exact values for the stats JSON and `outpost stats`, and the same
/// numbers as Prometheus metrics. Recording is a short lock and a few atomic adds.
public final class EdgeStats: Sendable {
    public typealias Counts = StatsSnapshot.Counts
    public typealias Snapshot = StatsSnapshot

    public static let definition = HitRatio.both

    private struct State {
        var outcomes = [Counts](repeating: Counts(), count: Outcome.allCases.count)
        var origin = Counts()
        var accessLogDropped = 0
        var refusedRequests = [Int](repeating: 0, count: RequestRefusal.allCases.count)
        /// What the Prometheus counters were last brought up to.
        var exported = [Counts](repeating: Counts(), count: Outcome.allCases.count)
        var exportedOrigin = Counts()
        /// Per site (the edge's `[[sites]]`, in order), per outcome.
        var sites: [[Counts]]
    }

    private let state: Mutex<State>
    /// The sites counted apart (`[[sites]]`), and their counters by site, then outcome.
    private let siteNames: [String]
    private let siteRequestCounters: [[Counter]]
    private let siteByteCounters: [[Counter]]
    public let registry = PrometheusCollectorRegistry()
    private let requestCounters: [Counter]
    private let byteCounters: [Counter]
    private let accessLogDroppedCounter: Counter
    private let refusedRequestCounters: [Counter]
    /// The public, TLS and control listeners' connection counters.
    public let publicListener = ListenerStats()
    public let tlsListener = ListenerStats()
    public let controlListener = ListenerStats()
    private let listenerMetrics: [(String, ListenerStats, (refused: [Counter], timeouts: [Counter]))]
    private let openConnections: [String: Gauge]
    private let exporter = CounterExporter()
    private let originRequests: Counter
    private let originBytes: Counter
    private let originCancels: Counter
    private let originLatency: DurationHistogram
    private let storedObjects: Gauge
    private let storedBytes: Gauge
    private let evictions: Gauge
    private let pushedObjects: Gauge
    private let pushedBytes: Gauge
    private let memoryHits: Counter
    private let diskObjects: Gauge
    private let diskBytes: Gauge
    private let diskHits: Counter
    private let diskCorrupt: Counter
    /// Per site, with `[[sites]]`.
    private let sitePushedObjects: [Gauge]
    private let sitePushedBytes: [Gauge]

    public init(edge: String, sites: [String] = []) {
        state = Mutex(State(sites: sites.map { _ in [Counts](repeating: Counts(), count: Outcome.allCases.count) }))
        siteNames = sites
        let labels = [("edge", edge)]
        let registry = self.registry
        let (publicListener, tlsListener, controlListener) = (self.publicListener, self.tlsListener, self.controlListener)
        requestCounters = Outcome.allCases.map { o in
            registry.makeCounter(descriptor: .outpost("requests_total", "Requests answered, by cache outcome"), labels: labels + [("outcome", o.rawValue)])
        }
        byteCounters = Outcome.allCases.map { o in
            registry.makeCounter(descriptor: .outpost("response_body_bytes_total", "Response body bytes sent to clients, by cache outcome"),
                                 labels: labels + [("outcome", o.rawValue)])
        }
        siteRequestCounters = sites.map { site in
            Outcome.allCases.map { o in
                registry.makeCounter(descriptor: .outpost("site_requests_total", "Requests answered, by site and cache outcome"),
                                     labels: labels + [("site", site), ("outcome", o.rawValue)])
            }
        }
        siteByteCounters = sites.map { site in
            Outcome.allCases.map { o in
                registry.makeCounter(descriptor: .outpost("site_response_body_bytes_total", "Response body bytes sent to clients, by site and cache outcome"),
                                     labels: labels + [("site", site), ("outcome", o.rawValue)])
            }
        }
        accessLogDroppedCounter = registry.makeCounter(
            descriptor: .outpost("access_log_dropped_lines_total", "Access-log lines dropped (writer behind, or the disk failed)"), labels: labels)
        refusedRequestCounters = RequestRefusal.allCases.map { r in
            registry.makeCounter(descriptor: .outpost("refused_requests_total", "Requests refused before the cache: denied address (403) or over the rate limit (429)"),
                                 labels: labels + [("reason", r.label)])
        }
        var metrics: [(String, ListenerStats, (refused: [Counter], timeouts: [Counter]))] = []
        var open: [String: Gauge] = [:]
        for (name, listener) in [("public", publicListener), ("tls", tlsListener), ("control", controlListener)] {
            let l = labels + [("listener", name)]
            open[name] = registry.makeGauge(descriptor: .outpost("open_connections", "Connections open now, by listener"), labels: l)
            let refused = ListenerStats.Refusal.allCases.map { r in
                registry.makeCounter(descriptor: .outpost("refused_connections_total", "Connections closed at accept by a connection cap, by listener and cap"),
                                     labels: l + [("cap", r.label)])
            }
            let timeouts = ListenerStats.Timeout.allCases.map { t in
                registry.makeCounter(descriptor: .outpost("connection_timeouts_total", "Connections closed by a timeout, by listener and timeout"),
                                     labels: l + [("timeout", t.label)])
            }
            metrics.append((name, listener, (refused, timeouts)))
        }
        listenerMetrics = metrics
        openConnections = open
        originRequests = registry.makeCounter(descriptor: .outpost("origin_requests_total", "Requests sent to the origin"), labels: labels)
        originBytes = registry.makeCounter(descriptor: .outpost("origin_body_bytes_total", "Body bytes received from the origin"), labels: labels)
        originCancels = registry.makeCounter(
            descriptor: .outpost("origin_cancelled_total", "Origin requests cancelled because every client of a response that was not being stored went away"),
            labels: labels)
        originLatency = registry.makeDurationHistogram(
            descriptor: .outpost("origin_response_seconds", "Time from sending an origin request to its response head"), labels: labels,
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
        storedObjects = registry.makeGauge(descriptor: .outpost("cache_objects", "Objects in the memory cache"), labels: labels)
        storedBytes = registry.makeGauge(descriptor: .outpost("cache_bytes", "Bytes in the memory cache"), labels: labels)
        evictions = registry.makeGauge(descriptor: .outpost("cache_evictions", "Objects evicted from the memory cache since start"), labels: labels)
        pushedObjects = registry.makeGauge(descriptor: .outpost("pushed_objects", "Pushed objects held"), labels: labels)
        pushedBytes = registry.makeGauge(descriptor: .outpost("pushed_bytes", "Bytes of pushed objects held"), labels: labels)
        memoryHits = registry.makeCounter(descriptor: .outpost("tier_hits_total", "Lookups answered by a cache tier"), labels: labels + [("tier", "memory")])
        diskHits = registry.makeCounter(descriptor: .outpost("tier_hits_total", "Lookups answered by a cache tier"), labels: labels + [("tier", "disk")])
        diskObjects = registry.makeGauge(descriptor: .outpost("disk_cache_objects", "Objects in the disk tier"), labels: labels)
        diskBytes = registry.makeGauge(descriptor: .outpost("disk_cache_bytes", "Bytes in the disk tier"), labels: labels)
        diskCorrupt = registry.makeCounter(descriptor: .outpost("disk_cache_corrupt_total", "Disk-tier files that failed their checksum and were removed"), labels: labels)
        sitePushedObjects = sites.map { registry.makeGauge(descriptor: .outpost("site_pushed_objects", "Pushed objects held, by site"), labels: labels + [("site", $0)]) }
        sitePushedBytes = sites.map { registry.makeGauge(descriptor: .outpost("site_pushed_bytes", "Bytes of pushed objects held, by site"), labels: labels + [("site", $0)]) }
    }

    /// On every response: one short lock, two adds. The Prometheus counters are brought up to
    /// date when they are scraped, not here.
    func record(_ outcome: Outcome, bytes: Int, site: Int? = nil) {
        let i = outcome.index
        state.withLock { s in
            s.outcomes[i].requests += 1
            s.outcomes[i].bytes += bytes
            if let site, s.sites.indices.contains(site) {
                s.sites[site][i].requests += 1
                s.sites[site][i].bytes += bytes
            }
        }
    }

    /// The ratio counts of some outcome counters (passes are left out).
    static func ratios(_ outcomes: [Counts]) -> StatsSnapshot.RatioCounts {
        var all = 0, hits = 0, bytes = 0, savedBytes = 0
        for o in Outcome.allCases where o != .pass {
            let c = outcomes[o.index]
            all = all.addingReportingOverflow(c.requests).partialValue
            bytes = bytes.addingReportingOverflow(c.bytes).partialValue
            if o.isHit { hits = hits.addingReportingOverflow(c.requests).partialValue }
            if o.savesOriginBytes { savedBytes = savedBytes.addingReportingOverflow(c.bytes).partialValue }
        }
        return .init(requests: all, bytes: bytes, hits: hits, savedBytes: savedBytes)
    }

    func originRequest() {
        state.withLock { $0.origin.requests += 1 }
    }

    func originBody(_ bytes: Int) {
        state.withLock { $0.origin.bytes += bytes }
    }

    /// Counted straight into the metric: nothing is kept between scrapes.
    func originCancelled() {
        originCancels.increment()
    }

    func originLatency(seconds: Double) {
        // Straight into the histogram (it is thread-safe): nothing grows between scrapes.
        guard seconds.isFinite, seconds >= 0 else { return }
        originLatency.record(.nanoseconds(Int64(min(seconds, 1e9) * 1e9)))
    }

    /// Access-log lines dropped because the writer could not keep up or the disk failed.
    func accessLogDropped(_ n: Int) {
        state.withLock { $0.accessLogDropped += n }
    }

    /// Requests refused before the request path: a denied address (403) or over the rate
    /// limit (429).
    func refusedRequest(_ reason: RequestRefusal) {
        state.withLock { $0.refusedRequests[reason.rawValue] += 1 }
    }

    /// `pushes`: each site's pushed objects, in `[[sites]]` order (the one default site's when
    /// the edge has none).
    public func snapshot(edge: String, dataCenter: String, store: MemoryStore.Stats, disk: StatsSnapshot.Disk? = nil, pushes: [PushStore?], now: Double) -> Snapshot {
        let s = state.withLock { $0 }
        let r = Self.ratios(s.outcomes)
        let (all, hits, bytes, savedBytes) = (r.requests, r.hits, r.bytes, r.savedBytes)
        let perSite = pushes.map { p in (p?.manifest(now: now) ?? []).reduce(Counts(requests: 0, bytes: 0)) { Counts(requests: $0.requests + 1, bytes: $0.bytes + $1.size) } }
        var snapshot = Snapshot(
            edge: edge, dataCenter: dataCenter, time: now,
            outcomes: Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0.rawValue, s.outcomes[$0.index]) }),
            origin: s.origin,
            store: .init(objects: store.objects, bytes: store.bytes, budget: store.budget, evictions: store.evictions, rejected: store.rejected, hits: store.hits),
            pushed: perSite.reduce(Counts(requests: 0, bytes: 0)) { Counts(requests: $0.requests + $1.requests, bytes: $0.bytes + $1.bytes) },
            ratios: .init(requests: all, bytes: bytes, hits: hits, savedBytes: savedBytes),
            hitRatio: all == 0 ? 0 : Double(hits) / Double(all),
            byteHitRatio: bytes == 0 ? 0 : Double(savedBytes) / Double(bytes),
            definition: Self.definition
        )
        snapshot.disk = disk
        if !siteNames.isEmpty {
            snapshot.sites = Dictionary(zip(siteNames, s.sites).enumerated().map { i, pair in
                (pair.0, StatsSnapshot.Site(outcomes: Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0.rawValue, pair.1[$0.index]) }),
                                            ratios: Self.ratios(pair.1), pushed: i < perSite.count ? perSite[i] : nil))
            }) { a, _ in a }
        }
        return snapshot
    }

    /// The Prometheus text exposition, with the store's gauges set now.
    public func prometheusText(store: MemoryStore.Stats, disk: StatsSnapshot.Disk? = nil, pushes: [PushStore?], now: Double) -> [UInt8] {
        // Bring the counters up to the exact values (they only ever grow).
        let (deltas, originDelta, dropped, refused) = state.withLock { s -> ([Counts], Counts, Int, [Int]) in
            let d = zip(s.outcomes, s.exported).map { Counts(requests: $0.requests - $1.requests, bytes: $0.bytes - $1.bytes) }
            let o = Counts(requests: s.origin.requests - s.exportedOrigin.requests, bytes: s.origin.bytes - s.exportedOrigin.bytes)
            s.exported = s.outcomes
            s.exportedOrigin = s.origin
            return (d, o, s.accessLogDropped, s.refusedRequests)
        }
        for o in Outcome.allCases {
            requestCounters[o.index].increment(by: Int64(deltas[o.index].requests))
            byteCounters[o.index].increment(by: Int64(deltas[o.index].bytes))
        }
        originRequests.increment(by: Int64(originDelta.requests))
        originBytes.increment(by: Int64(originDelta.bytes))
        exporter.set("access_log_dropped", to: dropped, counter: accessLogDroppedCounter)
        let siteCounts = state.withLock { $0.sites }
        for (i, counts) in siteCounts.enumerated() {
            for o in Outcome.allCases {
                exporter.set("site\(i)_\(o.rawValue)_requests", to: counts[o.index].requests, counter: siteRequestCounters[i][o.index])
                exporter.set("site\(i)_\(o.rawValue)_bytes", to: counts[o.index].bytes, counter: siteByteCounters[i][o.index])
            }
        }
        for r in RequestRefusal.allCases {
            exporter.set("refused_\(r.rawValue)", to: refused[r.rawValue], counter: refusedRequestCounters[r.rawValue])
        }
        for (name, listener, counters) in listenerMetrics {
            openConnections[name]?.set(Int64(listener.open))
            for r in ListenerStats.Refusal.allCases {
                exporter.set("\(name)_refused_\(r.label)", to: listener.refused(r), counter: counters.refused[r.rawValue])
            }
            for t in ListenerStats.Timeout.allCases {
                exporter.set("\(name)_timeout_\(t.label)", to: listener.timedOut(t), counter: counters.timeouts[t.rawValue])
            }
        }
        storedObjects.set(Int64(store.objects))
        exporter.set("memory_hits", to: store.hits, counter: memoryHits)
        if let disk {
            diskObjects.set(Int64(disk.objects))
            diskBytes.set(Int64(disk.bytes))
            exporter.set("disk_hits", to: disk.hits, counter: diskHits)
            exporter.set("disk_corrupt", to: disk.corrupt, counter: diskCorrupt)
        }
        storedBytes.set(Int64(store.bytes))
        evictions.set(Int64(store.evictions))
        let perSite = pushes.map { $0?.manifest(now: now) ?? [] }
        pushedObjects.set(Int64(perSite.reduce(0) { $0 + $1.count }))
        pushedBytes.set(Int64(perSite.reduce(0) { $0 + $1.reduce(0) { $0 + $1.size } }))
        for (i, objects) in perSite.enumerated() where i < sitePushedObjects.count {
            sitePushedObjects[i].set(Int64(objects.count))
            sitePushedBytes[i].set(Int64(objects.reduce(0) { $0 + $1.size }))
        }
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}

/// Why a request was refused before the request path.
enum RequestRefusal: Int, CaseIterable, Sendable {
    case denied, rateLimited

    var label: String { self == .denied ? "denied" : "rate_limited" }
}

/// Brings Prometheus counters up to exact values kept elsewhere (counters only ever grow, so
/// the difference since the last scrape is added).
final class CounterExporter: Sendable {
    private let exported = Mutex<[String: Int]>([:])

    func set(_ key: String, to value: Int, counter: Counter) {
        let delta = exported.withLock { e -> Int in
            let d = value - e[key, default: 0]
            e[key] = value
            return d
        }
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }
}

extension MetricNameDescriptor {
    /// `outpost_<name>`: the whole name after the namespace (the unit is part of it).
    static func outpost(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "outpost", metricName: name, unitName: "", helpText: help)
    }
}
