import Foundation
import Origin
import TestSupport
import Testing
import Topology
@testable import Edge

/// The public listener over TLS with HTTP/2 and HTTP/1.1 by ALPN, checked with curl (another
/// implementation of both). .ci/run installs curl.
@Suite struct TLSTests {
    static let curl = ProcessRun.find(["/usr/bin/curl", "/bin/curl"])

    static func curl(_ args: [String]) throws -> String {
        try ProcessRun.run(curl!, ["-sk", "--max-time", "10"] + args).stdout
    }

    @Test func http2AndHTTP1OverTLSTakeTheSameRequestPath() async throws {
        guard Self.curl != nil else {
            print("curl is not installed: the TLS test did not run")
            return
        }
        let origin = ScriptedOrigin()
        origin.route("/page") { _ in .init(headers: [("Cache-Control", "max-age=60"), ("Content-Type", "text/plain")], body: "over tls") }
        _ = try await origin.start()
        var config = EdgeConfig(name: "tls-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin.url)!)
        config.tlsListen = ListenAddress(host: "127.0.0.1", port: 0)
        let edge = try EdgeServer(config: config)
        try await edge.start()
        let url = "https://127.0.0.1:\(edge.tlsPort)/page"
        let first = try Self.curl(["--http2", "-D", "-", url])
        #expect(first.hasPrefix("HTTP/2 200"), "\(first)")
        #expect(first.contains("cache-status: tls-edge; fwd=miss") && first.hasSuffix("over tls"))
        let second = try Self.curl(["--http2", "-D", "-", url])
        #expect(second.contains("cache-status: tls-edge; hit"))
        let http1 = try Self.curl(["--http1.1", "-D", "-", url])
        #expect(http1.hasPrefix("HTTP/1.1 200") && http1.contains("Cache-Status: tls-edge; hit"), "\(http1)")
        // Several requests on one HTTP/2 connection, concurrently.
        let many = try Self.curl(["--http2", "-w", "%{http_version} %{http_code}\\n"] + Array(repeating: ["-o", "/dev/null", url], count: 4).flatMap { $0 })
        #expect(many.split(separator: "\n") == ["2 200", "2 200", "2 200", "2 200"], "\(many)")
        #expect(origin.count("/page") == 1)
        await edge.stop()
        await origin.stop()
    }
}
