import Foundation
import TestSupport
import Testing

/// A server process's life (swift-service-lifecycle) and its log lines (swift-log), seen from
/// outside: started, SIGUSR1 reopens the access log, SIGTERM/SIGINT stop it cleanly (exit 0),
/// the parent going away stops it, and OUTPOST_LOG_LEVEL chooses what is said.
@Suite(.serialized) struct LifecycleTests {
    final class Server: @unchecked Sendable {
        let process = Process()
        let stderr = Pipe()
        let stdin = Pipe()
        var output = ""

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            process.executableURL = URL(fileURLWithPath: CLITests.binary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = stdin
            try process.run()
        }

        /// Waits for the process to end; its status and everything it wrote to standard error.
        func finish() -> (status: Int32, log: String) {
            process.waitUntilExit()
            output = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return (process.terminationStatus, output)
        }
    }

    /// Whether the port accepts connections (with `probe`, also answers that request): a plain
    /// GET would wait on an origin that is not there.
    static func listening(_ port: Int, probe: String? = nil) async throws -> Bool {
        try await eventually(timeout: 15) {
            if let probe { return (try? RawHTTP.request("GET", probe, port: port, timeout: 5)) != nil }
            return (try? RawConnection(host: "127.0.0.1", port: port)) != nil
        }
    }

