import Testing
import Topology
@testable import Director

@Suite struct DNSCodecTests {
    static func query(_ name: String, _ type: UInt16 = DNSMessage.RRType.a, id: UInt16 = 0x1234, edns: EDNS? = nil) -> [UInt8] {
        var q = DNSMessage()
        q.id = id
        q.recursionDesired = true
        q.questions = [DNSQuestion(name: DNSName(name), type: type)]
        q.edns = edns
        return q.encode()
    }

    static let answerer = DNSAnswerer(zone: "cdn.example.test", ttl: 5, answerCount: 2, nameServers: [FleetConfig.NameServer(name: "ns1", address: IPAddress("127.0.0.1"))], serial: 42)

    static func route(edges: Int, scope: Int = 24) -> (IPAddress?, CIDR?) -> RouteDecision {
        { _, _ in
            RouteDecision(client: "x", matchedDataCenter: nil, location: .init(lat: 0, lon: 0), dataCenter: "dc",
                          edges: (0..<edges).map { RoutingTests.edge("e\($0)", "dc", "127.0.\($0 / 250).\($0 % 250 + 1)") },
                          failOpen: edges > 2, scopePrefix: scope, reason: "test")
        }
    }

    @Test func roundTripsEveryRecordKind() throws {
        var m = DNSMessage()
        m.id = 7
        m.isResponse = true
        m.authoritative = true
        m.questions = [DNSQuestion(name: DNSName("a.example.test"), type: DNSMessage.RRType.a)]
        m.answers = [DNSRecord(name: DNSName("a.example.test"), ttl: 30, data: .a(IPAddress("192.0.2.1")!)),
                     DNSRecord(name: DNSName("a.example.test"), ttl: 30, data: .aaaa(IPAddress("2001:db8::1")!))]
        m.authority = [DNSRecord(name: DNSName("example.test"), ttl: 60, data: .soa(mname: DNSName("ns1.example.test"), rname: DNSName("h.example.test"),
                                                                                   serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5))]
        m.additional = [DNSRecord(name: DNSName("example.test"), ttl: 60, data: .ns(DNSName("ns1.example.test")))]
        m.edns = EDNS(udpPayloadSize: 4096, clientSubnet: ClientSubnet(sourcePrefix: 24, scopePrefix: 0, address: IPAddress("10.1.2.0")!))
        let bytes = m.encode()
        #expect(try DNSMessage.parse(bytes) == m)
        // Compression: the owner names after the first are two-byte pointers.
        let label = [UInt8(7)] + Array("example".utf8)
        let occurrences = (0...(bytes.count - label.count)).filter { Array(bytes[$0..<($0 + label.count)]) == label }.count
        #expect(occurrences == 1, "every later 'example.test' is a pointer")
    }

