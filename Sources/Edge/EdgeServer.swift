import AsyncHTTPClient
import CacheStore
import Foundation
import HTTPServer
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Topology

/// `outpost edge`: the cache. One public HTTP/1.1 listener in front of one origin.
public final class EdgeServer: Sendable {
    let context: EdgeContext
    private let listener = Mutex<HTTPListener?>(nil)
    private let controlListener = Mutex<HTTPListener?>(nil)
    private let pushSync = Mutex<PushSync?>(nil)
    private let tlsListener = Mutex<HTTPListener?>(nil)
    private let sweeper = Mutex<RepeatedTask?>(nil)
    private let certificateWatcher = Mutex<RepeatedTask?>(nil)

    public var config: EdgeConfig { context.config }
    public var store: MemoryStore { context.store }

    public init(
        config: EdgeConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        logger: Logger = Logger(label: "edge", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        let log: @Sendable (String) -> Void = { logger.info("\($0)") }
        if config.controlListen != nil, config.effectiveControlToken() == nil {
            throw EdgeStartError("edge \(config.name) has control_listen but no token: set control_token, control_token_file or OUTPOST_CONTROL_TOKEN")
        }
        // Each site's settings over the edge's, its pipeline and its pushed objects (loaded
        // from disk, and given their compressed variants again: those are not stored).
        let queue = QueuedBytes()
        // The edge's push_capacity holds for all its sites together; a site's own is its share.
        let budget = config.sites.isEmpty ? nil : PushBudget(capacity: config.pushCapacity)
        if let first = config.sites.first, config.controlListen != nil { Self.adoptPushesOfNoSite(config, first: first.name, log: logger) }
        func policy(_ site: SiteConfig?, index: Int?) throws -> SitePolicy {
            let effective = site?.settings(over: config) ?? config
            let assets = AssetTransform(config: effective, queue: queue)
            var pushes: PushStore?
            if config.controlListen != nil {
                let directory = SitePolicy.pushDirectory(config, site: site?.name)
                do {
                    let (store, summary) = try PushStore.open(directory: directory, capacity: effective.pushCapacity, now: clock(), budget: budget)
                    store.transformAll { assets.apply($0, strongest: true) }
                    pushes = store
                    log("\(site.map { "site \($0.name): " } ?? "")\(directory): \(summary)")
                } catch {
                    throw EdgeStartError("edge \(config.name)\(site.map { ", site \($0.name)" } ?? ""): \(error.message)")
                }
            }
            return SitePolicy(name: site?.name, index: index, config: effective, assets: assets, pushes: pushes)
        }
        let sites = try config.sites.enumerated().map { try policy($0.element, index: $0.offset) }
        // Without sites the edge's own settings are its one site's, pushes included; with
        // sites, they only answer what no site takes.
        let edgeSite = config.sites.isEmpty ? try policy(nil, index: nil)
            : SitePolicy(name: nil, index: nil, config: config, assets: AssetTransform(config: config, queue: queue), pushes: nil)
        // The disk tier: opened now, its files taken stock of on a thread of its own (lookups
        // find files by name meanwhile; nothing is written until it is done). Every object
        // stored in memory is written to it as well (what was written survives a restart or a
        // crash), and a memory miss looks there before the origin.
        var disk: DiskTier?
        if let directory = config.diskCache {
            let store: DiskStore
            // A file holds a body and its compressed variants: a bound on what one read costs.
            let maxFile = min(config.diskCacheSize, config.maxObjectSize.multipliedReportingOverflow(by: 4).partialValue + (1 << 20))
            do { store = try DiskStore.open(directory: directory, budget: config.diskCacheSize, maxFileSize: maxFile) } catch {
                throw EdgeStartError("edge \(config.name): \(error)")
            }
            disk = DiskTier(store: store)
            Thread.detachNewThread {
                let (files, seconds) = store.load()
                log("disk cache \(directory): \(files) files taken stock of in \(String(format: "%.2f", seconds)) s; budget \(ByteSize.format(config.diskCacheSize))")
            }
        }
        let stats = EdgeStats(edge: config.name, sites: config.sites.map(\.name))
        let accessLog = try config.accessLog.map { try AccessLog(path: $0, onDrop: { stats.accessLogDropped($0) }) }
        var clientConfig = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            // No read timeout here: the fetch keeps `origin_timeout` itself, paused while slow
            // clients hold the origin read back (the client library's would fire then).
            timeout: .init(connect: .seconds(clamping: config.originConnectTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64),
            decompression: .disabled
        )
        clientConfig.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: clientConfig)
        let policy: any EvictionPolicy = switch config.eviction {
        case .lru: LRUPolicy()
        case .wtinylfu: WTinyLFUPolicy()
        case .s3fifo: S3FIFOPolicy()
        }
        let memory = MemoryStore(budget: config.cacheSize, policy: policy, maxVariants: config.maxVariants)
        context = EdgeContext(
            config: config,
            store: memory,
            disk: disk,
            edgeSite: edgeSite,
            sites: sites,
            coordinator: FetchCoordinator(clock: clock),
            origin: HTTPClientOrigin(client: client),
            stats: stats,
            accessLog: accessLog,
            clock: clock,
            logger: logger,
            via: "1.1 \(config.name) (outpost)",
            rateLimiter: config.rateLimit.map { ClientRateLimiter(rate: $0, burst: config.rateLimitBurst) }
        )
        self.group = group
    }

