import Foundation
import TestSupport
import Testing

/// The whole CDN as `outpost up` runs it (origin, edges, director: each its own process), fed
/// what an attacker would send, class by class. Afterwards every process answers, and none has
/// died: each has the PID it started with (`up` would restart a crashed one, so a crash would
/// show as a new PID).
@Suite(.serialized) struct HostileInputTests {
    static let token = "hostile-test-token-0123456789"

    final class Fleet: @unchecked Sendable {
        let dir = TemporaryFolder()
        let base = freePortBlock()
        let up = Process()
        let stdin = Pipe()
        var out: OutputCollector!
        var edgeHost: String { "127.0.211.1" }
        var edgePort: Int { base + 1 }
        var controlPort: Int { base + 4 }
        var originPort: Int { base }
        var dnsPort: Int { base + 2 }
        var directorPort: Int { base + 3 }

        func start() async throws {
            dir.write("origin.toml", "listen = \"127.0.0.1:\(base)\"\nroot = \"\(repositoryRoot)/origin/site\"\n")
            dir.write("e-1.toml", """
                name = "e-1"
                data_center = "dc"
                listen = "\(edgeHost):\(edgePort)"
                control_listen = "\(edgeHost):\(controlPort)"
                control_token = "\(HostileInputTests.token)"
                data_dir = "data-e-1"
                origin = "http://127.0.0.1:\(base)"
                """)
            let fleet = dir.write("fleet.toml", """
                origin = "http://127.0.0.1:\(base)"
                origin_config = "origin.toml"
                [[data_centers]]
                name = "dc"
                location = { lat = 0, lon = 0 }
                client_networks = ["10.0.0.0/8"]
                edges = ["e-1.toml"]
                [director]
                zone = "cdn.hostile.test"
                dns_listen = "127.0.0.1:\(dnsPort)"
                http_listen = "127.0.0.1:\(directorPort)"
                trusted_proxies = ["127.0.0.0/8"]
                """)
            up.executableURL = URL(fileURLWithPath: CLITests.binary)
            up.arguments = ["up", "--fleet", fleet, "--exit-with-parent"]
            let pipe = Pipe()
            up.standardOutput = pipe
            up.standardError = pipe
            up.standardInput = stdin
            out = OutputCollector(pipe.fileHandleForReading)
            try up.run()
            #expect(try await eventually(timeout: 30) { self.out.text.contains("Ctrl-C stops everything") }, "\(out.text)")
        }

        func pids() -> [String: Int32] {
            var p: [String: Int32] = [:]
            for (name, needle) in [("origin", dir.path + "/origin.toml"), ("e-1", dir.path + "/e-1.toml"), ("director", "director --fleet " + dir.path)] {
                p[name] = ProcessTable.pids(commandLineContaining: needle).first
            }
            return p
        }

        func stop() async throws {
            kill(up.processIdentifier, SIGINT)
            _ = try await eventually(timeout: 10) { !self.up.isRunning }
        }
    }

    /// Raw bytes on a new connection; whatever comes back (nothing, a 4xx, a close) is fine as
    /// long as the process lives.
    static func raw(_ bytes: [UInt8], port: Int, host: String = "127.0.0.1") -> String {
        guard let c = try? RawConnection(host: host, port: port, timeout: 0.3) else { return "" }
        c.send(bytes)
        _ = c.waitForClose(timeout: 0.5)
        return c.received
    }

    static func raw(_ text: String, port: Int, host: String = "127.0.0.1") -> String { raw(Array(text.utf8), port: port, host: host) }

