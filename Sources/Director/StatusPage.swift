import Foundation
import HTTPCaching
import Topology

/// The director's status page: data centers, their edges' health, and recent state changes.
enum StatusPage {
    static func render(fleet: FleetConfig, health: [EdgeHealth], changes: [HealthChange], now: Double) -> String {
        let byName = Dictionary(health.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var rows = ""
        for dc in fleet.dataCenters {
            let up = dc.edges.filter { byName[$0.name]?.healthy == true }.count
            rows += "<tr class=\"dc\"><th colspan=\"4\">\(escape(dc.name)) — \(up)/\(dc.edges.count) healthy "
                + "<small>(\(dc.location.lat), \(dc.location.lon); clients \(escape(dc.clientNetworks.map(\.description).joined(separator: ", "))))</small></th></tr>\n"
            for e in dc.edges {
                let h = byName[e.name]
                let state = h == nil ? "unknown" : (h!.healthy ? "up" : "down")
                let detail = h?.lastError ?? h?.latencyMs.map { String(format: "%.1f ms", $0) } ?? ""
                rows += "<tr class=\"\(state)\"><td>\(escape(e.name))</td><td>\(escape(e.listen.httpURL))</td><td>\(state.uppercased())</td><td>\(escape(detail))</td></tr>\n"
            }
        }
        let recent = changes.suffix(30).reversed().map { c in
            "<li><time>\(HTTPDate.format(c.time))</time> <b>\(escape(c.edge))</b> \(c.healthy ? "UP" : "DOWN"): \(escape(c.reason))</li>"
        }.joined(separator: "\n")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
            <title>Outpost director — \(escape(fleet.director.zone))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
            table { border-collapse: collapse; } td, th { padding: .25rem .75rem; text-align: left; }
            tr.dc th { background: #eef2f5; } tr.up td:nth-child(3) { color: #0a7a33; font-weight: bold; }
            tr.down td:nth-child(3) { color: #b42318; font-weight: bold; } li { margin: .2rem 0; } time { color: #667; }
            </style></head>
            <body>
            <h1>Outpost director</h1>
            <p>Zone <code>\(escape(fleet.director.zone))</code>, DNS on <code>\(fleet.director.dnsListen)</code>, HTTP on <code>\(fleet.director.httpListen)</code>.
            Health checks every \(Int(fleet.director.checkInterval * 1000)) ms; down after \(fleet.director.fall) failures, up after \(fleet.director.rise) successes.</p>
            <table>
            \(rows)</table>
            <h2>Recent changes</h2>
            <ul>
            \(recent.isEmpty ? "<li>none</li>" : recent)
            </ul>
            </body></html>
            """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