    @Test func followsCompressionPointersInQueries() throws {
        // Question "www.example.test", then an additional record whose name is a pointer to offset 12.
        var bytes: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
        bytes += [3] + Array("www".utf8) + [7] + Array("example".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        bytes += [0xC0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]  // "example.test" via pointer to offset 16
        let m = try DNSMessage.parse(bytes)
        #expect(m.questions[0].name == DNSName("www.example.test"))
        #expect(m.additional[0].name == DNSName("example.test"))
        #expect(m.additional[0].data == .a(IPAddress("1.2.3.4")!))
    }

    @Test(arguments: [
        ("pointer loop", [UInt8]([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1])),
        ("forward pointer", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 20, 0, 1, 0, 1, 0, 0, 3, 65, 65, 65, 0]),
        ("truncated label", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 65, 65]),
        ("truncated question", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 65, 0, 0]),
        ("claims 2 questions", [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 65, 0, 0, 1, 0, 1]),
        ("bad label type", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 0, 1]),
    ])
    func malformedGetsFormErrNeverACrash(_ name: String, _ bytes: [UInt8]) throws {
        let answer = try #require(Self.answerer.respond(to: bytes, from: nil, transport: .udp, route: Self.route(edges: 2)), "\(name)")
        let m = try DNSMessage.parse(answer)
        #expect(m.rcode == DNSMessage.RCode.formErr && m.id == 1 && m.isResponse, "\(name)")
    }

    @Test func tooShortOrAResponseIsDropped() {
        #expect(Self.answerer.respond(to: [1, 2, 3], from: nil, transport: .udp, route: Self.route(edges: 2)) == nil)
        var response = DNSMessage()
        response.isResponse = true
        response.questions = [DNSQuestion(name: DNSName("cdn.example.test"), type: 1)]
        #expect(Self.answerer.respond(to: response.encode(), from: nil, transport: .udp, route: Self.route(edges: 2)) == nil)
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let n = Int.random(in: 0..<80, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if bytes.count > 2 { bytes[2] &= 0x7F }
            _ = Self.answerer.respond(to: bytes, from: nil, transport: .udp, route: Self.route(edges: 2))
        }
    }

    @Test func answersAFromRoutingWithTTLAndAuthority() throws {
        let answer = try #require(Self.answerer.respond(to: Self.query("cdn.example.test"), from: IPAddress("10.0.0.1"), transport: .udp, route: Self.route(edges: 2)))
        let m = try DNSMessage.parse(answer)
        #expect(m.id == 0x1234 && m.isResponse && m.authoritative && m.rcode == 0 && m.recursionDesired)
        #expect(m.answers.map(\.data) == [.a(IPAddress("127.0.0.1")!), .a(IPAddress("127.0.0.2")!)])
        #expect(m.answers.allSatisfy { $0.ttl == 5 })
    }

    @Test(arguments: [
        ("cdn.example.test", DNSMessage.RRType.soa, DNSMessage.RCode.noError, 1),
        ("cdn.example.test", DNSMessage.RRType.ns, DNSMessage.RCode.noError, 1),
        ("CDN.Example.TEST", DNSMessage.RRType.a, DNSMessage.RCode.noError, 2),
        ("www.cdn.example.test", DNSMessage.RRType.a, DNSMessage.RCode.noError, 2),
        ("ns1.cdn.example.test", DNSMessage.RRType.a, DNSMessage.RCode.noError, 1),
        ("nope.cdn.example.test", DNSMessage.RRType.a, DNSMessage.RCode.nxDomain, 0),
        ("example.org", DNSMessage.RRType.a, DNSMessage.RCode.refused, 0),
        ("cdn.example.test", UInt16(16), DNSMessage.RCode.noError, 0),  // TXT: NODATA
    ] as [(String, UInt16, UInt8, Int)])
    func zoneAnswers(_ name: String, _ type: UInt16, _ rcode: UInt8, _ answers: Int) throws {
        let m = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query(name, type), from: nil, transport: .udp, route: Self.route(edges: 2))))
        #expect(m.rcode == rcode && m.answers.count == answers, "\(name) \(type)")
        if rcode == DNSMessage.RCode.nxDomain || (answers == 0 && rcode == 0) {
            #expect(m.authority.first?.type == DNSMessage.RRType.soa, "negative answers carry the SOA")
        }
    }

    /// Two directors, active-active: both in NS, both with glue, either one's name answered with
    /// its address; one outside the zone is named without glue.
    @Test func everyNameServerIsInNSWithGlue() throws {
        let answerer = DNSAnswerer(zone: "cdn.example.test", ttl: 5, answerCount: 2, nameServers: [
            FleetConfig.NameServer(name: "ns1", address: IPAddress("10.0.0.53")), FleetConfig.NameServer(name: "ns2", address: IPAddress("10.0.0.54")),
            FleetConfig.NameServer(name: "ns.other.example.", address: IPAddress("192.0.2.1")),
        ], serial: 7)
        func ask(_ name: String, _ type: UInt16) throws -> DNSMessage {
            try DNSMessage.parse(try #require(answerer.respond(to: Self.query(name, type), from: nil, transport: .udp, route: Self.route(edges: 2))))
        }
        let ns = try ask("cdn.example.test", DNSMessage.RRType.ns)
        #expect(ns.answers.map(\.data) == [.ns(DNSName("ns1.cdn.example.test")), .ns(DNSName("ns2.cdn.example.test")), .ns(DNSName("ns.other.example"))])
        #expect(ns.additional.map(\.data) == [.a(IPAddress("10.0.0.53")!), .a(IPAddress("10.0.0.54")!)], "glue only for names in the zone")
        #expect(try ask("ns2.cdn.example.test", DNSMessage.RRType.a).answers.map(\.data) == [.a(IPAddress("10.0.0.54")!)])
        let aaaa = try ask("ns2.cdn.example.test", DNSMessage.RRType.aaaa)
        #expect(aaaa.rcode == 0 && aaaa.answers.isEmpty && aaaa.authority.first?.type == DNSMessage.RRType.soa)
        let soa = try ask("cdn.example.test", DNSMessage.RRType.soa)
        guard case .soa(let mname, _, let serial, _, _, _, _)? = soa.answers.first?.data else { Issue.record("no SOA"); return }
        #expect(mname == DNSName("ns1.cdn.example.test") && serial == 7)
    }

    @Test func aaaaWithoutIPv6EdgesIsNoData() throws {
        let m = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query("cdn.example.test", DNSMessage.RRType.aaaa), from: nil, transport: .udp, route: Self.route(edges: 2))))
        #expect(m.rcode == 0 && m.answers.isEmpty && m.authority.count == 1)
    }

    @Test func echoesClientSubnetWithScope() throws {
        let ecs = ClientSubnet(sourcePrefix: 24, scopePrefix: 0, address: IPAddress("10.2.3.0")!)
        let m = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query("cdn.example.test", edns: EDNS(udpPayloadSize: 1232, clientSubnet: ecs)),
                                                                      from: nil, transport: .udp, route: Self.route(edges: 2, scope: 16))))
        #expect(m.edns?.clientSubnet == ClientSubnet(sourcePrefix: 24, scopePrefix: 16, address: IPAddress("10.2.3.0")!))
    }

    @Test func bigAnswersAreTruncatedOverUDPAndCompleteOverTCP() throws {
        let route = Self.route(edges: 60)  // failing open: every edge is answered
        let udp = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query("cdn.example.test"), from: nil, transport: .udp, route: route)))
        #expect(udp.truncated && udp.answers.isEmpty)
        let tcp = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query("cdn.example.test"), from: nil, transport: .tcp, route: route)))
        #expect(!tcp.truncated && tcp.answers.count == 60)
        let edns = try DNSMessage.parse(try #require(Self.answerer.respond(to: Self.query("cdn.example.test", edns: EDNS(udpPayloadSize: 4096)), from: nil, transport: .udp, route: route)))
        #expect(!edns.truncated && edns.answers.count == 60, "a bigger EDNS buffer fits it")
    }

    @Test func otherOpcodesAndVersions() throws {
        var q = try DNSMessage.parse(Self.query("cdn.example.test"))
        q.opcode = 2
        #expect(try DNSMessage.parse(Self.answerer.respond(to: q.encode(), from: nil, transport: .udp, route: Self.route(edges: 2))!).rcode == DNSMessage.RCode.notImp)
        var v1 = EDNS()
        v1.version = 1
        // RFC 6891 §6.1.3: BADVERS (16) is 0 in the header and 1 in the OPT's extended RCODE, with version 0.
        let badvers = try DNSMessage.parse(Self.answerer.respond(to: Self.query("cdn.example.test", edns: v1), from: nil, transport: .udp, route: Self.route(edges: 2))!)
        #expect(badvers.rcode == 0 && badvers.edns?.extendedRCode == DNSMessage.RCode.badVersExtended && badvers.edns?.version == 0)
    }
}

