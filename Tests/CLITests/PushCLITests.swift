import Foundation
import TestSupport
import Testing

/// `outpost push` and `outpost purge` against real edge processes with real data folders.
@Suite(.serialized) struct PushCLITests {
    static let token = "cli-test-token-0123456789abcdef"

    /// A one-data-center fleet of two edges, as child processes of the test.
    final class Fleet: @unchecked Sendable {
        let dir = TemporaryFolder()
        let base = freePortBlock()
        var processes: [String: Process] = [:]
        var stdins: [String: Pipe] = [:]
        var fleetFile: String { dir.path + "/fleet.toml" }

        init() {
            var edges: [String] = []
            for n in 1...2 {
                dir.write("e\(n).toml", """
                    name = "e\(n)"
                    data_center = "dc"
                    listen = "127.0.211.\(n):\(base)"
                    control_listen = "127.0.211.\(n):\(base + 1)"
                    control_token = "\(PushCLITests.token)"
                    data_dir = "data-e\(n)"
                    origin = "http://127.0.0.1:1"
                    origin_connect_timeout = 0.3
                    """)
                edges.append("\"e\(n).toml\"")
            }
            dir.write("fleet.toml", "origin = \"http://127.0.0.1:1\"\n[[data_centers]]\nname = \"dc\"\nlocation = { lat = 0, lon = 0 }\nedges = [\(edges.joined(separator: ", "))]\n")
        }

