import Foundation
import TestSupport
import Testing
@testable import Topology

/// A fleet whose edges run on other hosts: the fleet file lists their addresses, and nothing is
/// read from those hosts.
@Suite struct RemoteFleetTests {
    static let fleet = """
        origin = "http://10.0.0.10:8080"
        [[data_centers]]
        name = "eu"
        location = { lat = 50, lon = 8 }
        client_networks = ["10.1.0.0/16"]
        edges = [
          { name = "eu-1", public = "http://10.0.1.1:8080", control = "https://10.0.1.1:9090", control_ca = "ca.pem", control_token_file = "token" },
          { name = "eu-2", public = "http://edge2.example:8080", public_ipv4 = "10.0.1.2", health = "http://10.0.1.2:8081/ready", weight = 3 },
        ]
        [director]
        zone = "cdn.example.test"
        name_servers = [{ name = "ns1", address = "10.0.0.53" }, { name = "ns2", address = "10.0.0.54" }, { name = "ns.other.example." }]
        """

    @Test func edgesByAddressNeedNoFileOfTheirOwn() throws {
        let dir = TemporaryFolder()
        dir.write("token", "a-token-from-a-file-0123456789\n")
        let f = try FleetConfig.load(file: dir.write("fleet.toml", Self.fleet))
        let e1 = try #require(f.allEdges.first), e2 = f.allEdges[1]
        #expect(e1.remote && e1.file == nil && e1.dataCenter == "eu")
        #expect(e1.listen == ListenAddress(host: "10.0.1.1", port: 8080) && e1.announcedIPv4 == IPAddress("10.0.1.1"))
        #expect(e1.controlURL == "https://10.0.1.1:9090" && e1.controlTLS && e1.controlCA == dir.path + "/ca.pem")
        #expect(e1.effectiveControlToken(environment: [:]) == "a-token-from-a-file-0123456789")
        #expect(e1.effectiveControlToken(environment: ["OUTPOST_CONTROL_TOKEN": "from-the-environment"]) == "from-the-environment")
        #expect(e1.effectiveHealthURL.description == "https://10.0.1.1:9090/health", "the control listener's /health by default")
        #expect(e2.announcedIPv4 == IPAddress("10.0.1.2") && e2.weight == 3 && e2.controlURL == nil)
        #expect(e2.effectiveHealthURL.description == "http://10.0.1.2:8081/ready")
        #expect(f.director.nameServers.map(\.name) == ["ns1", "ns2", "ns.other.example."])
        #expect(f.director.nameServers[2].address == nil)
    }

    @Test(arguments: [
        ("{ name = \"x\" }", "public"),
        ("{ name = \"x\", public = \"https://10.0.1.1:8443\" }", "public"),
        ("{ name = \"x\", public = \"http://10.0.1.1:8080/path\" }", "public"),
        ("{ name = \"x\", public = \"http://edge.example:8080\" }", "no IP address"),
        ("{ name = \"x\", public = \"http://10.0.1.1:8080\", control = \"ftp://10.0.1.1:1\" }", "control"),
        ("{ name = \"x\", public = \"http://10.0.1.1:8080\", listen = \"10.0.1.1:1\" }", "unknown setting"),
        ("{ name = \"x y\", public = \"http://10.0.1.1:8080\" }", "name"),
        ("{ name = \"x\", public = \"http://10.0.1.1:8080\", weight = 0 }", "weight"),
        ("{ name = \"x\", public = \"http://10.0.1.1:99999\" }", "public"),
        ("42", "edge file or"),
    ] as [(String, String)])
    func badEntriesAreRefusedWithTheField(_ entry: String, _ message: String) {
        let dir = TemporaryFolder()
        let file = dir.write("fleet.toml", """
            origin = "http://10.0.0.10:8080"
            [[data_centers]]
            name = "eu"
            location = { lat = 50, lon = 8 }
            edges = [\(entry)]
            """)
        #expect { _ = try FleetConfig.load(file: file) } throws: { "\($0)".contains(message) && "\($0)".contains("data_centers[0].edges") }
    }

    @Test func theSerialIsTheSameForTheSameTopologyAndMovesWithIt() throws {
        let dir = TemporaryFolder()
        let a = try FleetConfig.load(file: dir.write("a.toml", Self.fleet))
        let b = try FleetConfig.load(file: dir.write("b.toml", "# another host's copy\n" + Self.fleet))
        #expect(a.topologySerial == b.topologySerial && a.topologySerial != 0, "two directors reading the same topology answer the same SOA")
        let moved = try FleetConfig.load(file: dir.write("c.toml", Self.fleet.replacingOccurrences(of: "10.0.1.1:8080", with: "10.0.1.9:8080")))
        #expect(moved.topologySerial != a.topologySerial)
        let fixed = try FleetConfig.load(file: dir.write("d.toml", Self.fleet + "\nserial = 2026120701\n"))
        #expect(fixed.topologySerial == 2_026_120_701)
        for bad in ["serial = 0", "serial = 4294967296", "name_servers = [{ name = \"bad name\" }]", "name_servers = [{ name = \"ns1\", address = \"nowhere\" }]",
                    "name_servers = [{ name = \"ns1\" }, { name = \"ns1\" }]",
                    "name_servers = [{ name = \"\(Array(repeating: String(repeating: "a", count: 60), count: 4).joined(separator: "."))\" }]",
                    "name_servers = [{ name = \"ns\u{00E9}\" }]"] {
            let text = Self.fleet.replacingOccurrences(of: "name_servers = [{ name = \"ns1\", address = \"10.0.0.53\" }, { name = \"ns2\", address = \"10.0.0.54\" }, { name = \"ns.other.example.\" }]", with: bad)
            #expect(throws: ConfigError.self, "\(bad)") { _ = try FleetConfig.load(file: dir.write("e.toml", text)) }
        }
    }

    @Test func edgeFilesTakeTheControlTLSAndPeerSettings() throws {
        let dir = TemporaryFolder()
        let e = try EdgeConfig.load(file: dir.write("e.toml", """
            name = "e"
            control_listen = "127.0.0.1:9090"
            control_tls = true
            control_ca = "ca.pem"
            push_peers = ["https://10.0.1.2:9090", "http://10.0.1.3:9090"]
            push_sync_interval = 0.5
            """))
        #expect(e.controlTLS && e.controlURL == "https://127.0.0.1:9090" && e.controlCA == dir.path + "/ca.pem")
        #expect(e.pushPeers.map(\.description) == ["https://10.0.1.2:9090", "http://10.0.1.3:9090"] && e.pushSyncInterval == 0.5)
        for bad in ["push_peers = [\"https://10.0.1.2:9090/manifest\"]", "push_peers = [\"10.0.1.2:9090\"]", "push_sync_interval = 0", "control_tls = \"yes\""] {
            #expect(throws: ConfigError.self, "\(bad)") { _ = try EdgeConfig.load(file: dir.write("bad.toml", "name = \"e\"\n" + bad)) }
        }
    }
}
