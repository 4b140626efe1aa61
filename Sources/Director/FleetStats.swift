import AsyncHTTPClient
import ControlAPI
import Foundation
import HTTPServer
import NIOCore
import Synchronization
import Topology

/// The director's view of the fleet's traffic, for the dashboard: every second it reads each
/// edge's `/stats` (with the edge's control token) and keeps ten minutes of fleet totals.
public final class FleetStats: Sendable {
    /// What the dashboard needs from an edge's stats JSON.
    public struct EdgeCounts: Sendable, Codable, Equatable {
        public var edge: String
        public var dataCenter: String
        public var requests = 0
        public var hits = 0
        public var bytes = 0
        public var savedBytes = 0
        public var storedBytes = 0
        /// Each site's share, when the edge serves `[[sites]]`.
        public var sites: [String: StatsSnapshot.RatioCounts] = [:]
        public var hitRatio: Double { requests == 0 ? 0 : Double(hits) / Double(requests) }
    }

    public struct Point: Sendable, Codable, Equatable {
        public var time: Double
        public var requests: Int
        /// Cumulative, by the definition below.
        public var hitRatio: Double
        public var byteHitRatio: Double
        /// Over the last interval only (nil when no request came).
        public var recentHitRatio: Double?
    }

    private struct State {
        var latest: [String: EdgeCounts] = [:]
        var series: [Point] = []
    }

    public static let definition = HitRatio.definition

    private let fleet: FleetConfig
    private let client: HTTPClient
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    init(fleet: FleetConfig, client: HTTPClient, clock: @escaping @Sendable () -> Double) {
        self.fleet = fleet
        self.client = client
        self.clock = clock
    }

    public var latest: [EdgeCounts] { state.withLock { s in fleet.allEdges.compactMap { s.latest[$0.name] } } }
    public var series: [Point] { state.withLock { $0.series } }

    /// Each site's counts summed over the edges last read, in `[[sites]]` order (saturating:
    /// the edges' numbers are input).
    public var sites: [(site: String, counts: StatsSnapshot.RatioCounts)] {
        let edges = latest
        return fleet.sites.map { site in
            var t = StatsSnapshot.RatioCounts(requests: 0, bytes: 0, hits: 0, savedBytes: 0)
            for c in edges.compactMap({ $0.sites[site.name] }) {
                t.requests = t.requests.addingSaturating(c.requests)
                t.hits = t.hits.addingSaturating(c.hits)
                t.bytes = t.bytes.addingSaturating(c.bytes)
                t.savedBytes = t.savedBytes.addingSaturating(c.savedBytes)
            }
            return (site.name, t)
        }
    }

    /// Reads every edge once and appends a point.
    public func poll(healthy: Set<String>) async {
        let edges = fleet.allEdges.filter { $0.controlListen != nil && healthy.contains($0.name) }
        let read = await withTaskGroup(of: EdgeCounts?.self) { group in
            for e in edges {
                group.addTask { await self.read(e) }
            }
            var all: [EdgeCounts] = []
            for await c in group { if let c { all.append(c) } }
            return all
        }
        let now = clock()
        state.withLock { s in
            let before = s.latest
            for c in read { s.latest[c.edge] = c }
            let totals = s.latest.values.reduce(into: EdgeCounts(edge: "fleet", dataCenter: "")) { t, c in
                // Edges' numbers are input: sums saturate rather than trap.
                t.requests = t.requests.addingSaturating(c.requests)
                t.hits = t.hits.addingSaturating(c.hits)
                t.bytes = t.bytes.addingSaturating(c.bytes)
                t.savedBytes = t.savedBytes.addingSaturating(c.savedBytes)
            }
            let previous = before.values.reduce(into: (0, 0)) { $0.0 = $0.0.addingSaturating($1.requests); $0.1 = $0.1.addingSaturating($1.hits) }
            let dr = totals.requests.subtractingSaturating(previous.0), dh = totals.hits.subtractingSaturating(previous.1)
            s.series.append(Point(time: now, requests: totals.requests, hitRatio: totals.hitRatio,
                                  byteHitRatio: totals.bytes == 0 ? 0 : Double(totals.savedBytes) / Double(totals.bytes),
                                  recentHitRatio: dr > 0 && !before.isEmpty ? Double(dh) / Double(dr) : nil))
            if s.series.count > 600 { s.series.removeFirst(s.series.count - 600) }
        }
    }

    private func read(_ e: EdgeConfig) async -> EdgeCounts? {
        guard let control = e.controlURL, let token = e.effectiveControlToken() else { return nil }
        var request = HTTPClientRequest(url: control + "/stats")
        if e.controlTLS {
            guard let tls = try? ControlTLS.clientConfiguration(caFile: e.controlCA) else { return nil }
            request.tlsConfiguration = tls
        }
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        guard let response = try? await client.execute(request, deadline: .now() + .milliseconds(800)), response.status == .ok,
              let body = try? await response.body.collect(upTo: 1 << 20),
              let json = try? JSONDecoder().decode(StatsSnapshot.self, from: Data(body.readableBytesView))
        else { return nil }
        return EdgeCounts(edge: json.edge, dataCenter: json.dataCenter, requests: json.ratios.requests, hits: json.ratios.hits,
                          bytes: json.ratios.bytes, savedBytes: json.ratios.savedBytes, storedBytes: json.store.bytes,
                          sites: (json.sites ?? [:]).mapValues(\.ratios))
    }
}
