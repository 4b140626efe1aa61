import Foundation

/// The fleet dashboard: a page that reads `/dashboard.json` every second and draws the fleet's
/// hit ratio over time (SVG) and each edge's hit ratio (bars), with the definition beside them.
enum Dashboard {
    struct Body: Encodable {
        struct Edge: Encodable {
            var edge: String
            var dataCenter: String
            var requests: Int
            var hitRatio: Double
            var healthy: Bool
        }
        struct Fleet: Encodable {
            var requests: Int
            var hitRatio: Double
            var byteHitRatio: Double
        }
        struct Site: Encodable {
            var site: String
            var requests: Int
            var hitRatio: Double
            var byteHitRatio: Double
        }
        var series: [FleetStats.Point]
        var edges: [Edge]
        /// Per site, over every edge (empty without `[[sites]]`).
        var sites: [Site]
        var fleet: Fleet
        var definition: String
    }

    static func body(stats: FleetStats, health: [EdgeHealth]) -> Body {
        let healthy = Set(health.filter(\.healthy).map(\.name))
        let latest = stats.latest
        let last = stats.series.last
        return Body(
            series: stats.series,
            edges: health.map { h in
                let c = latest.first { $0.edge == h.name }
                return Body.Edge(edge: h.name, dataCenter: h.dataCenter, requests: c?.requests ?? 0, hitRatio: c?.hitRatio ?? 0, healthy: healthy.contains(h.name))
            },
            sites: stats.sites.map { s in
                Body.Site(site: s.site, requests: s.counts.requests,
                          hitRatio: s.counts.requests <= 0 ? 0 : min(1, max(0, Double(s.counts.hits) / Double(s.counts.requests))),
                          byteHitRatio: s.counts.bytes <= 0 ? 0 : min(1, max(0, Double(s.counts.savedBytes) / Double(s.counts.bytes))))
            },
            fleet: Body.Fleet(requests: last?.requests ?? 0, hitRatio: last?.hitRatio ?? 0, byteHitRatio: last?.byteHitRatio ?? 0),
            definition: FleetStats.definition
        )
    }

    static let page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Outpost — fleet hit ratio</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; max-width: 60rem; }
        .big { font-size: 2.5rem; font-weight: 700; } .muted { color: #667; font-size: .9rem; }
        svg { background: #f7f9fb; border: 1px solid #dde3ea; }
        .row { display: flex; align-items: center; gap: .75rem; margin: .25rem 0; }
        .name { width: 10rem; } .track { flex: 1; background: #eef2f5; height: 1rem; }
        .bar { height: 1rem; background: #0b6e99; } .down .bar { background: #b42318; } .down .name::after { content: " (down)"; color: #b42318; }
        </style></head>
        <body>
        <h1>Fleet hit ratio</h1>
        <p><span class="big" id="fleet-ratio">–</span> <span id="fleet-detail" class="muted"></span></p>
        <p class="muted" id="definition"></p>
        <svg id="hit-ratio-plot" width="800" height="240" viewBox="0 0 800 240" role="img" aria-label="Fleet hit ratio over time">
          <g id="grid"></g>
          <path id="cumulative" fill="none" stroke="#0b6e99" stroke-width="2"></path>
          <path id="recent" fill="none" stroke="#e8a33d" stroke-width="1.5"></path>
        </svg>
        <p class="muted"><span style="color:#0b6e99">━</span> since start &nbsp; <span style="color:#e8a33d">━</span> last second</p>
        <h2>Edges</h2>
        <div id="edges"></div>
        <div id="sites-section" hidden><h2>Sites</h2><div id="sites"></div></div>
        <script>
        "use strict";
        const errors = [];
        window.addEventListener("error", (e) => { errors.push(String(e.message)); document.body.dataset.errors = errors.join(" | "); });
        const W = 800, H = 240, PAD = 30;
        function pct(x) { return (x * 100).toFixed(1) + "%"; }
        function drawGrid() {
          const g = document.getElementById("grid");
          g.innerHTML = "";
          for (let i = 0; i <= 4; i++) {
            const y = PAD + (H - 2 * PAD) * (1 - i / 4);
            g.insertAdjacentHTML("beforeend", `<line x1="${PAD}" x2="${W - 5}" y1="${y}" y2="${y}" stroke="#dde3ea"/>` +
              `<text x="2" y="${y + 4}" font-size="10" fill="#667">${i * 25}%</text>`);
          }
        }
        function path(points, key) {
          const pts = points.filter((p) => p[key] !== null && p[key] !== undefined);
          if (pts.length === 0) return "";
          const t0 = points[0].time, t1 = Math.max(points[points.length - 1].time, t0 + 1);
          return pts.map((p, i) => {
            const x = PAD + (W - PAD - 5) * (p.time - t0) / (t1 - t0);
            const y = PAD + (H - 2 * PAD) * (1 - p[key]);
            return (i === 0 ? "M" : "L") + x.toFixed(1) + "," + y.toFixed(1);
          }).join(" ");
        }
        async function refresh() {
          const r = await fetch("/dashboard.json", { cache: "no-store" });
          const d = await r.json();
          document.getElementById("fleet-ratio").textContent = pct(d.fleet.hitRatio);
          document.getElementById("fleet-detail").textContent =
            `of ${d.fleet.requests} requests; byte hit ratio ${pct(d.fleet.byteHitRatio)}`;
          document.getElementById("definition").textContent = d.definition;
          document.getElementById("cumulative").setAttribute("d", path(d.series, "hitRatio"));
          document.getElementById("recent").setAttribute("d", path(d.series, "recentHitRatio"));
          const edges = document.getElementById("edges");
          edges.innerHTML = d.edges.map((e) =>
            `<div class="row edge ${e.healthy ? "up" : "down"}" data-edge="${e.edge}"><span class="name">${e.edge}</span>` +
            `<span class="track"><div class="bar" style="width:${(e.hitRatio * 100).toFixed(1)}%"></div></span>` +
            `<span>${pct(e.hitRatio)} of ${e.requests}</span></div>`).join("");
          document.getElementById("sites-section").hidden = d.sites.length === 0;
          document.getElementById("sites").innerHTML = d.sites.map((s) =>
            `<div class="row site" data-site="${s.site}"><span class="name">${s.site}</span>` +
            `<span class="track"><div class="bar" style="width:${(s.hitRatio * 100).toFixed(1)}%"></div></span>` +
            `<span>${pct(s.hitRatio)} of ${s.requests}; bytes ${pct(s.byteHitRatio)}</span></div>`).join("");
          document.body.dataset.points = String(d.series.length);
        }
        drawGrid();
        refresh().catch((e) => { errors.push(String(e)); document.body.dataset.errors = errors.join(" | "); });
        setInterval(() => refresh().catch((e) => { errors.push(String(e)); document.body.dataset.errors = errors.join(" | "); }), 1000);
        </script>
        </body></html>
        """
}
