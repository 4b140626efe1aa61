import Testing
import Topology
@testable import Director

@Suite struct RoutingTests {
    static func edge(_ name: String, _ dc: String, _ v4: String, v6: String? = nil, weight: Int = 1) -> RoutingEdge {
        RoutingEdge(name: name, dataCenter: dc, ipv4: IPAddress(v4), ipv6: v6.flatMap { IPAddress($0) }, weight: weight, publicURL: "http://\(v4):8080")
    }

    static let router = Router(
        dataCenters: [
            RoutingDataCenter(name: "eu", location: .init(lat: 50.11, lon: 8.68), networks: [CIDR("10.1.0.0/16")!, CIDR("2001:db8:1::/48")!],
                              edges: [edge("eu-1", "eu", "127.0.1.1", v6: "fd00::1:1"), edge("eu-2", "eu", "127.0.1.2", v6: "fd00::1:2")]),
            RoutingDataCenter(name: "us", location: .init(lat: 39.04, lon: -77.49), networks: [CIDR("10.2.0.0/16")!, CIDR("2001:db8:2::/48")!],
                              edges: [edge("us-1", "us", "127.0.2.1"), edge("us-2", "us", "127.0.2.2")]),
            RoutingDataCenter(name: "ap", location: .init(lat: 1.35, lon: 103.82), networks: [CIDR("10.3.0.0/16")!],
                              edges: [edge("ap-1", "ap", "127.0.3.1"), edge("ap-2", "ap", "127.0.3.2")]),
        ],
        defaultLocation: .init(lat: 48.85, lon: 2.35)  // Paris: nearest is eu
    )
    static let all: Set<String> = ["eu-1", "eu-2", "us-1", "us-2", "ap-1", "ap-2"]

    @Test(arguments: [
        ("10.1.7.9", "eu"), ("10.2.0.1", "us"), ("10.3.255.1", "ap"), ("192.0.2.1", "eu"), ("2001:db8:2::5", "us"), ("2001:db8:1:ffff::1", "eu"),
    ])
    func everyRegionGoesToItsDataCenter(_ client: String, _ dc: String) {
        let d = Self.router.route(client: IPAddress(client), healthy: Self.all)
        #expect(d.dataCenter == dc && !d.failOpen)
        #expect(Set(d.edges.map(\.dataCenter)) == [dc])
    }

    @Test func oneEdgeDownLeavesTheOther() {
        let d = Self.router.route(client: IPAddress("10.2.0.1"), healthy: Self.all.subtracting(["us-1"]))
        #expect(d.dataCenter == "us" && d.edges.map(\.name) == ["us-2"])
    }

    @Test(arguments: [("10.2.0.1", "eu"), ("10.1.0.1", "us"), ("10.3.0.1", "eu")])
    func aWholeDataCenterDownGoesToTheNextNearest(_ client: String, _ next: String) {
        let down: Set<String> = client.hasPrefix("10.1") ? ["eu-1", "eu-2"] : client.hasPrefix("10.2") ? ["us-1", "us-2"] : ["ap-1", "ap-2"]
        let d = Self.router.route(client: IPAddress(client), healthy: Self.all.subtracting(down))
        #expect(d.dataCenter == next, "\(d.reason)")
        #expect(d.reason.contains("down"))
    }

    @Test func allDownFailsOpenWithEveryEdge() {
        let d = Self.router.route(client: IPAddress("10.3.0.1"), healthy: [])
        #expect(d.failOpen && d.edges.count == 6)
        #expect(d.edges.first?.dataCenter == "ap", "nearest first even when failing open")
    }

    @Test func clientSubnetWinsOverTheSourceAddress() {
        let d = Self.router.route(client: IPAddress("10.1.0.1"), subnet: CIDR("10.3.9.0/24"), healthy: Self.all)
        #expect(d.dataCenter == "ap" && d.client == "10.3.9.0/24" && d.scopePrefix == 24)
        let wide = Self.router.route(client: nil, subnet: CIDR("10.2.0.0/16"), healthy: Self.all)
        #expect(wide.dataCenter == "us" && wide.scopePrefix == 16)
    }

    @Test func sameSubnetSameOrderAndWeightsShareTheLoad() {
        let a = Self.router.route(client: IPAddress("10.2.5.1"), healthy: Self.all)
        let b = Self.router.route(client: IPAddress("10.2.5.200"), healthy: Self.all)
        #expect(a.edges == b.edges, "stable for the same /24")
        var firsts: [String: Int] = [:]
        for i in 0..<2000 {
            let subnet = CIDR(network: IPAddress("10.2.\(i / 16).\((i % 16) * 16)")!, prefix: 28)
            let d = Self.router.route(client: nil, subnet: subnet, healthy: ["us-1", "us-2"])
            firsts[d.edges[0].name, default: 0] += 1
        }
        #expect(firsts["us-1"]! > 800 && firsts["us-2"]! > 800, "\(firsts)")
        let weighted = Router(dataCenters: [RoutingDataCenter(name: "x", location: .init(lat: 0, lon: 0), networks: [],
                                                               edges: [Self.edge("w1", "x", "127.0.9.1", weight: 3), Self.edge("w2", "x", "127.0.9.2", weight: 1)])],
                              defaultLocation: .init(lat: 0, lon: 0))
        var heavy = 0
        for i in 0..<4000 where weighted.route(client: IPAddress("10.\(i / 250).\(i % 250).1"), healthy: ["w1", "w2"]).edges[0].name == "w1" { heavy += 1 }
        #expect(heavy > 2700 && heavy < 3300, "weight 3:1 → about 75 %: \(heavy)/4000")
    }

    @Test func losingAnEdgeMovesOnlyItsClients() {
        var moved = 0, kept = 0
        for i in 0..<1000 {
            let ip = IPAddress("10.\(i / 250).\(i % 250).1")
            let before = Self.router.route(client: ip, healthy: ["us-1", "us-2", "eu-1", "eu-2", "ap-1", "ap-2"])
            guard before.dataCenter == "eu" else { continue }
            let after = Self.router.route(client: ip, healthy: ["us-1", "us-2", "eu-1", "ap-1", "ap-2"])
            if before.edges[0].name == "eu-1" { #expect(after.edges[0].name == "eu-1"); kept += 1 } else { moved += 1 }
        }
        #expect(kept > 0 && moved > 0)
    }

    @Test func haversine() {
        let fra = FleetConfig.Location(lat: 50.11, lon: 8.68), iad = FleetConfig.Location(lat: 39.04, lon: -77.49)
        #expect(abs(Router.distanceKm(fra, iad) - 6_540) < 60)
        #expect(Router.distanceKm(fra, fra) == 0)
    }

    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"), ("::1", "::1"), ("2001:db8::", "2001:db8::"), ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
        ("::ffff:10.0.0.1", "10.0.0.1"), ("fe80::1:2", "fe80::1:2"),
    ])
    func addresses(_ text: String, _ canonical: String) {
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.256", "1::2::3", "12345::", "1.2.3.4.5", "g::1"])
    func badAddresses(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func cidr() {
        #expect(CIDR("10.1.0.0/16")!.contains(IPAddress("10.1.200.3")!))
        #expect(!CIDR("10.1.0.0/16")!.contains(IPAddress("10.2.0.1")!))
        #expect(CIDR("10.1.2.3/8")!.description == "10.0.0.0/8")
        #expect(!CIDR("::/0")!.contains(IPAddress("1.2.3.4")!), "families never mix")
        #expect(CIDR("10.0.0.0/33") == nil)
    }
}
