import Foundation
import TestSupport
import Testing

/// The `outpost` binary as users run it: real processes, real ports, real files.
@Suite(.serialized) struct CLITests {
    static let binary: String = {
        let candidates = [
            URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "").deletingLastPathComponent().appendingPathComponent("outpost").path,
            repositoryRoot + "/.build/debug/outpost",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    static func run(_ args: [String], cwd: String = repositoryRoot) throws -> ProcessRun {
        try ProcessRun.run(binary, args, in: cwd)
    }

    @Test func fleetJSONHasTheDocumentedShape() throws {
        let r = try Self.run(["fleet", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let origin = try #require(json["origin"] as? [String: Any])
        #expect(origin["url"] as? String == "http://127.0.0.1:8080")
        let sites = try #require(json["sites"] as? [[String: Any]])
        #expect(sites.map { $0["name"] as? String } == ["www", "docs"], "the demo's two sites")
        #expect((sites.last?["hosts"] as? [String]) == ["docs.cdn.outpost.test"] && sites.last?["origin"] as? String == "http://127.0.0.1:8080")
        let dcs = try #require(json["dataCenters"] as? [[String: Any]])
        #expect(dcs.count >= 3)
        for dc in dcs {
            #expect(dc["name"] is String)
            let loc = try #require(dc["location"] as? [String: Any])
            #expect(loc["lat"] is Double && loc["lon"] is Double)
            #expect(dc["clientNetworks"] is [String])
            let edges = try #require(dc["edges"] as? [[String: Any]])
            #expect(edges.count >= 2)
            for e in edges {
                #expect((e["publicURL"] as? String)?.hasPrefix("http://127.") == true)
                #expect((e["controlURL"] as? String)?.hasSuffix(":9090") == true)
                #expect((e["config"] as? String)?.hasSuffix(".toml") == true)
                #expect(e["name"] is String)
            }
        }
        let table = try Self.run(["fleet"])
        #expect(table.stdout.contains("eu-west-1") && table.stdout.contains("http://127.0.1.1:8080"))
    }

    @Test func fleetJSONListsTheSites() throws {
        let dir = TemporaryFolder()
        dir.write("e.toml", "name = \"e\"\ndata_center = \"dc\"\nlisten = \"127.0.0.1:1\"\n")
        let file = dir.write("fleet.toml", """
            origin = "http://127.0.0.1:8080"
            [[data_centers]]
            name = "dc"
            location = { lat = 0, lon = 0 }
            edges = ["e.toml"]
            [[sites]]
            name = "www"
            hosts = ["www.cdn.test"]
            [[sites]]
            name = "docs"
            hosts = ["*.docs.cdn.test"]
            origin = "http://127.0.0.1:8081"
            """)
        let r = try Self.run(["fleet", "--json", "--fleet", file])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let sites = try #require(json["sites"] as? [[String: Any]])
        #expect(sites.map { $0["name"] as? String } == ["www", "docs"])
        #expect(sites[1]["hosts"] as? [String] == ["*.docs.cdn.test"] && sites[1]["origin"] as? String == "http://127.0.0.1:8081")
        #expect(sites[0]["origin"] as? String == "http://127.0.0.1:8080")
        let purge = try Self.run(["purge", "--fleet", file, "--site", "blog", "--prefix", "/"])
        #expect(purge.status != 0 && purge.stderr.contains("no site 'blog'") && purge.stderr.contains("www, docs"), "\(purge.stderr)")
    }

    @Test func badConfigNamesFileLineAndField() throws {
        let dir = TemporaryFolder()
        let file = dir.write("edge.toml", "name = \"e\"\nlisten = \"127.0.0.1:18999\"\ncache_size = \"huge\"\n")
        let r = try Self.run(["edge", "--config", file])
        #expect(r.status != 0)
        #expect(r.stderr.contains("\(file):3: cache_size: 'huge' is not a size"), "\(r.stderr)")
        let flag = try Self.run(["edge", "--name", "e", "--listen", "127.0.0.1:18998", "--cache-size", "12 parsecs"])
        #expect(flag.status != 0 && flag.stderr.contains("--cache-size"))
    }

    @Test func upStartsTheFleetSurvivesAnEdgeDyingAndStopsCleanly() async throws {
        let dir = TemporaryFolder()
        let base = freePortBlock()
        dir.write("origin.toml", "listen = \"127.0.0.1:\(base)\"\nroot = \"\(repositoryRoot)/origin/site\"\nsynthetic_prefix = \"/_bench/\"\n")
        var dcs = ""
        for (i, dc) in ["north", "south"].enumerated() {
            for n in 1...2 {
                dir.write("\(dc)-\(n).toml", "name = \"\(dc)-\(n)\"\ndata_center = \"\(dc)\"\nlisten = \"127.0.\(i + 201).\(n):\(base + 1)\"\norigin = \"http://127.0.0.1:\(base)\"\n")
            }
            dcs += "[[data_centers]]\nname = \"\(dc)\"\nlocation = { lat = \(i * 10), lon = 0 }\nedges = [\"\(dc)-1.toml\", \"\(dc)-2.toml\"]\n"
        }
        let director = "[director]\nzone = \"cdn.up.test\"\ndns_listen = \"127.0.0.1:\(base + 2)\"\nhttp_listen = \"127.0.0.1:\(base + 3)\"\ndefault_location = { lat = 0, lon = 0 }\n"
        let fleet = dir.write("fleet.toml", "origin = \"http://127.0.0.1:\(base)\"\norigin_config = \"origin.toml\"\n" + dcs + director)

        let up = Process()
        up.executableURL = URL(fileURLWithPath: Self.binary)
        up.arguments = ["up", "--fleet", fleet, "--exit-with-parent"]
        let out = Pipe()
        up.standardOutput = out
        let err = Pipe()
        up.standardError = err
        let errors = OutputCollector(err.fileHandleForReading)
        let stdin = Pipe()  // held open by this process: if the test dies, `up` and its children stop
        up.standardInput = stdin
        let collected = OutputCollector(out.fileHandleForReading)
        try up.run()
        #expect(try await eventually(timeout: 30) { collected.text.contains("Ctrl-C stops everything") }, "banner: \(collected.text) \(errors.text)")
        #expect(collected.text.contains("north-1") && collected.text.contains("http://127.0.202.2:\(base + 1)"))

        let second = try Self.run(["up", "--fleet", fleet])
        #expect(second.status != 0 && second.stderr.contains("already in use"), "a second `up` refuses rather than pretending: \(second.stderr)")

        let miss = try await RawHTTP.async("GET", "/index.html", port: base + 1, host: "127.0.201.1")
        #expect(miss.status == 200 && miss.cacheStatus.hasPrefix("north-1; fwd=miss"))
        // The stored copy is minified and compressed off the event loop; until that is done a
        // request waits on the fetch (collapsed), so ask until the edge answers from storage.
        var hit = try await RawHTTP.async("GET", "/index.html", port: base + 1, host: "127.0.201.1")
        for _ in 0..<50 where hit.cacheStatus.contains("collapsed") {
            try await Task.sleep(for: .milliseconds(20))
            hit = try await RawHTTP.async("GET", "/index.html", port: base + 1, host: "127.0.201.1")
        }
        #expect(hit.cacheStatus.hasPrefix("north-1; hit"))
        #expect(hit.header("age") != nil)

        // Kill one edge the hard way: the others go on, and `up` restarts it (Restart=on-failure),
        // saying so.
        let victim = try #require(ProcessTable.pids(commandLineContaining: dir.path + "/north-1.toml").first)
        kill(victim, SIGKILL)
        let other = try await RawHTTP.async("GET", "/index.html", port: base + 1, host: "127.0.202.1")
        #expect(other.status == 200 && other.cacheStatus.hasPrefix("south-1;"))
        #expect(try await eventually(timeout: 10) {
            let pid = ProcessTable.pids(commandLineContaining: dir.path + "/north-1.toml").first
            return pid != nil && pid != victim && (try? RawHTTP.request("GET", "/", port: base + 1, host: "127.0.201.1", timeout: 1))?.status == 200
        }, "north-1 is restarted with a new process")
        #expect(errors.text.contains("north-1 (pid \(victim)) was killed by signal 9; restarting it in 1 s"), "\(errors.text)")

        // outpost bench replays a Zipf workload of the origin's generated objects through an edge.
        let bench = try Self.run(["bench", "--target", "http://127.0.202.2:\(base + 1)", "--requests", "400", "--objects", "50", "--concurrency", "4"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let ratio = bench.stdout.split(separator: "\n").first { $0.hasPrefix("hit ratio") }?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first
        #expect(ratio.flatMap { Double($0) }.map { $0 > 0.5 } == true, "50 objects, 400 requests: mostly hits: \(bench.stdout) \(bench.stderr)")
        #expect(bench.stdout.contains("p99"))

        // The director runs too (its failover is DirectorEndToEndTests').
        let route = try await RawHTTP.async("GET", "/route?client=192.0.2.1", port: base + 3)
        #expect(route.status == 200 && route.text.contains("\"dataCenter\":\"north\""))

        kill(up.processIdentifier, SIGINT)
        #expect(try await eventually(timeout: 10) { !up.isRunning })
        #expect(up.terminationStatus == 0)
        _ = stdin
        #expect(ProcessTable.pids(commandLineContaining: dir.path).isEmpty, "no child outlives `outpost up`")
    }
}

/// Reads a pipe in the background.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] h in
            let chunk = h.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.lock()
            self.data.append(chunk)
            self.lock.unlock()
        }
    }
    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

enum ProcessTable {
    static func pids(commandLineContaining needle: String) -> [Int32] {
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != me,
                  let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let cmd = String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return cmd.contains(needle) ? pid : nil
        }
    }
}

func eventually(timeout: Double = 5, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}