    /// Requests no HTTP listener may crash on.
    static let hostileRequests: [String] = [
        "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 999999999999 08:49:37 GMT\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: Sun, 06 Nov 999999999999 08:49:37 GMT\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: Sun, 06 Nov 999999999999 08:49:37 GMT\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: x\r\nAuthorization: x\r\nIf-Modified-Since: Fri, 31 Dec 99999 23:59:59 GMT\r\n\r\n",
        "GET /media/roastery-tour.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=18446744073709551615-18446744073709551616\r\n\r\n",
        "GET /media/roastery-tour.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-9223372036854775808\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-H: 1\r\n", count: 10_000) + "\r\n",
        "GET /\(String(repeating: "a", count: 200_000)) HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\u{0}b\r\n\r\n",
        "\(String(repeating: "M", count: 5_000)) / HTTP/1.1\r\nHost: x\r\n\r\n",
        "BREW /pot HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /?%zz%%%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /route?client=/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /route?client=%2F&client=::/200&client=1.2.3.4/-7 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /route HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: /, ,,, 999.999.999.999, ::ffff:/\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \(String(repeating: "1.2.3.4, ", count: 5_000))\r\n\r\n",
        "GET /_bench/1-16777216.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "\u{16}\u{3}\u{1}\u{0}\u{5}\u{1}\u{0}\u{0}\u{1}\u{3}",
    ]

    /// Pushes that must each be refused with a 4xx, or stored safely (their metadata is read
    /// again at every start).
    static let hostilePushes: [(String, [String: String])] = [
        ("/ct-semicolon", ["Content-Type": ";", "X-Outpost-Expires": "1h"]),
        ("/ct-empty", ["Content-Type": "", "X-Outpost-Expires": "1h"]),
        ("/exp-inf", ["X-Outpost-Expires": "1e400s"]),
        ("/exp-infs", ["X-Outpost-Expires": "infs"]),
        ("/exp-nan", ["X-Outpost-Expires": "nand"]),
        ("/exp-at", ["X-Outpost-Expires": "@1e300"]),
        ("/exp-date", ["X-Outpost-Expires": "Sun, 06 Nov 999999999999 08:49:37 GMT"]),
        ("/exp-iso", ["X-Outpost-Expires": "99999-12-31T00:00:00Z"]),
        ("/exp-neg", ["X-Outpost-Expires": "-5s"]),
        ("/tags", ["X-Outpost-Expires": "1h", "X-Outpost-Tags": String(repeating: "t,", count: 5_000)]),
        ("/sha", ["X-Outpost-Expires": "1h", "X-Outpost-SHA256": String(repeating: "z", count: 64)]),
        ("/..%2f..%2fetc", ["X-Outpost-Expires": "1h"]),
        ("/%00", ["X-Outpost-Expires": "1h"]),
    ]

    @Test func noRequestPacketOrPushTakesAProcessDown() async throws {
        let fleet = Fleet()
        try await fleet.start()
        let before = fleet.pids()
        #expect(before.values.count == 3, "\(before)")

        let targets = [(fleet.edgeHost, fleet.edgePort), ("127.0.0.1", fleet.originPort), ("127.0.0.1", fleet.directorPort), (fleet.edgeHost, fleet.controlPort)]
        let probes = Self.hostileRequests.flatMap { r in targets.map { (r, $0.0, $0.1) } }
        // Sixteen at a time, each on a thread of its own (they block on sockets), and none on
        // the test's cooperative threads.
        await offThePool {
            let done = DispatchGroup()
            let slots = DispatchSemaphore(value: 16)
            for (request, host, port) in probes {
                slots.wait()
                done.enter()
                Thread.detachNewThread {
                    _ = Self.raw(request, port: port, host: host)
                    slots.signal()
                    done.leave()
                }
            }
            done.wait()
        }
        // A stored object, then the same date probes against it (the hit path).
        _ = try RawHTTP.request("GET", "/index.html", port: fleet.edgePort, host: fleet.edgeHost)
        for request in Self.hostileRequests.prefix(6) { _ = Self.raw(request, port: fleet.edgePort, host: fleet.edgeHost) }

        // Pushes with the token: refused (4xx) or stored; never a crash.
        for (path, headers) in Self.hostilePushes {
            var h = headers
            h["Authorization"] = "Bearer \(Self.token)"
            let r = try? RawHTTP.request("PUT", "/push" + path, port: fleet.controlPort, host: fleet.edgeHost, headers: h, body: "pushed body")
            #expect(r.map { (200..<500).contains($0.status) } ?? false, "\(path) → \(r?.status ?? 0)")
        }

        // DNS: garbage datagrams, and messages with every header field at its extreme.
        let dnsPort = fleet.dnsPort
        await offThePool {
            var rng = SystemRandomNumberGenerator()
            for i in 0..<2_000 {
                var packet = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if i % 3 == 0, packet.count >= 12 { packet[2] &= 0x7F }  // a query, not a response
                UDP.send(packet, port: dnsPort)
            }
            for packet in UDP.extremeQueries { UDP.send(packet, port: dnsPort) }
            _ = Self.raw([0xFF, 0xFF] + [UInt8](repeating: 0xC0, count: 4_000), port: dnsPort)
            _ = Self.raw([0x00, 0x0C] + [UInt8](repeating: 0, count: 12) + [0x00], port: dnsPort)
        }

        // Everyone still answers, with the same process.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try RawHTTP.request("GET", "/index.html", port: fleet.edgePort, host: fleet.edgeHost).status == 200)
        #expect(try RawHTTP.request("GET", "/index.html", port: fleet.originPort).status == 200)
        #expect(try RawHTTP.request("GET", "/health", port: fleet.directorPort).status == 200)
        #expect(UDP.answers(port: fleet.dnsPort), "DNS still answers")
        #expect(fleet.pids() == before, "no process died: \(before) → \(fleet.pids())\n\(fleet.out.text.suffix(2_000))")

        // What was pushed is read again at start: killed, the edge is restarted by `up` and must
        // come back with the hostile pushes on disk, and stay up.
        let edgePID = try #require(before["e-1"])
        kill(edgePID, SIGKILL)
        #expect(try await eventually(timeout: 10) {
            let now = fleet.pids()["e-1"]
            return now != nil && now != edgePID && (try? RawHTTP.request("GET", "/index.html", port: fleet.edgePort, host: fleet.edgeHost, timeout: 1))?.status == 200
        }, "the edge restarts with the hostile pushes on disk: \(fleet.out.text.suffix(2_000))")
        let restarted = fleet.pids()["e-1"]
        try await Task.sleep(for: .seconds(2))
        #expect(fleet.pids()["e-1"] == restarted, "and stays up (no crash loop at start)")
        try await fleet.stop()
    }
}