extension DNSCodecTests {
    /// Every site's hostname in the zone gets the same routing as `www`; other names under the
    /// zone stay NXDOMAIN, and names of sites outside the zone are not answered for.
    @Test func everySitesNameInTheZoneGetsEdges() throws {
        let sites = [
            SiteConfig(name: "www", hosts: [HostPattern("www.cdn.example.test")!, HostPattern("www.elsewhere.test")!], origin: OriginURL("http://127.0.0.1:1")!),
            SiteConfig(name: "docs", hosts: [HostPattern("docs.cdn.example.test")!, HostPattern("*.api.cdn.example.test")!], origin: OriginURL("http://127.0.0.1:1")!),
        ]
        let answerer = DNSAnswerer(zone: "cdn.example.test", ttl: 5, answerCount: 2, nameServers: [FleetConfig.NameServer(name: "ns1", address: IPAddress("127.0.0.1"))], serial: 42, sites: sites)
        for (name, answered) in [("docs.cdn.example.test", true), ("DOCS.cdn.example.test", true), ("v1.api.cdn.example.test", true),
                                 ("a.b.api.cdn.example.test", true), ("www.cdn.example.test", true),
                                 ("cdn.example.test", true), ("other.cdn.example.test", false), ("x.docs.cdn.example.test", false)] {
            let bytes = try #require(answerer.respond(to: Self.query(name), from: IPAddress("10.0.0.1"), transport: .udp, route: Self.route(edges: 2)))
            let r = try DNSMessage.parse(bytes)
            if answered {
                #expect(r.rcode == 0 && r.answers.count == 2, "\(name): \(r.rcode) \(r.answers.count)")
            } else {
                #expect(r.rcode == DNSMessage.RCode.nxDomain && r.answers.isEmpty, "\(name)")
            }
        }
        // Under a wildcard, the name itself exists (NOERROR), with no address of its own.
        let between = try DNSMessage.parse(try #require(answerer.respond(to: Self.query("api.cdn.example.test"), from: nil, transport: .udp, route: Self.route(edges: 2))))
        #expect(between.rcode == 0 && between.answers.isEmpty && !between.authority.isEmpty)
        let outside = try DNSMessage.parse(try #require(answerer.respond(to: Self.query("www.elsewhere.test"), from: nil, transport: .udp, route: Self.route(edges: 2))))
        #expect(outside.rcode == DNSMessage.RCode.refused)
    }
}
