import Foundation
import TestSupport
import Testing
import Topology
@testable import Director

/// The director against hostile clients: DNS packets, HTTP queries, forged X-Forwarded-For.
@Suite struct DirectorHardeningTests {
    static let trusted = [CIDR("10.0.0.0/8")!, CIDR("192.0.2.1/32")!]

    @Test(arguments: [
        // Peer not trusted: the header is someone's claim, ignored.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        // A trusted proxy: the right-most address it did not add itself is the client.
        ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),
        ("10.0.0.1", ["6.6.6.6", "198.51.100.1, 192.0.2.1"], "198.51.100.1"),
        // Garbage stops the walk at the last real address.
        ("10.0.0.1", ["198.51.100.1, not-an-ip, 10.2.2.2"], "10.2.2.2"),
        ("10.0.0.1", [""], "10.0.0.1"),
        ("10.0.0.1", [",,,"], "10.0.0.1"),
        ("10.0.0.1", [], "10.0.0.1"),
        // Only trusted proxies: the left-most of them is as close as it gets.
        ("10.0.0.1", ["10.9.9.9, 10.8.8.8"], "10.9.9.9"),
    ])
    func xForwardedForIsReadFromTheRight(_ peer: String, _ lines: [String], _ expected: String) {
        #expect(ForwardedClient.address(peer: IPAddress(peer), xForwardedFor: lines, trusted: Self.trusted) == IPAddress(expected))
    }

    static let answerer = DNSCodecTests.answerer

    @Test func theQuestionsLetterCaseIsEchoed() throws {
        let answer = try #require(Self.answerer.respond(to: DNSCodecTests.query("WwW.cDn.ExAmPlE.TeSt"), from: nil, transport: .udp,
                                                        route: DNSCodecTests.route(edges: 2)))
        let m = try DNSMessage.parse(answer)
        #expect(m.questions.first?.name.labels == ["WwW", "cDn", "ExAmPlE", "TeSt"])
        #expect(m.rcode == 0 && m.answers.count == 2, "names still match ignoring case")
        // The same bytes as sent, not just the same letters.
        let q = DNSCodecTests.query("WwW.cDn.ExAmPlE.TeSt")
        #expect(Array(answer[12..<q.count]) == Array(q[12..<q.count]))
    }

    @Test func udpAnswersFitTheFlagDaySizeOrAreTruncated() throws {
        // 200 edges fail open: far more than 1232 bytes of A records.
        for (advertised, limit) in [(4096, 1232), (1232, 1232), (800, 800), (100, 512)] {
            let q = DNSCodecTests.query("cdn.example.test", edns: EDNS(udpPayloadSize: UInt16(advertised)))
            let answer = try #require(Self.answerer.respond(to: q, from: nil, transport: .udp, route: DNSCodecTests.route(edges: 200)))
            #expect(answer.count <= limit, "advertised \(advertised): \(answer.count) bytes")
            #expect(try DNSMessage.parse(answer).truncated)
        }
        let plain = try #require(Self.answerer.respond(to: DNSCodecTests.query("cdn.example.test"), from: nil, transport: .udp,
                                                       route: DNSCodecTests.route(edges: 200)))
        #expect(plain.count <= 512)
        let tcp = try #require(Self.answerer.respond(to: DNSCodecTests.query("cdn.example.test"), from: nil, transport: .tcp,
                                                     route: DNSCodecTests.route(edges: 200)))
        #expect(try DNSMessage.parse(tcp).answers.count == 200, "TCP carries it all")
    }

    @Test func errorAnswersFitUDPToo() throws {
        // Fifteen long questions: FORMERR (one question per query), and no 3 kB answer over UDP.
        var q = DNSMessage()
        q.id = 7
        q.questions = (0..<15).map { i in DNSQuestion(name: DNSName(labels: (0..<4).map { _ in String(repeating: Character(UnicodeScalar(97 + i)!), count: 50) }), type: 1) }
        let bytes = q.encode()
        #expect(bytes.count > 2_000)
        let answer = try #require(Self.answerer.respond(to: bytes, from: nil, transport: .udp, route: DNSCodecTests.route(edges: 2)))
        #expect(answer.count <= 512, "\(answer.count) bytes")
        let m = try DNSMessage.parse(answer)
        #expect(m.rcode == DNSMessage.RCode.formErr && m.truncated)
    }

    @Test func queriesWithThousandsOfRecordsAreFormErrWithoutParsingThem() throws {
        var q = DNSCodecTests.query("cdn.example.test")
        q[6] = 0xFF; q[7] = 0xFF  // ANCOUNT 65535
        let m = try DNSMessage.parse(try #require(Self.answerer.respond(to: q, from: nil, transport: .udp, route: DNSCodecTests.route(edges: 2))))
        #expect(m.rcode == DNSMessage.RCode.formErr)
    }
}

