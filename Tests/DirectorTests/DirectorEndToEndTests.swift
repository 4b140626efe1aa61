import Edge
import Foundation
import TestSupport
import Testing
import Topology
@testable import Director

/// A real director in front of real edges on loopback, asked over real UDP, TCP and HTTP.
@Suite(.serialized) struct DirectorEndToEndTests {
    final class Lab: @unchecked Sendable {
        let dir = TemporaryFolder()
        let port = freePortBlock()
        var edges: [String: EdgeServer] = [:]
        var configs: [String: EdgeConfig] = [:]
        var director: DirectorServer!
        var dnsPort = 0
        var httpPort = 0
        /// `[[sites]]` tables for the fleet file.
        var sites = ""

        func start() async throws {
            var dcs = ""
            for (i, (dc, lat, lon)) in [("eu", 50.11, 8.68), ("us", 39.04, -77.49), ("ap", 1.35, 103.82)].enumerated() {
                var files: [String] = []
                for n in 1...2 {
                    let name = "\(dc)-\(n)"
                    dir.write("\(name).toml", """
                        name = "\(name)"
                        data_center = "\(dc)"
                        listen = "127.0.\(231 + i).\(n):\(port)"
                        control_listen = "127.0.\(231 + i).\(n):\(port + 1)"
                        control_token = "director-test-token-0123456789"
                        data_dir = "data-\(name)"
                        """)
                    files.append("\"\(name).toml\"")
                }
                dcs += "[[data_centers]]\nname = \"\(dc)\"\nlocation = { lat = \(lat), lon = \(lon) }\nclient_networks = [\"10.\(i + 1).0.0/16\"]\nedges = [\(files.joined(separator: ", "))]\n"
            }
            let fleetFile = dir.write("fleet.toml", """
                origin = "http://127.0.0.1:1"
                \(dcs)
                [director]
                zone = "cdn.lab.test"
                dns_listen = "127.0.0.1:0"
                http_listen = "127.0.0.1:0"
                check_interval = 0.1
                check_timeout = 1
                rise = 2
                fall = 2
                \(sites)
                """)
            let fleet = try FleetConfig.load(file: fleetFile)
            for e in fleet.allEdges {
                configs[e.name] = e
                try await startEdge(e.name)
            }
            director = DirectorServer(fleet: fleet)
            (dnsPort, httpPort) = try await director.start()
        }

        func startEdge(_ name: String) async throws {
            let e = try EdgeServer(config: configs[name]!)
            try await e.start()
            edges[name] = e
        }

        func stopEdge(_ name: String) async {
            await edges[name]?.stop()
            edges[name] = nil
        }

        func stopAll() async {
            for e in edges.values { await e.stop() }
            await director?.stop()
        }
    }

    /// Every site's name in the zone is answered with the same routing; `/route` and the
    /// redirect name the site.
    @Test func everySitesNameResolvesToTheNearestEdges() async throws {
        let lab = Lab()
        lab.sites = """
            [[sites]]
            name = "www"
            hosts = ["www.cdn.lab.test", "cdn.lab.test"]
            [[sites]]
            name = "docs"
            hosts = ["docs.cdn.lab.test"]
            """
        try await lab.start()
        for i in 0..<3 {
            let www = try DNSClient.query("www.cdn.lab.test", port: lab.dnsPort, subnet: "10.\(i + 1).7.0/24")
            let docs = try DNSClient.query("docs.cdn.lab.test", port: lab.dnsPort, subnet: "10.\(i + 1).7.0/24")
            #expect(docs.answers.count == 2 && Set(docs.answers.map(\.description)) == Set(www.answers.map(\.description)), "\(docs.answers) \(www.answers)")
        }
        let route = try await RawHTTP.async("GET", "/route?client=10.2.9.9&host=docs.cdn.lab.test", port: lab.httpPort)
        #expect(route.text.contains("\"site\":\"docs\"") && route.text.contains("\"dataCenter\":\"us\""), "\(route.text)")
        let redirect = try await RawHTTP.async("GET", "/guide/", port: lab.httpPort, headers: ["Host": "docs.cdn.lab.test"])
        #expect(redirect.status == 302 && redirect.header("x-outpost-site") == "docs")
        // The dashboard counts each site over the fleet.
        let control = lab.configs["eu-1"]!.controlListen!, publicAddress = lab.configs["eu-1"]!.listen
        let pushed = try await RawHTTP.async("PUT", "/push/guide.txt?site=docs", port: control.port, host: control.host,
                                             headers: ["Authorization": "Bearer director-test-token-0123456789", "X-Outpost-Expires": "1h"], body: "guide")
        #expect(pushed.status == 201)
        for _ in 0..<3 {
            _ = try await RawHTTP.async("GET", "/guide.txt", port: publicAddress.port, host: publicAddress.host, headers: ["Host": "docs.cdn.lab.test"])
        }
        _ = try await RawHTTP.async("GET", "/guide.txt", port: publicAddress.port, host: publicAddress.host, headers: ["Host": "www.cdn.lab.test"])
        struct Sites: Decodable {
            struct Site: Decodable, Equatable { var site: String; var requests: Int; var hitRatio: Double; var byteHitRatio: Double }
            var sites: [Site]
        }
        var sites: [Sites.Site] = []
        for _ in 0..<40 where sites.map(\.requests) != [1, 3] {
            try await Task.sleep(for: .milliseconds(250))
            let body = try await RawHTTP.async("GET", "/dashboard.json", port: lab.httpPort).body
            sites = (try? JSONDecoder().decode(Sites.self, from: Data(body)))?.sites ?? []
        }
        #expect(sites == [.init(site: "www", requests: 1, hitRatio: 0, byteHitRatio: 0), .init(site: "docs", requests: 3, hitRatio: 1, byteHitRatio: 1)], "\(sites)")
        await lab.stopAll()
    }

