import CacheStore
import ControlAPI
import Foundation
import TestSupport
import Testing
import Topology
@testable import Edge

/// Pushed content reaching an edge that joins later: from its peers' control APIs, over TLS.
@Suite struct PushSyncTests {
    static let sha = String(repeating: "a", count: 64), sha2 = String(repeating: "b", count: 64)

    static func entry(_ path: String, sha: String = sha, expires: Double = 2_000, pushedAt: Double = 100, size: Int = 10) -> Manifest.Entry {
        Manifest.Entry(path: path, size: size, sha256: sha, contentType: "text/css", tags: ["t"], expires: expires, pushedAt: pushedAt)
    }

    @Test(arguments: [
        // (peer's entry, ours, step)
        (entry("/a"), nil, "copy"),
        (entry("/a"), entry("/a"), "none"),
        (entry("/a", expires: 3_000), entry("/a"), "extend"),
        (entry("/a", expires: 1_500), entry("/a"), "none"),  // ours lives longer: kept
        (entry("/a", sha: sha2, pushedAt: 200), entry("/a"), "copy"),  // pushed later there
        (entry("/a", sha: sha2, pushedAt: 50), entry("/a"), "none"),  // ours is the newer push
        (entry("/a", expires: 900), nil, "none"),  // already expired (now = 1000)
    ] as [(Manifest.Entry, Manifest.Entry?, String)])
    func planCopiesWhatIsMissingOrNewer(_ peer: Manifest.Entry, _ local: Manifest.Entry?, _ expected: String) {
        let steps = PushSyncPlan.steps(peer: [peer], local: local.map { [$0] } ?? [], now: 1_000, maxObjectSize: 1 << 20)
        let got = steps.map { step -> String in
            switch step {
            case .copy: "copy"
            case .extend: "extend"
            }
        }.first ?? "none"
        #expect(got == expected)
    }

    /// A peer's manifest is input: nothing in it that could not have come from a push is acted on.
    @Test(arguments: [
        entry("/a", sha: "A" + String(repeating: "a", count: 63)),
        entry("/a", sha: "abc"),
        entry("a/b"),
        entry("/a//b"),
        entry("/a?b"),
        entry("/a", size: -1),
        entry("/a", size: 2 << 20),
        entry("/a", expires: .infinity),
        entry("/a", expires: 1e300),
        entry("/a", pushedAt: .nan),
        Manifest.Entry(path: "/a", size: 1, sha256: sha, contentType: "text/css\r\nX-Evil: 1", tags: [], expires: 2_000, pushedAt: 1),
        Manifest.Entry(path: "/a", size: 1, sha256: sha, contentType: "", tags: [], expires: 2_000, pushedAt: 1),
        Manifest.Entry(path: "/a", size: 1, sha256: sha, contentType: "text/css", tags: ["a b"], expires: 2_000, pushedAt: 1),
        Manifest.Entry(path: "/a", size: 1, sha256: sha, contentType: "text/css", tags: ["a\nb"], expires: 2_000, pushedAt: 1),
    ])
    func hostileManifestEntriesAreSkipped(_ e: Manifest.Entry) {
        #expect(PushSyncPlan.steps(peer: [e], local: [], now: 1_000, maxObjectSize: 1 << 20).isEmpty)
    }

    static let token = "sync-test-token-0123456789abcdef"
    static let curl = ProcessRun.find(["/usr/bin/curl", "/bin/curl"])

