import Foundation
import Origin
import TestSupport
import Testing
import Topology
@testable import Edge

/// Several sites on one edge (`[[sites]]`): the Host selects the site, its origin and its keys.
@Suite struct SitesTests {
    static let token = "sites-token-0123456789abcdef"

    /// Two origins that answer the same path differently, and say which Host they were asked for.
    static func origins() async throws -> (www: ScriptedOrigin, docs: ScriptedOrigin) {
        let www = ScriptedOrigin(), docs = ScriptedOrigin()
        for (origin, name) in [(www, "www"), (docs, "docs")] {
            origin.route("/index.html") { req in
                .init(headers: [("Cache-Control", "max-age=300"), ("Content-Type", "text/plain")], body: "\(name) for \(req.header("host") ?? "-")")
            }
        }
        _ = try await www.start()
        _ = try await docs.start()
        return (www, docs)
    }

    static func edge(_ www: ScriptedOrigin, _ docs: ScriptedOrigin, dataDir: String) async throws -> EdgeServer {
        var config = EdgeConfig(
            name: "sites-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(www.url)!, originConnectTimeout: 0.5,
            controlListen: ListenAddress(host: "127.0.0.1", port: 0), controlToken: token, dataDirectory: dataDir
        )
        config.sites = [
            SiteConfig(name: "www", hosts: [HostPattern("www.example.test")!, HostPattern("example.test")!], origin: OriginURL(www.url)!,
                       originHost: "origin.www.test"),
            SiteConfig(name: "docs", hosts: [HostPattern("*.docs.test")!], origin: OriginURL(docs.url)!),
        ]
        let edge = try EdgeServer(config: config)
        try await edge.start()
        return edge
    }

    static func get(_ edge: EdgeServer, _ host: String, _ path: String = "/index.html") async throws -> RawResponse {
        try await RawHTTP.async("GET", path, port: edge.port, headers: ["Host": host])
    }