    @Test func signalsStopAndReopenAndTheLevelIsTheOperators() async throws {
        let ports = freePortBlock(2)
        let edge = try Server(["edge", "--name", "life-edge", "--listen", "127.0.0.1:\(ports)", "--origin", "http://127.0.0.1:1"])
        #expect(try await Self.listening(ports))
        kill(edge.process.processIdentifier, SIGUSR1)
        try await Task.sleep(for: .milliseconds(300))
        kill(edge.process.processIdentifier, SIGTERM)
        let (status, log) = edge.finish()
        #expect(status == 0, "\(log)")
        let lines = log.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("[life-edge] listening on http://127.0.0.1:\(ports)") }, "\(log)")
        #expect(lines.contains("[life-edge] SIGUSR1: access log reopened") && lines.contains("[life-edge] stopping"), "\(log)")

        // At warning, the normal course of a life says nothing.
        let quiet = try Server(["origin", "--config", repositoryRoot + "/origin/origin.toml", "--listen", "127.0.0.1:\(ports + 1)"],
                               environment: ["OUTPOST_LOG_LEVEL": "warning"])
        #expect(try await Self.listening(ports + 1))
        kill(quiet.process.processIdentifier, SIGINT)
        let q = quiet.finish()
        #expect(q.status == 0 && q.log.isEmpty, "\(q.log)")
    }

    @Test func aChildStopsWhenItsParentGoesAway() async throws {
        let port = freePortBlock(1)
        let edge = try Server(["edge", "--name", "child-edge", "--listen", "127.0.0.1:\(port)", "--origin", "http://127.0.0.1:1", "--exit-with-parent"])
        #expect(try await Self.listening(port))
        try edge.stdin.fileHandleForWriting.close()  // as when `outpost up` dies
        let (status, log) = edge.finish()
        #expect(status == 0 && log.contains("[child-edge] stopping"), "\(log)")
    }

    /// The disk tier across a crash: what was written before `kill -9` is a hit after the restart.
    @Test func whatWasWrittenToDiskIsAHitAfterKillNine() async throws {
        let origin = ScriptedOrigin()
        for i in 0..<12 {
            origin.route("/o/\(i)") { _ in .init(headers: [("Cache-Control", "max-age=3600")], body: "object \(i) " + String(repeating: "x", count: 8000)) }
        }
        _ = try await origin.start()
        let dir = TemporaryFolder()
        let port = freePortBlock(1)
        let args = ["edge", "--name", "crash-edge", "--listen", "127.0.0.1:\(port)", "--origin", origin.url, "--cache-size", "32KiB",
                    "--disk-cache", dir.path + "/disk", "--disk-cache-size", "8MiB"]
        let first = try Server(args)
        #expect(try await Self.listening(port, probe: "/o/0"))
        for i in 0..<12 { #expect(try RawHTTP.request("GET", "/o/\(i)", port: port).status == 200) }
        let files = { ((try? FileManager.default.subpathsOfDirectory(atPath: dir.path + "/disk/objects")) ?? []).filter { $0.utf8.count == 67 }.count }
        #expect(try await eventually(timeout: 10) { files() == 12 }, "written: \(files())")
        kill(first.process.processIdentifier, SIGKILL)
        _ = first.finish()
        let second = try Server(args)
        #expect(try await Self.listening(port, probe: "/o/0"))
        for i in 0..<12 {
            let r = try RawHTTP.request("GET", "/o/\(i)", port: port)
            #expect(r.status == 200 && r.text.hasPrefix("object \(i) ") && r.cacheStatus.contains("hit"), "/o/\(i): \(r.cacheStatus)")
        }
        #expect((0..<12).allSatisfy { origin.count("/o/\($0)") == 1 }, "the origin was not asked again")
        kill(second.process.processIdentifier, SIGTERM)
        let (status, log) = second.finish()
        #expect(status == 0 && log.contains("disk cache") && log.contains("\(files()) files taken stock of"), "\(log)")
        await origin.stop()
    }

    /// SIGTERM drains: `/health` says `draining` (503) while the edge still serves, a request
    /// under way finishes whole, then the process exits 0.
    @Test func sigtermDrainsBeforeItStops() async throws {
        let origin = ScriptedOrigin()
        origin.route("/slow") { _ in .init(headers: [("Cache-Control", "no-store")], chunks: [.init(Array("first half ".utf8)), .init(Array("second half".utf8), delay: 1.5)]) }
        origin.route("/fast") { _ in .init(headers: [("Cache-Control", "no-store")], body: "fast") }
        _ = try await origin.start()
        let dir = TemporaryFolder()
        let port = freePortBlock(2)
        let config = dir.write("drain.toml", """
            name = "drain-edge"
            listen = "127.0.0.1:\(port)"
            origin = "\(origin.url)"
            control_listen = "127.0.0.1:\(port + 1)"
            control_token = "drain-test-token-0123456789"
            data_dir = "data"
            drain_seconds = 1.5
            drain_timeout = 5
            """)
        let edge = try Server(["edge", "--config", config])
        #expect(try await Self.listening(port))
        let slow = Task { try RawHTTP.request("GET", "/slow", port: port, timeout: 10) }
        try await Task.sleep(for: .milliseconds(300))
        kill(edge.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        let health = try RawHTTP.request("GET", "/health", port: port + 1)
        #expect(health.status == 503 && health.text.contains("draining"), "\(health.status) \(health.text)")
        #expect(try RawHTTP.request("GET", "/fast", port: port).text == "fast", "still serving while draining")
        let r = try await slow.value
        #expect(r.status == 200 && r.text == "first half second half", "the request under way finished whole: \(r.text)")
        let (status, log) = edge.finish()
        #expect(status == 0 && log.contains("draining"), "\(log)")
        await origin.stop()
    }

    /// Over HTTP/2 the drain sends GOAWAY, lets the stream under way finish, and closes the
    /// connection when it is quiet, long before drain_timeout.
    @Test func anHTTP2ConnectionDrainsWithGoawayNotTheTimeout() async throws {
        guard let curl = ProcessRun.find(["/usr/bin/curl", "/bin/curl"]) else {
            print("curl is not installed: the HTTP/2 drain test did not run")
            return
        }
        let origin = ScriptedOrigin()
        origin.route("/slow") { _ in .init(headers: [("Cache-Control", "no-store")], chunks: [.init(Array("first half ".utf8)), .init(Array("second half".utf8), delay: 1.0)]) }
        _ = try await origin.start()
        let dir = TemporaryFolder()
        let port = freePortBlock(2)
        let config = dir.write("drain.toml", """
            name = "h2-drain-edge"
            listen = "127.0.0.1:\(port)"
            tls_listen = "127.0.0.1:\(port + 1)"
            origin = "\(origin.url)"
            drain_seconds = 0.2
            drain_timeout = 30
            """)
        let edge = try Server(["edge", "--config", config])
        #expect(try await Self.listening(port + 1))
        // Two requests one after the other on one connection: the first is under way when the
        // drain starts; the second must not be taken on the draining connection (GOAWAY).
        let url = "https://127.0.0.1:\(port + 1)/slow"
        let fetch = Task { try ProcessRun.run(curl, ["-sk", "--http2", "--max-time", "20", "-w", "%{http_code}:%{size_download}\\n", "-o", "/dev/null", url, "-o", "/dev/null", url]) }
        try await Task.sleep(for: .milliseconds(300))
        let stopping = ContinuousClock.now
        kill(edge.process.processIdentifier, SIGTERM)
        let r = try await fetch.value
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "200:22", "the stream under way finished whole: \(r.stdout) \(r.stderr)")
        #expect(lines.count == 2 && lines.last?.hasPrefix("200") == false, "the second was not taken on the draining connection: \(r.stdout)")
        let (status, _) = edge.finish()
        let took = ContinuousClock.now - stopping
        #expect(status == 0 && took < .seconds(10), "stopped in \(took), not after drain_timeout (30 s)")
        await origin.stop()
    }
}
