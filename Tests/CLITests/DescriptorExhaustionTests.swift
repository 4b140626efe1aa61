import Foundation
import TestSupport
import Testing

/// An edge that runs out of file descriptors (EMFILE) keeps its accept loop: it pauses
/// accepting, and serves again once descriptors are free.
@Suite(.serialized) struct DescriptorExhaustionTests {
    @Test func theAcceptLoopSurvivesEMFILE() async throws {
        let dir = TemporaryFolder()
        let port = freePortBlock()
        let config = dir.write("e.toml", "name = \"fd\"\nlisten = \"127.0.0.1:\(port)\"\norigin = \"http://127.0.0.1:1\"\norigin_connect_timeout = 0.2\n")
        let edge = Process()
        edge.executableURL = URL(fileURLWithPath: "/bin/bash")
        // `ulimit -n` sets the hard limit too, so the edge cannot raise it.
        edge.arguments = ["-c", "ulimit -n 64 && exec \"$0\" edge --config \"$1\" --exit-with-parent", CLITests.binary, config]
        let stdin = Pipe()
        edge.standardInput = stdin
        let err = Pipe()
        edge.standardError = err
        let log = OutputCollector(err.fileHandleForReading)
        try edge.run()
        defer { kill(edge.processIdentifier, SIGKILL) }
        #expect(try await eventually(timeout: 15) { (try? RawHTTP.request("GET", "/x", port: port, timeout: 1))?.status == 502 })

        // Far more connections than descriptors: the kernel queues them; the edge takes what it can.
        var held: [RawConnection] = []
        for _ in 0..<150 {
            if let c = try? RawConnection(host: "127.0.0.1", port: port, timeout: 1) { held.append(c) }
        }
        try await Task.sleep(for: .seconds(1))
        #expect(edge.isRunning, "the edge survived running out of descriptors: \(log.text.suffix(500))")
        held.removeAll()
        // Descriptors free up: the edge accepts and answers again (NIO's accept back-off).
        #expect(try await eventually(timeout: 10) { (try? RawHTTP.request("GET", "/x", port: port, timeout: 1))?.status == 502 },
                "served again: \(log.text.suffix(500))")
        #expect(edge.isRunning)
    }
}

/// Log rotation as operators do it with nginx: move the file away, send SIGUSR1, and the edge
/// writes a new file at the configured path.
@Suite(.serialized) struct LogRotationTests {
    @Test func sigusr1ReopensTheAccessLog() async throws {
        let dir = TemporaryFolder()
        let port = freePortBlock()
        let log = dir.path + "/access.log"
        let config = dir.write("e.toml", "name = \"rot\"\nlisten = \"127.0.0.1:\(port)\"\norigin = \"http://127.0.0.1:1\"\norigin_connect_timeout = 0.2\naccess_log = \"\(log)\"\n")
        let edge = Process()
        edge.executableURL = URL(fileURLWithPath: CLITests.binary)
        edge.arguments = ["edge", "--config", config, "--exit-with-parent"]
        let stdin = Pipe()
        edge.standardInput = stdin
        edge.standardError = FileHandle.nullDevice
        try edge.run()
        defer { kill(edge.processIdentifier, SIGKILL) }
        #expect(try await eventually(timeout: 15) { (try? RawHTTP.request("GET", "/before", port: port, timeout: 1)) != nil })
        #expect(try await eventually { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("GET /before") })
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        kill(edge.processIdentifier, SIGUSR1)
        #expect(try await eventually { FileManager.default.fileExists(atPath: log) }, "reopened by path")
        _ = try? RawHTTP.request("GET", "/after", port: port, timeout: 1)
        #expect(try await eventually { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("GET /after") })
        #expect(!(((try? String(contentsOfFile: log + ".1", encoding: .utf8)) ?? "").contains("/after")))
        #expect(edge.isRunning)
    }
}