    /// Health is what clients use: an edge whose control listener answers but whose public
    /// listener is gone is down.
    @Test func anEdgeWithoutItsPublicListenerIsDown() async throws {
        let lab = Lab()
        try await lab.start()
        #expect(lab.director.core.monitor.healthy.contains("eu-1"))
        await lab.stopEdge("eu-1")
        var moved = lab.configs["eu-1"]!
        moved.listen.port = lab.port + 5  // its control listener is where the fleet says; its public one is not
        let e = try EdgeServer(config: moved)
        try await e.start()
        lab.edges["eu-1"] = e
        // Down (it was while it restarted), and now for its public listener alone.
        #expect(try await eventually(timeout: 5) {
            let h = lab.director.core.monitor.snapshot.first { $0.name == "eu-1" }
            return h?.healthy == false && h?.lastError?.contains("public listener") == true
        }, "\(lab.director.core.monitor.snapshot.first { $0.name == "eu-1" }.map { "\($0)" } ?? "")")
        await lab.stopAll()
    }

    @Test func routesEveryRegionOverUDPTCPAndHTTP() async throws {
        let lab = Lab()
        try await lab.start()
        #expect(lab.director.core.monitor.healthy.count == 6, "the first round ran before answering: \(lab.director.core.monitor.recentChanges.map { "\($0.edge): \($0.reason)" })")
        for (i, prefix) in ["127.0.231.", "127.0.232.", "127.0.233."].enumerated() {
            let udp = try DNSClient.query("cdn.lab.test", port: lab.dnsPort, subnet: "10.\(i + 1).7.0/24")
            #expect(udp.answers.count == 2 && udp.answers.allSatisfy { $0.description.hasPrefix(prefix) }, "\(udp.answers)")
            #expect(udp.edns?.clientSubnet?.scopePrefix == 24)
            let tcp = try DNSClient.query("cdn.lab.test", port: lab.dnsPort, subnet: "10.\(i + 1).7.0/24", tcp: true)
            #expect(tcp.answers == udp.answers)
        }
        if let dig = DNSClient.dig(["@127.0.0.1", "-p", "\(lab.dnsPort)", "cdn.lab.test", "A", "+subnet=10.3.0.0/24", "+short"]) {
            #expect(dig.split(separator: "\n").allSatisfy { $0.hasPrefix("127.0.233.") }, "dig: \(dig)")
        }
        let route = try await RawHTTP.async("GET", "/route?client=10.2.9.9", port: lab.httpPort)
        #expect(route.status == 200 && route.text.contains("\"dataCenter\":\"us\""))
        let redirect = try await RawHTTP.async("GET", "/blog/?x=1", port: lab.httpPort)
        #expect(redirect.status == 302)
        #expect(redirect.header("location")?.hasSuffix(":\(lab.port)/blog/?x=1") == true)
        let status = try await RawHTTP.async("GET", "/status", port: lab.httpPort)
        #expect(status.status == 200 && status.text.contains("eu-1") && status.text.contains("UP"))
        let nx = try DNSClient.query("nope.cdn.lab.test", port: lab.dnsPort)
        #expect(nx.rcode == 3)
        await lab.stopAll()
    }

    @Test func aDataCenterDownFailsOverAndBack() async throws {
        let lab = Lab()
        try await lab.start()
        var failovers: [Double] = [], failbacks: [Double] = []
        func euAnswer() throws -> String { try DNSClient.query("cdn.lab.test", port: lab.dnsPort, subnet: "10.1.0.0/24").answers.first?.description ?? "" }
        for _ in 0..<3 {
            #expect(try euAnswer().hasPrefix("127.0.231."))
            let t0 = Date()
            await lab.stopEdge("eu-1")
            await lab.stopEdge("eu-2")
            #expect(try await eventually(timeout: 15) { (try? euAnswer())?.hasPrefix("127.0.232.") == true }, "eu clients go to us, the next nearest")
            failovers.append(Date().timeIntervalSince(t0))
            let t1 = Date()
            try await lab.startEdge("eu-1")
            try await lab.startEdge("eu-2")
            #expect(try await eventually(timeout: 15) { (try? euAnswer())?.hasPrefix("127.0.231.") == true })
            failbacks.append(Date().timeIntervalSince(t1))
        }
        let medianOver = failovers.sorted()[1], medianBack = failbacks.sorted()[1]
        print("director failover: median \(String(format: "%.3f", medianOver)) s (\(failovers.map { String(format: "%.3f", $0) })); failback median \(String(format: "%.3f", medianBack)) s")
        #expect(medianOver < 1.0, "failover \(failovers)")
        #expect(medianBack < 1.5, "failback \(failbacks)")
        #expect(lab.director.core.monitor.recentChanges.contains { $0.edge == "eu-1" && !$0.healthy && $0.reason.contains("failed") })
        await lab.stopAll()
    }

    @Test func allEdgesDownFailsOpen() async throws {
        let lab = Lab()
        try await lab.start()
        for name in Array(lab.edges.keys) { await lab.stopEdge(name) }
        #expect(try await eventually(timeout: 20) { lab.director.core.monitor.healthy.isEmpty }, "fall = 2 at 0.1 s takes 0.2 s; the slack is for a starved test run, not for the director")
        let m = try DNSClient.query("cdn.lab.test", port: lab.dnsPort, subnet: "10.3.0.0/24")
        #expect(m.answers.count == 6, "every edge is answered rather than none")
        await lab.stopAll()
    }
}

