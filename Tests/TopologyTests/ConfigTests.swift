import TestSupport
import Testing
@testable import Topology

@Suite struct ConfigTests {
    @Test func edgeConfigWithDefaults() throws {
        let dir = TemporaryFolder()
        let file = dir.write("e.toml", "name = \"e1\"\nlisten = \"127.0.1.9:8081\"\ncache_size = \"32MiB\"\n")
        let c = try EdgeConfig.load(file: file)
        #expect(c.name == "e1" && c.listen == ListenAddress(host: "127.0.1.9", port: 8081))
        #expect(c.cacheSize == 32 << 20)
        #expect(c.maxObjectSize == 16 << 20)
        #expect(c.origin.description == "http://127.0.0.1:8080")
    }

    @Test func deeplyNestedValuesAreAnErrorNotAStackOverflow() {
        let text = "x = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect {
            _ = try TOMLDocument(parsing: text, file: "deep.toml")
        } throws: { error in (error as? ConfigError)?.message.contains("nest more than 32") == true }
    }

    @Test(arguments: [
        ("name = \"e\"\ncache_size = \"lots\"", 2, "cache_size", "not a size"),
        ("name = \"e\"\nlisten = \"nowhere\"", 2, "listen", "HOST:PORT"),
        ("name = \"e\"\norigin = \"ftp://x\"", 2, "origin", "http://"),
        ("name = \"e\"\norigin = \"http://o/path\"", 2, "origin", "http://"),
        ("name = \"e\"\ncache_sise = \"1MiB\"", 2, "cache_sise", "unknown setting"),
        ("listen = \"127.0.0.1:1\"", nil, "name", "required"),
        ("name = \"bad name\"", 1, "name", "letters"),
        ("name = 5", 1, "name", "expected a string"),
        ("name = \"e\"\norigin_timeout = 0", 2, "origin_timeout", "0.01 to 86400"),
        ("name = \"e\"\norigin_timeout = 1e999", 2, "origin_timeout", "0.01 to 86400"),
        ("name = \"e\"\nhead_timeout = 0", 2, "head_timeout", "0.1 and 86400"),
        ("name = \"e\"\nmax_connections_per_client = 0", 2, "max_connections_per_client", "between 1 and"),
        ("name = \"e\"\nmax_object_size = 9223372036854775807", 2, "max_object_size", "larger than 1GiB"),
        ("name = \"e\"\ndeny = [\"/\"]", 2, "deny", "CIDR"),
        ("name = \"e\"\nrate_limit = 0", 2, "rate_limit", "between 0.001"),
        ("name = \"e\"\nmax_variants = 0", 2, "max_variants", "1 and 1024"),
        ("name = \"e\"\ncookies = \"eat\"", 2, "cookies", "forward, pass or strip"),
        ("name = \"e\"\nstrip_request_headers = [\"bad header\"]", 2, "strip_request_headers", "not a header name"),
        ("name = \"e\"\neviction = \"fifo\"", 2, "eviction", "'fifo' is not one of s3fifo, lru"),
        ("name = \"e\"\nminify = [\"html\", \"svg\"]", 2, "minify", "'svg' is not one of html, css, js"),
        ("name = \"e\"\ncompress = [\"lzma\"]", 2, "compress", "'lzma' is not one of br, zstd, gzip, deflate"),
        ("name = \"e\"\nclient_buffer_size = 100", 2, "client_buffer_size", "at least 4KiB"),
    ] as [(String, Int?, String, String)])
    func badEdgeConfigNamesFileLineAndField(_ text: String, _ line: Int?, _ field: String, _ fragment: String) {
        let dir = TemporaryFolder()
        let file = dir.write("bad.toml", text)
        #expect {
            _ = try EdgeConfig.load(file: file)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.file == file && e.line == line && e.field == field && e.message.contains(fragment)
        }
    }

    @Test func missingFileSaysSo() {
        #expect {
            _ = try EdgeConfig.load(file: "/nonexistent/e.toml")
        } throws: { error in
            "\(error)".contains("/nonexistent/e.toml") && "\(error)".contains("cannot read")
        }
    }

    @Test func theRepositoryFleetLoads() throws {
        let fleet = try FleetConfig.load(file: repositoryRoot + "/edges/fleet.toml")
        #expect(fleet.dataCenters.count >= 3)
        #expect(fleet.dataCenters.allSatisfy { $0.edges.count >= 2 })
        let addresses = Set(fleet.allEdges.map(\.listen.host))
        #expect(addresses.count == fleet.allEdges.count, "each edge has its own loopback address")
        #expect(addresses.allSatisfy { $0.hasPrefix("127.") })
        let origin = try OriginConfig.load(file: fleet.originConfigFile!)
        #expect(origin.listen.port == fleet.origin.port)
        #expect(origin.cacheControl(forPath: "/assets/app.3f9a2c1b.js").contains("immutable"))
        #expect(origin.cacheControl(forPath: "/index.html").contains("max-age=30"))
        #expect(origin.hosts.map(\.names) == [["docs.cdn.outpost.test"]] && origin.hosts[0].root.hasSuffix("/origin/docs"))
        #expect(origin.cacheControl(forPath: "/css/docs.css", host: origin.hosts[0]).contains("stale-while-revalidate"))
    }

    @Test func theDiskTierIsReadWithItsBounds() throws {
        let dir = TemporaryFolder()
        let good = try EdgeConfig.load(file: dir.write("e.toml", "name = \"e\"\ndisk_cache = \"cache\"\ndisk_cache_size = \"2GiB\"\n"))
        #expect(good.diskCache == dir.path + "/cache" && good.diskCacheSize == 2 << 30, "relative to the file")
        #expect(try EdgeConfig.load(file: dir.write("e.toml", "name = \"e\"\n")).diskCache == nil, "memory only unless set")
        #expect { _ = try EdgeConfig.load(file: dir.write("e.toml", "name = \"e\"\ndisk_cache = \"c\"\ndisk_cache_size = \"10KiB\"\n")) } throws: {
            "\($0)".contains("disk_cache_size") && "\($0)".contains("1MiB")
        }
    }

    @Test func originHostsAreCheckedAsTheyAreRead() {
        let dir = TemporaryFolder()
        dir.write("site/index.html", "x")
        dir.write("docs/index.html", "y")
        for (text, message) in [
            ("[[hosts]]\nnames = [\"docs.test:80\"]\nroot = \"docs\"\n", "not a hostname"),
            ("[[hosts]]\nnames = []\nroot = \"docs\"\n", "list the hostnames"),
            ("[[hosts]]\nnames = [\"a.test\"]\nroot = \"nope\"\n", "is not a folder"),
            ("[[hosts]]\nnames = [\"a.test\"]\nroot = \"docs\"\n[[hosts]]\nnames = [\"A.test\"]\nroot = \"docs\"\n", "listed by two"),
        ] {
            let file = dir.write("origin.toml", "root = \"site\"\n" + text)
            #expect { _ = try OriginConfig.load(file: file) } throws: { "\($0)".contains(message) }
        }
    }

    @Test func fleetRejectsMismatchedDataCenter() {
        let dir = TemporaryFolder()
        dir.write("e1.toml", "name = \"e1\"\ndata_center = \"us\"\nlisten = \"127.0.1.1:8080\"\n")
        let fleet = dir.write("fleet.toml", """
            origin = "http://127.0.0.1:8080"
            [[data_centers]]
            name = "eu"
            location = { lat = 1, lon = 2 }
            edges = ["e1.toml"]
            """)
        #expect {
            _ = try FleetConfig.load(file: fleet)
        } throws: { error in
            "\(error)".contains("e1.toml") && "\(error)".contains("data_center") && "\(error)".contains("'eu'")
        }
    }

    @Test func fleetRejectsDuplicateAddresses() {
        let dir = TemporaryFolder()
        dir.write("e1.toml", "name = \"e1\"\ndata_center = \"eu\"\nlisten = \"127.0.1.1:8080\"\n")
        dir.write("e2.toml", "name = \"e2\"\ndata_center = \"eu\"\nlisten = \"127.0.1.1:8080\"\n")
        let fleet = dir.write("fleet.toml", """
            origin = "http://127.0.0.1:8080"
            [[data_centers]]
            name = "eu"
            location = { lat = 1, lon = 200 }
            edges = ["e1.toml", "e2.toml"]
            """)
        #expect {
            _ = try FleetConfig.load(file: fleet)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.line == 4 && e.field == "data_centers[0].location.lon"
        }
    }

    @Test(arguments: [("64MiB", 64 << 20), ("1GiB", 1 << 30), ("512KiB", 512 << 10), ("100B", 100), ("100", 100), ("1.5MiB", 3 << 19)] as [(String, Int)])
    func byteSizes(_ text: String, _ bytes: Int) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "MiB", "-1MiB", "64MB", "ten"])
    func badByteSizes(_ text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test(arguments: [
        ("/assets/*.[0-9a-f][0-9a-f].js", "/assets/app.3f.js", true),
        ("/assets/*.[0-9a-f][0-9a-f].js", "/assets/app.zz.js", false),
        ("/assets/*.js", "/assets/sub/app.js", false),
        ("/**.html", "/blog/post.html", true),
        ("/**.html", "/index.html", true),
        ("/media/**", "/media/a/b.bin", true),
        ("/?.txt", "/a.txt", true),
        ("/?.txt", "/ab.txt", false),
    ])
    func globs(_ pattern: String, _ path: String, _ matches: Bool) {
        #expect(PathGlob(pattern).matches(path) == matches)
    }
}
