import ArgumentParser
import AsyncHTTPClient
import ControlAPI
import Edge
import Foundation
import HTTPCaching
import Topology

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hit ratio and traffic per edge, per data center and for the fleet.",
        discussion: EdgeStats.definition
    )

    @OptionGroup var fleet: FleetOptions
    @OptionGroup var selection: EdgeSelection
    @Flag(help: "Print JSON for scripts.") var json = false
    @Option(help: "Refresh every N seconds until Ctrl-C.") var watch: Double?
    @Option(help: "Only this site's requests and pushed objects (a name from [[sites]]); the origin and stored columns stay the edge's.") var site: String?

    /// Totals over some edges.
    struct Totals: Codable {
        var name: String
        var requests = 0
        var passes = 0
        var hits = 0
        var bytes = 0
        var savedBytes = 0
        var originRequests = 0
        var originBytes = 0
        var storedBytes = 0
        var pushedBytes = 0
        var hitRatio: Double { requests.subtractingSaturating(passes) == 0 ? 0 : Double(hits) / Double(requests.subtractingSaturating(passes)) }
        var byteHitRatio: Double { bytes == 0 ? 0 : Double(savedBytes) / Double(bytes) }

        mutating func add(_ s: EdgeStats.Snapshot) {
            // Each edge's numbers are input: sums saturate rather than trap.
            requests = requests.addingSaturating(s.outcomes.values.reduce(0) { $0.addingSaturating($1.requests) })
            passes = passes.addingSaturating(s.outcomes["pass"]?.requests ?? 0)
            hits = hits.addingSaturating(s.ratios.hits)
            bytes = bytes.addingSaturating(s.ratios.bytes)
            savedBytes = savedBytes.addingSaturating(s.ratios.savedBytes)
            originRequests = originRequests.addingSaturating(s.origin.requests)
            originBytes = originBytes.addingSaturating(s.origin.bytes)
            storedBytes = storedBytes.addingSaturating(s.store.bytes)
            pushedBytes = pushedBytes.addingSaturating(s.pushed.bytes)
        }

        var row: [String] {
            [name, "\(requests)", String(format: "%.1f%%", hitRatio * 100), String(format: "%.1f%%", byteHitRatio * 100),
             ByteSize.human(savedBytes), "\(originRequests)", ByteSize.human(storedBytes), ByteSize.human(pushedBytes)]
        }
    }

    struct Report: Codable {
        var edges: [Totals]
        var dataCenters: [Totals]
        var fleet: Totals
        var unreachable: [String]
        var definition = EdgeStats.definition
    }

    func validate() throws {
        if let watch, !(watch.isFinite && (0.1...86_400).contains(watch)) { throw ValidationError("--watch takes 0.1 to 86400 seconds") }
    }

    func run() async throws {
        let f = try fleet.load()
        try f.checkSite(site)
        let edges = try selection.select(f)
        repeat {
            let report = await collect(f, edges)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                if watch != nil { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                print(render(report))
            }
            fflush(nil)
            if let watch { try await Task.sleep(for: .milliseconds(Int(saturating: watch * 1000))) }
        } while watch != nil
    }

    private func collect(_ f: FleetConfig, _ edges: [EdgeConfig]) async -> Report {
        let client = HTTPClient.shared
        let results = await withTaskGroup(of: (String, Result<EdgeStats.Snapshot, any Error>).self) { group in
            for e in edges {
                group.addTask { [selection] in
                    switch ControlClient.make(e, client: client, tokenFile: selection.tokenFile) {
                    case .failure(let error): return (e.name, .failure(error))
                    case .success(let c):
                        do { return (e.name, .success(try await c.stats())) } catch { return (e.name, .failure(error)) }
                    }
                }
            }
            var all: [String: Result<EdgeStats.Snapshot, any Error>] = [:]
            for await (n, r) in group { all[n] = r }
            return all
        }
        var report = Report(edges: [], dataCenters: [], fleet: Totals(name: "fleet"), unreachable: [])
        for dc in f.dataCenters {
            var dcTotals = Totals(name: dc.name)
            for e in dc.edges where edges.contains(where: { $0.name == e.name }) {
                switch results[e.name] {
                case .success(var s)?:
                    if let site {
                        // That site's requests only; an edge that does not count it has none.
                        let counts = s.sites?[site]
                        s.outcomes = counts?.outcomes ?? [:]
                        s.ratios = counts?.ratios ?? .init(requests: 0, bytes: 0, hits: 0, savedBytes: 0)
                        s.pushed = counts?.pushed ?? .init()
                    }
                    var t = Totals(name: e.name)
                    t.add(s)
                    report.edges.append(t)
                    dcTotals.add(s)
                    report.fleet.add(s)
                case .failure(let error)?: report.unreachable.append("\(error)")
                case nil: break
                }
            }
            report.dataCenters.append(dcTotals)
        }
        return report
    }

    private func render(_ r: Report) -> String {
        let header = ["", "requests", "hit ratio", "byte hit ratio", "origin bytes saved", "origin requests", "stored", "pushed"]
        var out = Table.render(header: ["edge"] + header.dropFirst(), rows: r.edges.map(\.row)) + "\n\n"
        out += Table.render(header: ["data center"] + header.dropFirst(), rows: r.dataCenters.map(\.row) + [r.fleet.row]) + "\n\n"
        out += "hit ratio: requests answered without an origin request of their own (hit, stale, pushed, collapsed) / all requests but passes\n"
        out += "byte hit ratio: body bytes not fetched from the origin (those and revalidated) / all body bytes but passes\n"
        for u in r.unreachable { out += "! \(u)\n" }
        return out
    }
}