        func start(_ name: String) async throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.binary)
            p.arguments = ["edge", "--config", dir.path + "/\(name).toml", "--exit-with-parent"]
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            // Its standard input is a pipe this process holds: if the test dies, the edge exits.
            let stdin = Pipe()
            p.standardInput = stdin
            stdins[name] = stdin
            try p.run()
            processes[name] = p
            let n = Int(name.dropFirst())!
            #expect(try await eventually(timeout: 15) { (try? RawHTTP.request("GET", "/health", port: self.base + 1, host: "127.0.211.\(n)", timeout: 1))?.status == 200 })
        }

        func stopAll() {
            for p in processes.values where p.isRunning {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
        }

        func get(_ edge: Int, _ path: String) throws -> RawResponse {
            try RawHTTP.request("GET", path, port: base, host: "127.0.211.\(edge)")
        }

        func manifest(_ edge: Int) throws -> String {
            try RawHTTP.request("GET", "/manifest", port: base + 1, host: "127.0.211.\(edge)", headers: ["Authorization": "Bearer \(PushCLITests.token)"]).text
        }

        deinit { stopAll() }
    }

    @Test func pushUploadsOnlyWhatChangedDeletesAndPurges() async throws {
        let fleet = Fleet()
        try await fleet.start("e1")
        try await fleet.start("e2")
        let site = TemporaryFolder()
        site.write("index.html", "<h1>v1</h1>")
        site.write("css/a.css", "a{}")
        site.write("js/b.js", "let b")

        let first = try CLITests.run(["push", site.path, "--prefix", "/site", "--expires", "1h", "--tag", "release-1", "--fleet", fleet.fleetFile])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("e1") && first.stdout.contains("e2"))
        #expect(try fleet.get(1, "/site/css/a.css").text == "a{}")
        #expect(try fleet.get(2, "/site/index.html").header("content-type") == "text/html; charset=utf-8")

        site.write("css/a.css", "a{color:red}")
        let dry = try CLITests.run(["push", site.path, "--prefix", "/site", "--expires", "1h", "--dry-run", "--fleet", fleet.fleetFile])
        #expect(dry.stdout.contains("upload /site/css/a.css") && !dry.stdout.contains("upload /site/js/b.js"))
        #expect(try fleet.get(1, "/site/css/a.css").text == "a{}", "a dry run changes nothing")

        let second = try CLITests.run(["push", site.path, "--prefix", "/site", "--expires", "1h", "--fleet", fleet.fleetFile])
        let e1Row = try #require(second.stdout.split(separator: "\n").first { $0.hasPrefix("e1 ") })
        #expect(e1Row.split(separator: " ", omittingEmptySubsequences: true)[1...3] == ["1", "2", "0"], "uploaded 1, unchanged 2, deleted 0: \(e1Row)")
        #expect(try fleet.get(1, "/site/css/a.css").text == "a{color:red}")

        try FileManager.default.removeItem(atPath: site.path + "/js/b.js")
        let third = try CLITests.run(["push", site.path, "--prefix", "/site", "--expires", "1h", "--delete", "--fleet", fleet.fleetFile])
        #expect(third.status == 0)
        #expect(!(try fleet.manifest(1)).contains("/site/js/b.js"))
        let deleted = try fleet.get(2, "/site/js/b.js")
        #expect(deleted.status != 200 && !deleted.text.contains("let b"), "deleted: no longer served")

        let purge = try CLITests.run(["purge", "--tag", "release-1", "--fleet", fleet.fleetFile])
        #expect(purge.status == 0, "\(purge.stderr)")
        #expect(purge.stdout.contains("e1") && purge.stdout.contains("e2"))
        // Only index.html still carries the first push's tag (a.css was re-pushed without it).
        #expect(!(try fleet.manifest(1)).contains("/site/index.html"))
        #expect((try fleet.manifest(1)).contains("/site/css/a.css"))
        fleet.stopAll()
    }

    @Test func pushingUnchangedFilesAgainExtendsTheirExpiryWithoutUploading() async throws {
        let fleet = Fleet()
        try await fleet.start("e1")
        let site = TemporaryFolder()
        site.write("a.txt", "a")
        site.write("b.txt", "b")
        #expect(try CLITests.run(["push", site.path, "--expires", "1h", "--fleet", fleet.fleetFile, "--edges", "e1"]).status == 0)
        let before = try fleet.manifest(1)
        let again = try CLITests.run(["push", site.path, "--expires", "2d", "--tag", "later", "--fleet", fleet.fleetFile, "--edges", "e1"])
        #expect(again.status == 0, "\(again.stderr)")
        let row = try #require(again.stdout.split(separator: "\n").first { $0.hasPrefix("e1 ") })
        #expect(row.split(separator: " ", omittingEmptySubsequences: true)[1...3] == ["0", "2", "2"], "uploaded 0, unchanged 2, extended 2: \(row)")
        let after = try fleet.manifest(1)
        struct M: Decodable { struct O: Decodable { var path: String; var expires: Double; var tags: [String] }; var objects: [O] }
        let b = try JSONDecoder().decode(M.self, from: Data(before.utf8)), a = try JSONDecoder().decode(M.self, from: Data(after.utf8))
        #expect(a.objects.allSatisfy { o in o.expires > (b.objects.first { $0.path == o.path }?.expires ?? .infinity) + 86_000 && o.tags == ["later"] })
        #expect(try fleet.get(1, "/a.txt").text == "a", "still served, the same content")
        let rerun = try CLITests.run(["push", site.path, "--expires", "2d", "--tag", "later", "--fleet", fleet.fleetFile, "--edges", "e1"])
        let rerunRow = try #require(rerun.stdout.split(separator: "\n").first { $0.hasPrefix("e1 ") })
        #expect(rerunRow.split(separator: " ", omittingEmptySubsequences: true)[1...3] == ["0", "2", "0"], "a rerun at once changes nothing: \(rerunRow)")
        fleet.stopAll()
    }

    @Test func aFailedEdgeMakesPushExitNonZeroAndARerunCompletesIt() async throws {
        let fleet = Fleet()
        try await fleet.start("e1")  // e2 is down
        let site = TemporaryFolder()
        site.write("a.txt", "a")
        let r = try CLITests.run(["push", site.path, "--expires", "1h", "--fleet", fleet.fleetFile])
        #expect(r.status != 0)
        #expect(r.stderr.contains("e2") && r.stderr.contains("unreachable"), "\(r.stderr)")
        try await fleet.start("e2")
        let again = try CLITests.run(["push", site.path, "--expires", "1h", "--fleet", fleet.fleetFile])
        #expect(again.status == 0)
        #expect(try fleet.get(2, "/a.txt").text == "a")
        let wrongToken = try CLITests.run(["purge", "/a.txt", "--fleet", fleet.fleetFile, "--token-file", site.write("token", "not-the-token-at-all")])
        #expect(wrongToken.status != 0 && wrongToken.stdout.contains("rejected the token"))
        fleet.stopAll()
    }

    @Test func killingAnEdgeMidUploadLeavesNoPartialObject() async throws {
        let fleet = Fleet()
        try await fleet.start("e1")
        // A first version, acknowledged.
        let ok = try RawHTTP.request("PUT", "/push/big.bin", port: fleet.base + 1, host: "127.0.211.1",
                                     headers: ["Authorization": "Bearer \(Self.token)", "X-Outpost-Expires": "1h"], body: "version one")
        #expect(ok.status == 201)
        // A second version: half of its body is sent, then the edge is killed.
        let c = try RawConnection(host: "127.0.211.1", port: fleet.base + 1)
        c.send("PUT /push/big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nX-Outpost-Expires: 1h\r\nContent-Length: 4000000\r\n\r\n")
        c.send([UInt8](repeating: 65, count: 2_000_000))
        try await Task.sleep(for: .milliseconds(200))
        kill(fleet.processes["e1"]!.processIdentifier, SIGKILL)
        fleet.processes["e1"]!.waitUntilExit()
        try await fleet.start("e1")
        let after = try fleet.get(1, "/big.bin")
        #expect(after.status == 200 && after.text == "version one", "the old version, never a part")
        let files = try FileManager.default.contentsOfDirectory(atPath: fleet.dir.path + "/data-e1/objects")
        #expect(files.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fleet.dir.path + "/data-e1/tmp").isEmpty)
        fleet.stopAll()
    }
}