/// A real director, asked by hostile DNS-over-TCP and HTTP clients.
@Suite(.serialized) struct DirectorListenerTests {
    static func director(_ extra: String = "") async throws -> (DirectorServer, Int, Int, TemporaryFolder) {
        let dir = TemporaryFolder()
        dir.write("e.toml", "name = \"e\"\ndata_center = \"dc\"\nlisten = \"127.0.0.1:1\"\n")
        let fleet = try FleetConfig.load(file: dir.write("fleet.toml", """
            origin = "http://127.0.0.1:1"
            [[data_centers]]
            name = "dc"
            location = { lat = 0, lon = 0 }
            edges = ["e.toml"]
            [director]
            zone = "cdn.hard.test"
            dns_listen = "127.0.0.1:0"
            http_listen = "127.0.0.1:0"
            \(extra)
            """))
        let d = DirectorServer(fleet: fleet)
        let (dns, http) = try await d.start()
        return (d, dns, http, dir)
    }

    @Test(arguments: ["/", "%2F", "1.2.3.4/999", "::/129", "[::1]", "1.2.3.4/-1", "999.1.1.1", "1.2.3.4%2F24%2F8", "", "%zz", String(repeating: "1", count: 10_000)])
    func hostileRouteQueriesGet400OrAnAnswer(_ client: String) async throws {
        let (d, _, http, _) = try await Self.director()
        defer { Task { await d.stop() } }
        let r = try await RawHTTP.async("GET", "/route?client=\(client)", port: http)
        #expect(r.status == 400 || r.status == 200, "\(client.prefix(40)) → \(r.status)")
        #expect(try await RawHTTP.async("GET", "/health", port: http).status == 200, "the director still answers")
    }

    @Test func idleDNSOverTCPConnectionsAreClosed() async throws {
        let (d, dns, _, _) = try await Self.director("dns_tcp_idle_timeout = 0.5")
        defer { Task { await d.stop() } }
        let c = try RawConnection(host: "127.0.0.1", port: dns, timeout: 1)
        let t = Date()
        #expect(c.waitForClose(timeout: 3))
        #expect(Date().timeIntervalSince(t) < 2)
    }

    @Test func dnsOverTCPCapsConnectionsPerClient() async throws {
        let (d, dns, http, _) = try await Self.director("max_dns_tcp_connections_per_client = 2")
        defer { Task { await d.stop() } }
        let held = try (0..<2).map { _ in try RawConnection(host: "127.0.0.1", port: dns, timeout: 1) }
        try await Task.sleep(for: .milliseconds(100))
        let third = try RawConnection(host: "127.0.0.1", port: dns, timeout: 1)
        #expect(third.waitForClose(timeout: 2))
        #expect(d.dnsTCPStats.refused(.perClient) == 1)
        #expect(held.count == 2)
        let status = try await RawHTTP.async("GET", "/status.json", port: http)
        #expect(status.text.contains("\"dnsTCP\":{\"accepted\":2,\"open\":2,\"refused\":{\"per_client\":1,\"total\":0}"), "\(status.text.suffix(400))")
    }

    /// A client that pipelines queries and reads nothing: the director stops reading once its
    /// send buffer is full (TCP pushes back on the client), instead of queueing answers without
    /// bound; the answers are all there when the client reads.
    @Test func pipelinedDNSOverTCPWithoutReadingIsPushedBack() async throws {
        let (d, dns, _, _) = try await Self.director()
        defer { Task { await d.stop() } }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var rcvbuf: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(dns).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(ok == 0)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let q = DNSCodecTests.query("cdn.hard.test")
        let framed = [UInt8(q.count >> 8), UInt8(q.count & 0xFF)] + q
        var batch: [UInt8] = []
        for _ in 0..<1_000 { batch += framed }
        var sent = 0
        let deadline = Date().addingTimeInterval(3)
        var blocked = false
        while Date() < deadline, sent < 200 * batch.count {
            let n = batch.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                await Task.yield()
                continue
            }
            blocked = true
            break
        }
        #expect(blocked, "the director stopped reading: \(sent) bytes were accepted before the socket pushed back")
        #expect(sent < 16 << 20, "queries accepted unread: \(sent) bytes")
        // It still answers everyone else (asked a few times: the machine may be busy with other tests).
        var other: DNSMessage?
        let askUntil = Date().addingTimeInterval(10)
        while other == nil, Date() < askUntil {
            // From another address: the director's per-client limits rightly count the flooding
            // client's 1,000 queries against 127.0.0.1.
            other = try? DNSClient.query("cdn.hard.test", port: dns, tcp: true, from: "127.0.0.2")
            if other == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(other?.rcode == 0, "another client over TCP is answered")
        // And this client's answers arrive once it reads.
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var got = 0
        let readUntil = Date().addingTimeInterval(2)
        while Date() < readUntil, got < 10 * framed.count {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { got += n } else { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(got > 0)
    }
}