    /// The control API over TLS, trusted through a private CA: the CLI's way in (curl with the CA
    /// here), refused without it; a new, empty edge copies everything from its peer, then follows
    /// a new push and an extended expiry.
    @Test func anEmptyEdgeCopiesItsPeersPushesOverTLS() async throws {
        guard let curl = Self.curl else {
            Issue.record("curl is needed (.ci/run installs it)")
            return
        }
        let dir = TemporaryFolder()
        let ca = try PrivateCA(name: "test CA")
        let caFile = dir.write("ca.pem", try ca.certificatePEM())
        let (cert, key) = try ca.issue(name: "peer-a", ipv4: "127.0.0.1")
        var a = EdgeConfig(name: "peer-a", listen: ListenAddress(host: "127.0.0.1", port: 0), controlListen: ListenAddress(host: "127.0.0.1", port: 0),
                           controlToken: Self.token, dataDirectory: dir.path + "/a")
        a.controlTLS = true
        a.tlsCertificate = dir.write("a.pem", cert)
        a.tlsKey = dir.write("a.key", key)
        let edgeA = try EdgeServer(config: a)
        try await edgeA.start()
        defer { Task { await edgeA.stop() } }
        let base = "https://127.0.0.1:\(edgeA.controlPort)"

        func put(_ path: String, _ body: String, expires: String = "1h", method: String = "PUT") throws -> String {
            let file = dir.write("body", body)
            let args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--cacert", caFile, "-X", method,
                        "-H", "Authorization: Bearer \(Self.token)", "-H", "X-Outpost-Expires: \(expires)", "-H", "Content-Type: text/css"]
                + (method == "PUT" ? ["--data-binary", "@" + file] : []) + [base + "/push" + path]
            return try ProcessRun.run(curl, args).stdout
        }
        #expect(try put("/css/a.css", "a{color:red}") == "201")
        #expect(try put("/css/b.css", "b{color:blue}") == "201")
        // Without the CA, curl refuses the certificate: the token never leaves.
        let untrusted = try ProcessRun.run(curl, ["-s", "-o", "/dev/null", "--max-time", "10", "-H", "Authorization: Bearer \(Self.token)", base + "/manifest"])
        #expect(untrusted.status == 60, "curl: peer certificate cannot be authenticated with known CA certificates")
        // Plain HTTP on the TLS port gets no control answer.
        let plain = try? await RawHTTP.async("GET", "/manifest", port: edgeA.controlPort, headers: ["Authorization": "Bearer \(Self.token)"])
        #expect(plain?.status != 200)

        var b = EdgeConfig(name: "joiner", listen: ListenAddress(host: "127.0.0.1", port: 0), controlListen: ListenAddress(host: "127.0.0.1", port: 0),
                           controlToken: Self.token, dataDirectory: dir.path + "/b")
        b.pushPeers = [try #require(EndpointURL(base))]
        b.controlCA = caFile
        b.pushSyncInterval = 0.2
        let edgeB = try EdgeServer(config: b)
        try await edgeB.start()
        defer { Task { await edgeB.stop() } }
        #expect(try await eventually(timeout: 15) { (edgeB.pushes?.manifest(now: Date().timeIntervalSince1970).count ?? 0) == 2 },
                "the joiner copies the peer's pushed set: \(edgeB.pushSyncCounts)")
        let served = try await RawHTTP.async("GET", "/css/a.css", port: edgeB.port)
        #expect(served.status == 200 && served.text == "a{color:red}" && served.cacheStatus.contains("pushed"), "\(served.status) \(served.cacheStatus)")
        let mine = try #require(edgeB.pushes?.manifest(now: Date().timeIntervalSince1970).first { $0.path == "/css/a.css" })
        let theirs = try #require(edgeA.pushes?.manifest(now: Date().timeIntervalSince1970).first { $0.path == "/css/a.css" })
        #expect(mine == theirs, "the same object: SHA-256, expiry, push time, type and tags")

        // A new push there replaces it here; a longer expiry there moves it here.
        try await Task.sleep(for: .milliseconds(1100))  // push times are seconds
        #expect(try put("/css/a.css", "a{color:green}") == "201")
        var followed = false
        for _ in 0..<150 where !followed {
            followed = (try? await RawHTTP.async("GET", "/css/a.css", port: edgeB.port).text) == "a{color:green}"
            if !followed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(followed, "a newer push on the peer replaces the copy")
        #expect(try put("/css/b.css", "", expires: "30d", method: "PATCH") == "200")
        let far = Date().timeIntervalSince1970 + 29 * 86_400
        #expect(try await eventually(timeout: 15) { (edgeB.pushes?.manifest(now: Date().timeIntervalSince1970).first { $0.path == "/css/b.css" }?.expires ?? 0) > far })
        #expect(edgeB.pushSyncCounts.copied == 3 && edgeB.pushSyncCounts.extended == 1, "\(edgeB.pushSyncCounts)")
    }
}