    private let group: any EventLoopGroup

    /// An edge that gains `[[sites]]` keeps what was pushed to it before: those pushes were
    /// its first site's, so their folder becomes that site's (once, when it has none yet).
    static func adoptPushesOfNoSite(_ config: EdgeConfig, first: String, log: Logger) {
        let fm = FileManager.default
        let old = config.dataDirectory + "/objects", site = SitePolicy.pushDirectory(config, site: first)
        guard let left = try? fm.contentsOfDirectory(atPath: old), !left.isEmpty, !fm.fileExists(atPath: site) else { return }
        do {
            try fm.createDirectory(atPath: site, withIntermediateDirectories: true)
            try fm.moveItem(atPath: old, toPath: site + "/objects")
            log.notice("\(left.count) objects pushed before this edge had [[sites]] are now site \(first)'s (moved \(old) to \(site)/objects)")
        } catch {
            log.warning("\(old) holds \(left.count) objects pushed before this edge had [[sites]], and moving them to \(site)/objects failed (\(error)); they are not served. Move the folder by hand, or push again with outpost push --site \(first)")
        }
    }

    /// Binds the public listener; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let context = self.context
        var limits = config.limits
        limits.maxRequestBodySize = config.maxRequestBodySize
        limits.maxRequestBodySizeSetting = "max_request_body_size"
        var controlLimits = limits
        controlLimits.maxRequestBodySize = config.maxPushSize
        controlLimits.maxRequestBodySizeSetting = "max_push_size"
        controlLimits.answersJSON = true
        let l = try await HTTPListener.bind(host: config.listen.host, port: config.listen.port, group: group, limits: limits,
                                            stats: context.stats.publicListener) {
            EdgeHandler(edge: context, overTLS: false)
        }
        listener.withLock { $0 = l }
        if let tls = config.tlsListen {
            let identity = try TLSListener.identity(certificateFile: config.tlsCertificate, keyFile: config.tlsKey, name: config.name, host: tls.host)
            let identities = try TLSIdentities(edge: identity, sites: config.sites)
            let c = try await TLSListener.bind(host: tls.host, port: tls.port, group: group, identities: identities, defaultIdentity: identity,
                                               limits: limits, stats: context.stats.tlsListener) { EdgeHandler(edge: context, overTLS: true) }
            tlsListener.withLock { $0 = c }
            // Renewed certificate files are picked up within seconds, without a restart.
            let task = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                NIOThreadPool.singleton.submit { _ in identities.reload(log: { context.log($1, $0) }) }
            }
            certificateWatcher.withLock { $0 = task }
        }
        if let control = config.controlListen, let token = config.effectiveControlToken() {
            let pushes = context.allPushes
            let makeHandler: @Sendable () -> any ChannelHandler = { ControlHandler(edge: context, token: token) }
            let c: HTTPListener
            if config.controlTLS {
                // The public listener's certificate (or a self-signed one): the token and pushed
                // content never cross the network in the clear.
                let identity = try TLSListener.identity(certificateFile: config.tlsCertificate, keyFile: config.tlsKey, name: config.name, host: control.host)
                c = try await TLSListener.bindHTTP1(host: control.host, port: control.port, group: group, identity: identity, limits: controlLimits,
                                                    stats: context.stats.controlListener, makeHandler: makeHandler)
            } else {
                c = try await HTTPListener.bind(host: control.host, port: control.port, group: group, limits: controlLimits,
                                                stats: context.stats.controlListener, makeHandler: makeHandler)
            }
            controlListener.withLock { $0 = c }
            // Expired pushed objects' files are removed every minute, off the event loops.
            let task = group.next().scheduleRepeatedTask(initialDelay: .seconds(60), delay: .seconds(60)) { _ in
                NIOThreadPool.singleton.submit { _ in
                    let n = pushes.reduce(0) { $0 + $1.sweepExpired(now: context.clock()) }
                    if n > 0 { context.log("removed \(n) expired pushed objects") }
                }
            }
            sweeper.withLock { $0 = task }
            if !config.pushPeers.isEmpty {
                let sync = try PushSync(edge: context, token: token, group: group)
                pushSync.withLock { $0 = sync }
                sync.start()
            }
        }
        return l.port
    }

    public var port: Int { listener.withLock { $0?.port ?? 0 } }
    /// The bound TLS port, 0 when TLS is off.
    public var tlsPort: Int { tlsListener.withLock { $0?.port ?? 0 } }
    /// Connection counters of the public and TLS listeners.
    public var publicListenerStats: ListenerStats { context.stats.publicListener }
    public var tlsListenerStats: ListenerStats { context.stats.tlsListener }
    /// The bound control port, 0 when the control API is off.
    public var controlPort: Int { controlListener.withLock { $0?.port ?? 0 } }
    /// The pushed objects of the first site (or the edge's only one).
    public var pushes: PushStore? { context.site(named: nil)?.pushes }
    /// A site's pushed objects.
    public func pushes(site: String) -> PushStore? { context.site(named: site)?.pushes }


    /// Told to stop: `/health` says `draining` (503) for `drain_seconds` while the edge still
    /// serves, so the director sends new clients elsewhere; then the public listeners stop
    /// accepting and requests under way finish (up to `drain_timeout`); then `stop`.
    public func drain() async {
        context.draining.set()
        if config.drainSeconds > 0 {
            context.log("draining: /health says so for \(config.drainSeconds) s, then requests under way finish", .notice)
            try? await Task.sleep(for: .milliseconds(Int(config.drainSeconds * 1000)))  // cancelled: on at once
        }
        let listeners = [listener.withLock { $0 }, tlsListener.withLock { $0 }].compactMap { $0 }
        await withTaskGroup(of: Void.self) { group in
            for l in listeners { group.addTask { await l.drain(timeout: self.config.drainTimeout) } }
        }
        await stop()
    }

    /// Closes the listener and the origin client.
    public func stop() async {
        sweeper.withLock { $0?.cancel() }
        certificateWatcher.withLock { $0?.cancel() }
        await pushSync.withLock { s in defer { s = nil }; return s }?.stop()
        let l = listener.withLock { $0 }
        await l?.close()
        let c = controlListener.withLock { $0 }
        await c?.close()
        await tlsListener.withLock { $0 }?.close()
        await context.origin.shutdown()
        await context.disk?.shutdown()
        context.accessLog?.close()
    }

    /// Opens the access log again by its path (SIGUSR1, after a rotation).
    public func reopenLogs() { context.accessLog?.reopen() }

    /// The counters now, with the hit ratios.
    public var statsSnapshot: EdgeStats.Snapshot {
        context.stats.snapshot(edge: config.name, dataCenter: config.dataCenter, store: store.stats, disk: context.disk?.snapshot, pushes: context.sitePushes, now: context.clock())
    }

    /// The Prometheus exposition the control API serves.
    public func metricsText() -> [UInt8] {
        context.stats.prometheusText(store: context.store.stats, disk: context.disk?.snapshot, pushes: context.sitePushes, now: context.clock())
    }

    /// Objects copied from peers (`push_peers`) since start, and sync rounds done.
    public var pushSyncCounts: (copied: Int, extended: Int, rounds: Int) {
        guard let s = pushSync.withLock({ $0 }) else { return (0, 0, 0) }
        return (s.copied.load(ordering: .relaxed), s.extended.load(ordering: .relaxed), s.rounds.load(ordering: .relaxed))
    }

    /// Origin fetches under way now (for tests and stats).
    public var fetchesInFlight: Int { context.coordinator.inFlightCount }
}

/// Why an edge could not start, said for the operator.
public struct EdgeStartError: Error, CustomStringConvertible {
    public var description: String
    init(_ message: String) { description = message }
}
