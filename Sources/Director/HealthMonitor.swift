import Foundation
import NIOCore
import Synchronization
import Logging
import Topology

/// A change of an edge's health, kept for the status page and logged.
public struct HealthChange: Sendable, Codable, Equatable {
    public var time: Double
    public var edge: String
    public var healthy: Bool
    public var reason: String
}

/// One edge's health as the director sees it.
public struct EdgeHealth: Sendable, Codable, Equatable {
    public var name: String
    public var dataCenter: String
    public var healthy: Bool
    /// Consecutive results that disagree with `healthy` (towards rise or fall).
    public var streak: Int
    public var lastCheck: Double
    public var lastError: String?
    public var latencyMs: Double?
}

/// Checks every edge's health endpoint on an interval; an edge goes down after `fall`
/// consecutive failures and up after `rise` consecutive successes. The first round decides each
/// edge's state directly, so the director's first answers are already right.
public final class HealthMonitor: Sendable {
    public struct Target: Sendable {
        public var name: String
        public var dataCenter: String
        public var host: String
        public var port: Int
        public var path: String
        public var tls = false
        /// The public listener, when the check above is the control listener's: it must take
        /// connections too, as clients use it.
        public var publicHost: String? = nil
        public var publicPort: Int? = nil
        public var url: String { EndpointURL(tls: tls, address: ListenAddress(host: host, port: port), path: path).description }
    }

    private struct State {
        var edges: [String: EdgeHealth] = [:]
        /// Kept up to date on every change, so a DNS answer only copies a set.
        var healthy: Set<String> = []
        var changes: [HealthChange] = []
        var rounds = 0
    }

    public let targets: [Target]
    private let settings: FleetConfig.Director
    private let group: any EventLoopGroup
    private let clock: @Sendable () -> Double
    private let log: Logger
    private let state = Mutex(State())

    public init(fleet: FleetConfig, group: any EventLoopGroup, clock: @escaping @Sendable () -> Double, log: Logger) {
        targets = fleet.allEdges.map { e in
            // The health URL (by default the control listener's open /health; an edge without
            // one is checked on its public listener, any answer below 500 counting).
            let health = e.effectiveHealthURL
            var t = Target(name: e.name, dataCenter: e.dataCenter, host: health.address.host, port: health.address.port, path: health.path)
            t.tls = health.tls
            if health.address != e.listen { (t.publicHost, t.publicPort) = (e.listen.host, e.listen.port) }
            return t
        }
        settings = fleet.director
        self.group = group
        self.clock = clock
        self.log = log
    }

    /// Names of the edges that are up now.
    public var healthy: Set<String> { state.withLock { $0.healthy } }
    public var snapshot: [EdgeHealth] { state.withLock { s in targets.compactMap { s.edges[$0.name] } } }
    public var recentChanges: [HealthChange] { state.withLock { $0.changes } }
    public var rounds: Int { state.withLock { $0.rounds } }

    /// One round: every edge checked at once.
    public func checkAll() async {
        await withTaskGroup(of: (Target, Result<Double, CheckFailure>).self) { group in
            for t in targets {
                group.addTask { (t, await self.check(t)) }
            }
            for await (t, result) in group { record(t, result) }
        }
        state.withLock { $0.rounds += 1 }
    }

    /// Checks every edge on its own schedule until the task is cancelled, so one slow edge
    /// never delays the others' checks.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for t in targets {
                group.addTask {
                    while !Task.isCancelled {
                        let started = self.clock()
                        self.record(t, await self.check(t))
                        let wait = self.settings.checkInterval - (self.clock() - started)
                        if wait > 0 { try? await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
                    }
                }
            }
        }
    }

    struct CheckFailure: Error {
        var reason: String
    }

    private func check(_ t: Target) async -> Result<Double, CheckFailure> {
        let start = clock()
        switch await HealthProbe.check(host: t.host, port: t.port, path: t.path, tls: t.tls, timeout: settings.checkTimeout, group: group) {
        case .success: break
        case .failure(let f): return .failure(CheckFailure(reason: "\(f.reason) (\(t.url))"))
        }
        // What clients use: an edge whose public listener is gone is down, whatever its
        // control listener says.
        if let host = t.publicHost, let port = t.publicPort,
           case .failure(let f) = await HealthProbe.connects(host: host, port: port, timeout: settings.checkTimeout, group: group) {
            return .failure(CheckFailure(reason: "public listener: \(f.reason) (http://\(host):\(port))"))
        }
        return .success((clock() - start) * 1000)
    }

    private func record(_ t: Target, _ result: Result<Double, CheckFailure>) {
        let now = clock()
        let ok: Bool
        var latency: Double?, error: String?
        switch result {
        case .success(let ms): ok = true; latency = ms
        case .failure(let f): ok = false; error = f.reason
        }
        let change: HealthChange? = state.withLock { s in
            guard var h = s.edges[t.name] else {
                // First round: take the result as the state.
                s.edges[t.name] = EdgeHealth(name: t.name, dataCenter: t.dataCenter, healthy: ok, streak: 0, lastCheck: now, lastError: error, latencyMs: latency)
                if ok { s.healthy.insert(t.name) }
                let c = HealthChange(time: now, edge: t.name, healthy: ok, reason: ok ? "first check passed" : "first check failed: \(error ?? "")")
                s.changes.append(c)
                return c
            }
            h.lastCheck = now
            h.lastError = error
            h.latencyMs = latency
            var c: HealthChange?
            if ok == h.healthy {
                h.streak = 0
            } else {
                h.streak += 1
                if h.streak >= (ok ? settings.rise : settings.fall) {
                    h.healthy = ok
                    if ok { s.healthy.insert(t.name) } else { s.healthy.remove(t.name) }
                    h.streak = 0
                    c = HealthChange(time: now, edge: t.name, healthy: ok, reason: ok
                        ? "\(settings.rise) checks in a row passed"
                        : "\(settings.fall) checks in a row failed: \(error ?? "")")
                }
            }
            s.edges[t.name] = h
            if let c {
                s.changes.append(c)
                if s.changes.count > 200 { s.changes.removeFirst(s.changes.count - 200) }
            }
            return c
        }
        if let change { log.log(level: change.healthy ? .notice : .warning, "edge \(change.edge) is \(change.healthy ? "UP" : "DOWN"): \(change.reason)") }
    }
}