/// A small DNS client over real sockets, using the codec under test only to build and read
/// messages (dig, when installed, checks the codec against another implementation).
enum DNSClient {
    struct Failure: Error { var reason: String }

    /// `from`: the loopback address to send from (another client, as the director counts them).
    static func query(_ name: String, type: UInt16 = 1, port: Int, subnet: String? = nil, tcp: Bool = false, from: String? = nil) throws -> DNSMessage {
        var q = DNSMessage()
        q.id = UInt16.random(in: 0...UInt16.max)
        q.questions = [DNSQuestion(name: DNSName(name), type: type)]
        if let subnet, let c = CIDR(subnet) {
            q.edns = EDNS(udpPayloadSize: 1232, clientSubnet: ClientSubnet(sourcePrefix: UInt8(c.prefix), scopePrefix: 0, address: c.network))
        }
        let bytes = q.encode()
        let fd = socket(AF_INET, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let from {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, from, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0 else { throw Failure(reason: "bind to \(from) failed") }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw Failure(reason: "connect failed") }
        let out = tcp ? [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes : bytes
        _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var got: [UInt8] = []
        repeat {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw Failure(reason: "no answer") }
            got += buffer[0..<n]
        } while tcp && (got.count < 2 || got.count < 2 + Int(got[0]) << 8 + Int(got[1]))
        let message = try DNSMessage.parse(tcp ? Array(got[2...]) : got)
        guard message.id == q.id else { throw Failure(reason: "wrong id") }
        return message
    }

    /// Runs dig when it is installed; nil otherwise.
    static func dig(_ args: [String]) -> String? {
        guard let path = ProcessRun.find(["/usr/bin/dig", "/bin/dig"]) else { return nil }
        return (try? ProcessRun.run(path, args))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension DNSRecord: CustomStringConvertible {
    public var description: String {
        switch data {
        case .a(let ip), .aaaa(let ip): ip.description
        default: "\(type)"
        }
    }
}

func eventually(timeout: Double, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