/// Datagrams to the director's DNS port.
enum UDP {
    static func send(_ bytes: [UInt8], port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
    }

    /// A query for the zone's apex, answered?
    static func answers(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let q: [UInt8] = [0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("cdn".utf8) + [7] + Array("hostile".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        _ = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in q.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        var buffer = [UInt8](repeating: 0, count: 2_048)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n >= 12 && buffer[0] == 0xAB && buffer[1] == 0xCD
    }

    /// Header counts at 65535, pointer loops, OPT records with every version and size.
    static let extremeQueries: [[UInt8]] = {
        let name: [UInt8] = [3] + Array("cdn".utf8) + [7] + Array("hostile".utf8) + [4] + Array("test".utf8) + [0]
        var out: [[UInt8]] = []
        out.append([0, 1, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + name + [0, 1, 0, 1])
        out.append([0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1])
        out.append([0, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 63, count: 300))
        for version: UInt8 in [0, 1, 255] {
            for size: [UInt8] in [[0, 0], [0xFF, 0xFF], [0, 1]] {
                out.append([0, 4, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1] + name + [0, 1, 0, 1] + [0, 0, 41] + size + [0, version, 0, 0, 0, 0])
            }
        }
        // ECS with a prefix longer than its family, and a truncated option.
        out.append([0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1] + name + [0, 1, 0, 1] + [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 4, 0, 1, 200, 0, 1, 2, 3, 4])
        out.append([0, 6, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1] + name + [0, 1, 0, 1] + [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0xFF, 0, 8, 0xFF, 0xFF])
        return out
    }()
}