    @Test func samePathTwoSitesTwoOriginsTwoObjects() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        let edge = try await Self.edge(www, docs, dataDir: dir.path)
        let a = try await Self.get(edge, "www.example.test")
        #expect(a.status == 200 && a.text == "www for origin.www.test", "origin_host is the Host the origin sees: \(a.text)")
        let b = try await Self.get(edge, "api.docs.test:\(edge.port)")
        #expect(b.status == 200 && b.text == "docs for api.docs.test:\(edge.port)", "without origin_host the client's Host goes on: \(b.text)")
        // Both stored, each under its own site; hits do not cross.
        #expect(try await eventually { edge.store.stats.objects == 2 })
        let hitA = try await Self.get(edge, "WWW.Example.Test.")
        #expect(hitA.text == "www for origin.www.test" && hitA.cacheStatus.contains("hit"), "\(hitA.cacheStatus)")
        let hitB = try await Self.get(edge, "api.docs.test:\(edge.port)")
        #expect(hitB.text == "docs for api.docs.test:\(edge.port)" && hitB.cacheStatus.contains("hit"))
        // Another host of the same site shares www's keys (origin_host), but a docs host of its own is its own object.
        #expect(try await Self.get(edge, "example.test").cacheStatus.contains("hit"))
        let other = try await Self.get(edge, "v2.docs.test")
        #expect(other.text == "docs for v2.docs.test" && other.cacheStatus.contains("fwd=miss"))
        #expect(www.count("/index.html") == 1 && docs.count("/index.html") == 2)
        await edge.stop()
    }

    @Test func anUnknownHostIs421AndNeverAnotherSitesContent() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        let edge = try await Self.edge(www, docs, dataDir: dir.path)
        _ = try await Self.get(edge, "www.example.test")
        for host in ["evil.test", "docs.test", "www.example.test.evil", "127.0.0.1:\(edge.port)", "bad host"] {
            let r = try await Self.get(edge, host)
            #expect(r.status == 421, "\(host): \(r.status)")
            #expect(!r.text.contains("www for"), "\(host) got another site's content")
            #expect(r.text.contains("www.example.test") && r.text.contains("*.docs.test"), "names the hosts served: \(r.text)")
        }
        // An absolute-form target names the host, in any case of its scheme (RFC 9112 §3.2.2).
        let absolute = try await RawHTTP.async("GET", "HTTP://nobody.test/index.html", port: edge.port, headers: ["Host": "www.example.test"])
        #expect(absolute.status == 421 && absolute.text.contains("'nobody.test'"), "\(absolute.status) \(absolute.text)")
        let twoHosts = try RawConnection(host: "127.0.0.1", port: edge.port)
        twoHosts.send("GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nHost: a.docs.test\r\n\r\n")
        #expect(try twoHosts.readResponse().status == 400, "two Hosts could select two sites")
        let portless = try await Self.get(edge, "www.example.test:99999")
        #expect(portless.status == 421)
        // HTTP/1.0 without Host: no site either.
        let c = try RawConnection(host: "127.0.0.1", port: edge.port)
        c.send("GET /index.html HTTP/1.0\r\n\r\n")
        #expect(try c.readResponse().status == 421)
        #expect(www.count("/index.html") == 1 && docs.count("/index.html") == 0)
        await edge.stop()
    }

    @Test func aPurgeOfOneSiteLeavesTheOther() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        let edge = try await Self.edge(www, docs, dataDir: dir.path)
        _ = try await Self.get(edge, "www.example.test")
        _ = try await Self.get(edge, "a.docs.test")
        #expect(try await eventually { edge.store.stats.objects == 2 })
        let auth = ["Authorization": "Bearer \(Self.token)"]
        let unknown = try await RawHTTP.async("POST", "/purge?prefix=/&site=nope", port: edge.controlPort, headers: auth, body: "")
        #expect(unknown.status == 404 && unknown.text.contains("www, docs"))
        let purged = try await RawHTTP.async("POST", "/purge?prefix=/&site=docs", port: edge.controlPort, headers: auth, body: "")
        #expect(purged.status == 200 && purged.text.contains("\"pulled\":1"), "\(purged.text)")
        #expect(try await Self.get(edge, "www.example.test").cacheStatus.contains("hit"))
        #expect(try await Self.get(edge, "a.docs.test").cacheStatus.contains("fwd=miss"))
        // A full URL's host says which site's object it is.
        #expect(try await Self.get(edge, "a.docs.test").cacheStatus.contains("hit"))
        let byURL = try await RawHTTP.async("POST", "/purge?url=http://a.docs.test/index.html", port: edge.controlPort, headers: auth, body: "")
        #expect(byURL.text.contains("\"pulled\":1"), "\(byURL.text)")
        #expect(try await Self.get(edge, "www.example.test").cacheStatus.contains("hit"), "the other site's same path stays")
        #expect(try await Self.get(edge, "a.docs.test").cacheStatus.contains("fwd=miss"))
        let nobody = try await RawHTTP.async("POST", "/purge?url=http://nobody.test/index.html", port: edge.controlPort, headers: auth, body: "")
        #expect(nobody.status == 404, "\(nobody.text)")
        let two = try await RawHTTP.async("POST", "/purge?url=http://a.docs.test/a&url=http://www.example.test/b", port: edge.controlPort, headers: auth, body: "")
        #expect(two.status == 400, "\(two.text)")
        await edge.stop()
    }

    @Test func pushesManifestsAndPurgesAreEachSitesOwn() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        var edge = try await Self.edge(www, docs, dataDir: dir.path)
        let auth = ["Authorization": "Bearer \(Self.token)", "X-Outpost-Expires": "1h"]
        // No site= is the first site; site=docs is docs'.
        #expect(try await RawHTTP.async("PUT", "/push/index.html", port: edge.controlPort, headers: auth, body: "pushed to www").status == 201)
        #expect(try await RawHTTP.async("PUT", "/push/guide.txt?site=docs", port: edge.controlPort, headers: auth, body: "pushed to docs").status == 201)
        let unknown = try await RawHTTP.async("PUT", "/push/x.txt?site=nope", port: edge.controlPort, headers: auth, body: "x")
        #expect(unknown.status == 404 && unknown.text.contains("www, docs"), "\(unknown.text)")
        #expect(try await Self.get(edge, "www.example.test").text == "pushed to www")
        #expect(try await Self.get(edge, "a.docs.test").text == "docs for a.docs.test", "a push to one site is invisible on the other")
        #expect(try await Self.get(edge, "a.docs.test", "/guide.txt").text == "pushed to docs")
        let wwwGuide = try await Self.get(edge, "www.example.test", "/guide.txt")
        #expect(wwwGuide.status == 404 && !wwwGuide.text.contains("pushed to docs"))
        let manifest = try await RawHTTP.async("GET", "/manifest?site=docs", port: edge.controlPort, headers: auth)
        #expect(manifest.text.contains("\"site\":\"docs\"") && manifest.text.contains("/guide.txt") && !manifest.text.contains("/index.html"), "\(manifest.text)")
        // Each site's pushes are in its own folder, and back after a restart.
        #expect(FileManager.default.fileExists(atPath: dir.path + "/sites/docs/objects"))
        await edge.stop()
        edge = try await Self.edge(www, docs, dataDir: dir.path)
        #expect(try await Self.get(edge, "a.docs.test", "/guide.txt").text == "pushed to docs")
        #expect(try await Self.get(edge, "www.example.test").text == "pushed to www")
        // A purge of one site's pushes leaves the other's.
        let purged = try await RawHTTP.async("POST", "/purge?prefix=/&site=docs", port: edge.controlPort, headers: auth, body: "")
        #expect(purged.text.contains("\"pushed\":1"), "\(purged.text)")
        #expect(try await Self.get(edge, "a.docs.test", "/guide.txt").status == 404)
        #expect(try await Self.get(edge, "www.example.test").text == "pushed to www")
        let metrics = try await RawHTTP.async("GET", "/metrics", port: edge.controlPort, headers: auth)
        #expect(metrics.text.contains("outpost_site_pushed_objects{edge=\"sites-edge\",site=\"www\"} 1")
                && metrics.text.contains("outpost_site_pushed_objects{edge=\"sites-edge\",site=\"docs\"} 0"), "\(metrics.text.split(separator: "\n").filter { $0.contains("pushed") })")
        let stats = try await RawHTTP.async("GET", "/stats", port: edge.controlPort, headers: auth)
        #expect(stats.text.contains("\"pushed\":{\"bytes\":13,\"requests\":1}") || stats.text.contains("\"pushed\":{\"requests\":1,\"bytes\":13}"), "\(stats.text.prefix(600))")
        await edge.stop()
    }

    /// What was pushed before the edge had sites is its first site's afterwards.
    @Test func pushesFromBeforeSitesBecomeTheFirstSites() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        let config = EdgeConfig(name: "plain", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(www.url)!,
                                controlListen: ListenAddress(host: "127.0.0.1", port: 0), controlToken: Self.token, dataDirectory: dir.path)
        let plain = try EdgeServer(config: config)
        try await plain.start()
        let auth = ["Authorization": "Bearer \(Self.token)", "X-Outpost-Expires": "1h"]
        #expect(try await RawHTTP.async("PUT", "/push/old.txt", port: plain.controlPort, headers: auth, body: "from before").status == 201)
        await plain.stop()
        let edge = try await Self.edge(www, docs, dataDir: dir.path)
        #expect(try await Self.get(edge, "www.example.test", "/old.txt").text == "from before")
        #expect(try await Self.get(edge, "a.docs.test", "/old.txt").status == 404)
        await edge.stop()
    }

    /// A site's own cache rules, asset settings and push capacity win over the edge's.
    @Test func eachSiteHasItsOwnCacheRulesAssetsAndPushCapacity() async throws {
        let www = ScriptedOrigin(), docs = ScriptedOrigin()
        let css = String(repeating: "body  {  color : red ;  }\n", count: 40)
        for origin in [www, docs] {
            origin.route("/plain.txt") { _ in .init(headers: [("Content-Type", "text/plain")], body: "no lifetime stated") }
            origin.route("/site.css") { _ in .init(headers: [("Cache-Control", "max-age=300"), ("Content-Type", "text/css")], body: css) }
        }
        _ = try await www.start()
        _ = try await docs.start()
        let dir = TemporaryFolder()
        dir.write("e.toml", "name = \"e\"\ndata_center = \"dc\"\nlisten = \"127.0.0.1:0\"\ncontrol_listen = \"127.0.0.1:0\"\ncontrol_token = \"\(Self.token)\"\npush_capacity = \"40B\"\n")
        let fleetFile = dir.write("fleet.toml", """
            origin = "\(www.url)"
            [[data_centers]]
            name = "dc"
            location = { lat = 0, lon = 0 }
            edges = ["e.toml"]
            [[sites]]
            name = "www"
            hosts = ["www.test"]
            [[sites]]
            name = "docs"
            hosts = ["docs.test"]
            origin = "\(docs.url)"
            minify = []
            compress = []
            push_capacity = "10B"
            [[sites.cache_rules]]
            path = "/**.txt"
            default_ttl = "1h"
            """)
        let fleet = try FleetConfig.load(file: fleetFile)
        #expect(fleet.sites[1].settings.cacheRules?.count == 1 && fleet.sites[1].settings.compress == [] && fleet.sites[1].settings.pushCapacity == 10)
        var config = fleet.allEdges[0]
        config.dataDirectory = dir.path + "/data"
        let edge = try EdgeServer(config: config)
        try await edge.start()
        // docs' rule stores what states no lifetime; www has no rule, so it is not stored.
        for _ in 0..<2 {
            _ = try await RawHTTP.async("GET", "/plain.txt", port: edge.port, headers: ["Host": "docs.test"])
            _ = try await RawHTTP.async("GET", "/plain.txt", port: edge.port, headers: ["Host": "www.test"])
        }
        #expect(docs.count("/plain.txt") == 1 && www.count("/plain.txt") == 2, "docs \(docs.count("/plain.txt")), www \(www.count("/plain.txt"))")
        // www minifies and compresses its CSS; docs serves it as it came.
        _ = try await RawHTTP.async("GET", "/site.css", port: edge.port, headers: ["Host": "www.test"])
        _ = try await RawHTTP.async("GET", "/site.css", port: edge.port, headers: ["Host": "docs.test"])
        var wwwCoding: String?
        for _ in 0..<50 where wwwCoding != "gzip" {  // the pipeline runs off the event loop
            wwwCoding = try await RawHTTP.async("GET", "/site.css", port: edge.port, headers: ["Host": "www.test", "Accept-Encoding": "gzip"]).header("content-encoding")
            if wwwCoding != "gzip" { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(wwwCoding == "gzip", "www's CSS is compressed")
        let docsCSS = try await RawHTTP.async("GET", "/site.css", port: edge.port, headers: ["Host": "docs.test", "Accept-Encoding": "gzip"])
        #expect(docsCSS.header("content-encoding") == nil && docsCSS.text == css, "docs' CSS is as the origin sent it")
        // docs may hold 10 bytes of pushes; www the edge's default.
        let auth = ["Authorization": "Bearer \(Self.token)", "X-Outpost-Expires": "1h"]
        let big = try await RawHTTP.async("PUT", "/push/big.txt?site=docs", port: edge.controlPort, headers: auth, body: "more than ten bytes")
        #expect(big.status == 507, "\(big.status) \(big.text)")
        #expect(try await RawHTTP.async("PUT", "/push/big.txt?site=www", port: edge.controlPort, headers: auth, body: "more than ten bytes").status == 201)
        // The edge's push_capacity (40 bytes) holds for its sites together.
        #expect(try await RawHTTP.async("PUT", "/push/big2.txt?site=www", port: edge.controlPort, headers: auth, body: "more than ten bytes").status == 201)
        let shared = try await RawHTTP.async("PUT", "/push/small.txt?site=docs", port: edge.controlPort, headers: auth, body: "small")
        #expect(shared.status == 507 && shared.text.contains("shared by all its sites"), "\(shared.status) \(shared.text)")
        await edge.stop()
    }
}

extension SitesTests {
    @Test func perSiteCountsAddUpToTheEdgesAndReachTheMetricsAndTheLog() async throws {
        let (www, docs) = try await Self.origins()
        let dir = TemporaryFolder()
        let log = dir.path + "/access.log"
        var config = EdgeConfig(name: "sites-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(www.url)!)
        config.accessLog = log
        config.sites = [
            SiteConfig(name: "www", hosts: [HostPattern("www.example.test")!], origin: OriginURL(www.url)!),
            SiteConfig(name: "docs", hosts: [HostPattern("*.docs.test")!], origin: OriginURL(docs.url)!),
        ]
        let edge = try EdgeServer(config: config)
        try await edge.start()
        for _ in 0..<3 { _ = try await Self.get(edge, "www.example.test") }
        for _ in 0..<5 { _ = try await Self.get(edge, "a.docs.test") }
        let snapshot = edge.statsSnapshot
        let sites = try #require(snapshot.sites)
        let www3 = sites["www"]?.outcomes.values.reduce(0) { $0 + $1.requests }
        let docs5 = sites["docs"]?.outcomes.values.reduce(0) { $0 + $1.requests }
        #expect(www3 == 3 && docs5 == 5, "\(sites)")
        let edgeTotal = snapshot.outcomes.values.reduce(0) { $0 + $1.requests }
        #expect(edgeTotal == 8)
        #expect(sites["www"]!.ratios.requests + sites["docs"]!.ratios.requests == snapshot.ratios.requests)
        #expect(sites["www"]!.ratios.hits + sites["docs"]!.ratios.hits == snapshot.ratios.hits)
        #expect(sites["docs"]!.outcomes["miss"]?.requests == 1)
        // A misdirected request is the edge's (an error), no site's.
        #expect(try await Self.get(edge, "nobody.test").status == 421)
        let after = edge.statsSnapshot
        #expect(after.outcomes["error"]?.requests == 1 && after.sites?.values.allSatisfy { $0.outcomes["error"]?.requests == 0 } == true)
        let metrics = String(decoding: edge.metricsText(), as: UTF8.self)
        #expect(metrics.contains(#"outpost_site_requests_total{edge="sites-edge",site="docs",outcome="miss"} 1"#), "\(metrics)")
        await edge.stop()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.hasSuffix(" docs") }.count == 5 && lines.filter { $0.hasSuffix(" www") }.count == 3, "\(lines)")
    }
}

