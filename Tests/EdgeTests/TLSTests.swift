import Foundation
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
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

/// A certificate per site, chosen by SNI and read again when its files change; a Host of
/// another site than the connection's server name is 421.
extension TLSTests {
    static func subject(_ stderr: String) -> String {
        stderr.split(separator: "\n").first { $0.contains("subject:") }.map(String.init) ?? "(no subject in curl -v)"
    }

    @Test func eachSiteHasItsCertificateBySNIReloadedWhenItsFilesChange() async throws {
        guard let curl = Self.curl else {
            print("curl is not installed: the SNI test did not run")
            return
        }
        let origin = ScriptedOrigin()
        origin.route("/index.html") { req in .init(headers: [("Cache-Control", "max-age=60")], body: "for \(req.header("host") ?? "-")") }
        _ = try await origin.start()
        let dir = TemporaryFolder()
        // As a Kubernetes secret volume lays them out: links into a folder that is swapped whole.
        let first = try TLSListener.selfSigned(name: "docs-first.test", host: "127.0.0.1")
        dir.write("v1/docs.crt", first.certificate)
        dir.write("v1/docs.key", first.key)
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: dir.path + "/data", withDestinationPath: "v1")
        try fm.createSymbolicLink(atPath: dir.path + "/docs.crt", withDestinationPath: "data/docs.crt")
        try fm.createSymbolicLink(atPath: dir.path + "/docs.key", withDestinationPath: "data/docs.key")
        let certFile = dir.path + "/docs.crt", keyFile = dir.path + "/docs.key"
        // A key that is not the certificate's is refused at start, naming the files.
        let other = try TLSListener.selfSigned(name: "other.test", host: "127.0.0.1")
        let wrongKey = dir.write("wrong.key", other.key)
        #expect(throws: (any Error).self) { _ = try TLSIdentities.load(certificate: certFile, key: wrongKey) }
        var config = EdgeConfig(name: "sni-edge", listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin.url)!)
        config.tlsListen = ListenAddress(host: "127.0.0.1", port: 0)
        var docs = SiteConfig(name: "docs", hosts: [HostPattern("docs.test")!, HostPattern("*.docs.test")!], origin: OriginURL(origin.url)!)
        (docs.tlsCertificate, docs.tlsKey) = (certFile, keyFile)
        config.sites = [SiteConfig(name: "www", hosts: [HostPattern("www.test")!], origin: OriginURL(origin.url)!), docs]
        let edge = try EdgeServer(config: config)
        try await edge.start()
        let port = edge.tlsPort
        func get(_ name: String, host: String? = nil) throws -> (body: String, subject: String) {
            let run = try ProcessRun.run(curl, ["-skv", "--max-time", "10", "--resolve", "\(name):\(port):127.0.0.1"]
                                         + (host.map { ["-H", "Host: \($0)"] } ?? []) + ["https://\(name):\(port)/index.html"])
            return (run.stdout, Self.subject(run.stderr))
        }
        let d = try get("api.docs.test")
        #expect(d.subject.contains("docs-first.test") && d.body == "for api.docs.test:\(port)", "\(d)")
        let w = try get("www.test")
        #expect(w.subject.contains("sni-edge") && w.body == "for www.test:\(port)", "the edge's own certificate for a site without one: \(w)")
        // HTTP/2 and HTTP/1.1 both refuse a Host of another site than the connection's.
        for version in ["--http2", "--http1.1"] {
            let run = try ProcessRun.run(curl, ["-sk", version, "--max-time", "10", "--resolve", "docs.test:\(port):127.0.0.1", "-H", "Host: www.test",
                                                "-w", "\n%{http_code}", "https://docs.test:\(port)/index.html"])
            #expect(run.stdout.hasSuffix("\n421") && run.stdout.contains("opened for 'docs.test'") && !run.stdout.contains("for www.test"), "\(version): \(run.stdout)")
        }
        // Without SNI (an address) the Host alone selects the site.
        let bare = try ProcessRun.run(curl, ["-sk", "--max-time", "10", "-H", "Host: www.test", "https://127.0.0.1:\(port)/index.html"])
        #expect(bare.stdout == "for www.test", "\(bare.stdout)")
        // Renewed files are served within seconds, without a restart.
        let renewed = try TLSListener.selfSigned(name: "docs-renewed.test", host: "127.0.0.1")
        dir.write("v2/docs.key", renewed.key)
        dir.write("v2/docs.crt", renewed.certificate)
        try fm.createSymbolicLink(atPath: dir.path + "/data.new", withDestinationPath: "v2")
        #expect(rename(dir.path + "/data.new", dir.path + "/data") == 0)
        var now = try get("docs.test")
        for _ in 0..<40 where !now.subject.contains("docs-renewed.test") {
            try await Task.sleep(for: .milliseconds(250))
            now = try get("docs.test")
        }
        #expect(now.subject.contains("docs-renewed.test"), "\(now.subject)")
        await edge.stop()
        await origin.stop()
    }
}

/// RFC 9113 §8.3.1 on an HTTP/2 stream: a `Host` naming another authority than `:authority` is
/// malformed, and reset; a matching one (any case) goes on.
@Suite struct AuthorityCheckTests {
    static func headers(_ fields: [(String, String)]) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: HPACKHeaders([(":method", "GET"), (":scheme", "https"), (":path", "/")] + fields)))
    }

    @Test func aHostOtherThanTheAuthorityResetsTheStream() throws {
        let channel = EmbeddedChannel(handler: TLSListener.AuthorityCheck())
        try channel.writeInbound(Self.headers([(":authority", "docs.test"), ("host", "www.test")]))
        let reset = try channel.readOutbound(as: HTTP2Frame.FramePayload.self)
        guard case .rstStream(let code)? = reset else { Issue.record("no reset: \(String(describing: reset))"); return }
        #expect(code == .protocolError)
        #expect(try channel.readInbound(as: HTTP2Frame.FramePayload.self) == nil, "the request goes no further")
        #expect(!channel.isActive)
    }

    @Test func anAbsoluteFormPathOrAnotherPortResetsTheStream() throws {
        let cases: [HTTP2Frame.FramePayload] = [
            Self.headers([(":authority", "docs.test"), ("host", "docs.test:8443")]),
            .headers(.init(headers: HPACKHeaders([(":method", "GET"), (":scheme", "https"), (":path", "https://www.test/x"), (":authority", "docs.test")]))),
        ]
        for payload in cases {
            let channel = EmbeddedChannel(handler: TLSListener.AuthorityCheck())
            try channel.writeInbound(payload)
            guard case .rstStream? = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else { Issue.record("not reset: \(payload)"); continue }
        }
    }

    @Test func aMatchingHostOrNoneGoesOn() throws {
        for fields in [[(":authority", "docs.test")], [(":authority", "Docs.Test"), ("host", "docs.test")],
                       [(":authority", "docs.test:443"), ("host", "docs.test.")]] {
            let channel = EmbeddedChannel(handler: TLSListener.AuthorityCheck())
            try channel.writeInbound(Self.headers(fields))
            #expect(try channel.readInbound(as: HTTP2Frame.FramePayload.self) != nil)
            #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil)
        }
    }
}
