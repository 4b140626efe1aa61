import Edge
import Foundation
import TestSupport
import Testing
import Topology
@testable import Director

/// A director that knows edges only by their addresses: health over the control API's TLS
/// (and the public listener), and the dashboard's counters read over TLS with the fleet's CA.
@Suite struct RemoteEdgeHealthTests {
    @Test func edgesByAddressAreCheckedOverTLSAndRead() async throws {
        let dir = TemporaryFolder()
        let ca = try PrivateCA(name: "fleet CA")
        let caFile = dir.write("ca.pem", try ca.certificatePEM())
        let (cert, key) = try ca.issue(name: "tls-1", ipv4: "127.0.0.1")
        let token = "remote-health-token-0123456789"
        dir.write("token", token)
        var c = EdgeConfig(name: "tls-1", dataCenter: "eu", listen: ListenAddress(host: "127.0.0.1", port: 0),
                           controlListen: ListenAddress(host: "127.0.0.1", port: 0), controlToken: token, dataDirectory: dir.path + "/data")
        c.controlTLS = true
        c.tlsCertificate = dir.write("e.pem", cert)
        c.tlsKey = dir.write("e.key", key)
        let edge = try EdgeServer(config: c)
        try await edge.start()
        defer { Task { await edge.stop() } }
        let dead = freePortBlock()
        let fleet = try FleetConfig.load(file: dir.write("fleet.toml", """
            origin = "http://127.0.0.1:1"
            [[data_centers]]
            name = "eu"
            location = { lat = 50, lon = 8 }
            client_networks = ["10.1.0.0/16"]
            edges = [
              { name = "tls-1", public = "http://127.0.0.1:\(edge.port)", control = "https://127.0.0.1:\(edge.controlPort)", control_ca = "ca.pem", control_token_file = "token" },
              { name = "gone", public = "http://127.0.0.1:\(dead)", control = "https://127.0.0.1:\(dead + 1)" },
            ]
            [director]
            zone = "cdn.remote.test"
            dns_listen = "127.0.0.1:0"
            http_listen = "127.0.0.1:0"
            check_timeout = 3   # a TLS handshake on a loaded test machine
            """))
        #expect(fleet.allEdges.first?.controlCA == caFile)
        let director = DirectorServer(fleet: fleet)
        _ = try await director.start()
        defer { Task { await director.stop() } }
        #expect(try await eventually(timeout: 10) { director.core.monitor.healthy == ["tls-1"] },
                "\(director.core.monitor.snapshot.map { "\($0.name): \($0.healthy) \($0.lastError ?? "")" })")
        let gone = director.core.monitor.snapshot.first { $0.name == "gone" }
        #expect(gone?.lastError?.contains("https://127.0.0.1:\(dead + 1)/health") == true, "the failure names the URL: \(gone?.lastError ?? "")")
        await director.core.stats.poll(healthy: ["tls-1"])
        #expect(director.core.stats.latest.map(\.edge) == ["tls-1"], "/stats read over TLS, trusted through the fleet's CA")
    }
}