@Suite struct SiteConfigTests {
    @Test func hostPatterns() {
        let wild = HostPattern("*.Docs.Example")!
        #expect(wild.matches("a.docs.example") && wild.matches("a.b.docs.example"))
        #expect(!wild.matches("docs.example") && !wild.matches("adocs.example") && !wild.matches("docs.example.evil"))
        #expect(HostPattern("www.example")!.matches("www.example"))
        for bad in ["", "*", "*.", "a..b", "http://x", "x:80", "a b", "*.*.x", String(repeating: "a", count: 64) + ".x"] {
            #expect(HostPattern(bad) == nil, "\(bad)")
        }
        #expect(HostPattern.normalise("WWW.Example.:8080") == "www.example")
        #expect(HostPattern.normalise("[::1]:80") == "[::1]")
        #expect(HostPattern.normalise("[a b]") == nil && HostPattern.normalise("[::1]x") == nil && HostPattern.normalise("[０::1]") == nil)
        #expect(HostPattern.split("a.test:8080")! == ("a.test", 8080) && HostPattern.split("a.test")! == ("a.test", nil))
        #expect(HostPattern.split("a.test:0") == nil && HostPattern.split("a.test:65536") == nil && HostPattern.split("a.test:000000080") == nil)
        #expect(HostPattern.normalise("x:8o") == nil && HostPattern.normalise("a/b") == nil && HostPattern.normalise("") == nil)
    }

    @Test func theFleetFileDeclaresSitesAndGivesThemToEveryEdge() throws {
        let dir = TemporaryFolder()
        dir.write("e.toml", "name = \"e\"\ndata_center = \"dc\"\nlisten = \"127.0.0.1:1\"\n")
        let dc = "[[data_centers]]\nname = \"dc\"\nlocation = { lat = 0, lon = 0 }\nedges = [\"e.toml\"]\n"
        let good = dir.write("fleet.toml", "origin = \"http://127.0.0.1:8080\"\n" + dc + """
            [[sites]]
            name = "www"
            hosts = ["www.cdn.test"]
            [[sites]]
            name = "docs"
            hosts = ["docs.cdn.test", "*.docs.cdn.test"]
            origin = "http://127.0.0.1:8081"
            origin_host = "docs.internal"
            """)
        let fleet = try FleetConfig.load(file: good)
        #expect(fleet.sites.map(\.name) == ["www", "docs"])
        #expect(fleet.sites[0].origin.description == "http://127.0.0.1:8080", "a site's origin defaults to the fleet's")
        #expect(fleet.sites[1].originHost == "docs.internal" && fleet.sites[1].origin.port == 8081)
        #expect(fleet.allEdges[0].sites == fleet.sites)
        let cases: [(String, String)] = [
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\n[[sites]]\nname = \"b\"\nhosts = [\"X.test\"]\n", "claimed by both 'a' and 'b'"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\n[[sites]]\nname = \"a\"\nhosts = [\"y.test\"]\n", "defined twice"),
            ("[[sites]]\nname = \"a\"\nhosts = []\n", "lists no hosts"),
            ("[[sites]]\nname = \"A b\"\nhosts = [\"x.test\"]\n", "not a site name"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test:80\"]\n", "not a hostname"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\norigin = \"ftp://x\"\n", "origin"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\ncolour = 1\n", "colour"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\ntls_certificate = \"a.crt\"\n", "set both tls_certificate and tls_key"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\ngzip_level = 10\n", "gzip_level"),
            ("[[sites]]\nname = \"a\"\nhosts = [\"x.test\"]\n[[sites.cache_rules]]\npath = \"nope\"\n", "must start with '/'"),
        ]
        for (text, message) in cases {
            let file = dir.write("bad.toml", "origin = \"http://127.0.0.1:8080\"\n" + dc + text)
            do {
                _ = try FleetConfig.load(file: file)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}

extension SitesTests {
    /// The demo's two sites (edges/fleet.toml, origin/origin.toml) through one of its edges:
    /// same path, different content; the edge's address reaches the shop; others are 421.
    @Test func theDemoFleetServesTwoSitesFromOneOrigin() async throws {
        let fleet = try FleetConfig.load(file: repositoryRoot + "/edges/fleet.toml")
        #expect(fleet.sites.map(\.name) == ["www", "docs"])
        var originConfig = try OriginConfig.load(file: fleet.originConfigFile!)
        originConfig.listen = ListenAddress(host: "127.0.0.1", port: 0)
        let origin = try OriginServer(config: originConfig)
        let originPort = try await origin.start()
        let dir = TemporaryFolder()
        var config = fleet.allEdges[0]
        let address = config.listen.host
        config.listen = ListenAddress(host: "127.0.0.1", port: 0)
        config.tlsListen = nil
        config.controlListen = nil
        config.accessLog = nil
        config.dataDirectory = dir.path
        config.origin = OriginURL("http://127.0.0.1:\(originPort)")!
        for i in config.sites.indices { config.sites[i].origin = config.origin }
        let edge = try EdgeServer(config: config)
        try await edge.start()
        let shop = try await Self.get(edge, "www.cdn.outpost.test", "/index.html")
        let docs = try await Self.get(edge, "docs.cdn.outpost.test", "/index.html")
        #expect(shop.status == 200 && shop.text.contains("Coffee, roasted by the sea"))
        #expect(docs.status == 200 && docs.text.contains("Documentation") && !docs.text.contains("roasted by the sea"))
        let byAddress = try await Self.get(edge, "\(address):8080", "/index.html")
        #expect(byAddress.text.contains("Coffee, roasted by the sea") && byAddress.cacheStatus.contains("hit"), "the edge's address is the shop, under the same key: \(byAddress.cacheStatus)")
        #expect(try await Self.get(edge, "unknown.cdn.outpost.test").status == 421)
        let css = try await Self.get(edge, "docs.cdn.outpost.test", "/css/docs.css")
        #expect(css.status == 200 && css.text.contains("Georgia"))
        await edge.stop()
        await origin.stop()
    }
}
