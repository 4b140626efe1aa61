import Assets
import CacheStore
import Director
import Edge
import HTTPCaching
import NIOHTTP1
import Topology

/// One entry point per parser that reads hostile input, for libFuzzer (`Sources/OutpostFuzz`,
/// `Fuzz/run.sh`) and for the corpus replay in the tests. Each harness parses the bytes and
/// checks what must hold of the result; a trap or a failed check is a finding.
public enum FuzzTargets {
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "http-date": httpDate,
        "cache-control": cacheControl,
        "range": range,
        "vary": vary,
        "accept-encoding": acceptEncoding,
        "cidr": cidr,
        "toml": toml,
        "dns": dns,
        "css": { minify($0, CSSMinifier.minify) },
        "js": { minify($0, JSMinifier.minify) },
        "html": { minify($0, HTMLMinifier.minify) },
        "push-headers": pushHeaders,
        "path-glob": pathGlob,
    ]

    public static var names: [String] { all.keys.sorted() }

    /// A failed property: trap, so that libFuzzer records the input.
    static func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { fatalError("fuzz property failed: \(what())") }
    }

    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    /// `Name: value` lines as headers (what a hostile client or origin sends).
    static func headers(_ b: [UInt8]) -> HTTPHeaders {
        var h = HTTPHeaders()
        for line in text(b).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            // Field names are tokens (RFC 9110 §5.1): a parser never hands anything else on.
            guard let colon = line.firstIndex(of: ":"), line[..<colon].allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { continue }
            h.add(name: String(line[..<colon]), value: String(line[line.index(after: colon)...]))
        }
        return h
    }

    static func httpDate(_ b: [UInt8]) {
        guard let t = HTTPDate.parse(text(b)) else { return }
        check(t >= HTTPDate.minimum && t <= HTTPDate.maximum, "parsed date out of range: \(t)")
        check(HTTPDate.parse(HTTPDate.format(t)) == t, "format/parse round trip of \(t)")
    }

    static func cacheControl(_ b: [UInt8]) {
        let h = headers(b)
        let cc = CacheControl(headers: h)
        for v in [cc.maxAge, cc.sharedMaxAge, cc.staleWhileRevalidate, cc.staleIfError] {
            if let v { check((0...2_147_483_648).contains(v), "delta-seconds \(v) not saturated") }
        }
        let f = Freshness(status: 200, headers: h, requestTime: 1_000_000, responseTime: 1_000_001)
        _ = f.state(at: 1_000_500)
        _ = Int(saturating: f.timeToLive(at: 1_000_500))
        _ = Storability.decide(method: .GET, requestHeaders: [:], status: 200, responseHeaders: h)
        _ = ConditionalRequest.isNotModified(requestHeaders: h, etag: h.first(name: "etag"), lastModified: h.first(name: "last-modified"))
        _ = ConditionalRequest.rangeApplies(requestHeaders: h, etag: h.first(name: "etag"), lastModified: h.first(name: "last-modified"))
        _ = HeaderRules.updating(stored: h, with: h)
    }

    static func range(_ b: [UInt8]) {
        guard b.count >= 2 else { return }
        let length = Int(b[0]) << 8 | Int(b[1])
        switch ByteRangeOutcome.evaluate(rangeHeader: text(Array(b.dropFirst(2))), length: length) {
        case .partial(let r): check(r.lowerBound >= 0 && r.upperBound < length, "range \(r) outside 0..<\(length)")
        case .full, .unsatisfiable: break
        }
    }

    static func vary(_ b: [UInt8]) {
        let h = headers(b)
        let selector = VarySelector(responseHeaders: h, requestHeaders: h, ignoring: ["accept-encoding"])
        check(selector.matches(h), "a variant must match the request it was stored for")
    }

    static func acceptEncoding(_ b: [UInt8]) {
        let available = Set(ContentCoding.allCases)
        if let c = AcceptEncoding.choose(text(b), available: available) { check(available.contains(c), "chose \(c)") }
    }

    static func cidr(_ b: [UInt8]) {
        let s = text(b)
        if let a = IPAddress(s) { check(IPAddress(a.description) == a, "\(s) → \(a) does not round-trip") }
        if let c = CIDR(s) { check(c.contains(c.network), "\(c) does not contain its own network") }
        if let a = IPAddress(bytes: Array(b.prefix(16))), let p = b.last { _ = CIDR(network: a, prefix: Int(p) - 128).contains(a) }
    }

    static func toml(_ b: [UInt8]) {
        guard let doc = try? TOMLDocument(parsing: text(b), file: "fuzz.toml") else { return }
        let section = ConfigSection(table: doc.root, file: "fuzz.toml")
        _ = try? EdgeConfig(section: section)
        _ = try? ListenerLimits(section: section)
    }

    static let answerer = DNSAnswerer(zone: "cdn.fuzz.test", ttl: 5, answerCount: 2, nameServers: [FleetConfig.NameServer(name: "ns1", address: IPAddress("192.0.2.53"))], serial: 1)
    static let edges = (1...40).map { i in
        RoutingEdge(name: "e\(i)", dataCenter: "dc", ipv4: IPAddress("192.0.2.\(i)"), ipv6: IPAddress("2001:db8::\(i)"), weight: 1, publicURL: "http://192.0.2.\(i)")
    }

    static func dns(_ b: [UInt8]) {
        if let m = try? DNSMessage.parse(b) {
            let again = try? DNSMessage.parse(m.encode())
            check(again?.questions == m.questions, "questions do not survive encode/parse")
        }
        for transport in [DNSAnswerer.Transport.udp, .tcp] {
            // Fail open with 40 edges: answers large enough to need truncation over UDP.
            let answer = answerer.respond(to: b, from: IPAddress("198.51.100.7"), transport: transport) { _, subnet in
                RouteDecision(client: "198.51.100.7", matchedDataCenter: nil, location: .init(lat: 0, lon: 0), dataCenter: "dc",
                              edges: edges, failOpen: true, scopePrefix: subnet?.prefix ?? 0, reason: "fuzz")
            }
            guard let answer else { continue }
            check(answer.count <= (transport == .udp ? DNSAnswerer.udpPayloadSize : 65_535), "answer of \(answer.count) bytes over \(transport)")
            check((try? DNSMessage.parse(answer)) != nil, "our own answer does not parse")
        }
    }

    static func minify(_ b: [UInt8], _ minifier: ([UInt8]) -> MinifyResult) {
        if case .minified(let out) = minifier(b) { check(out.count <= b.count, "minified output is larger than its input") }
    }

    static func pushHeaders(_ b: [UInt8]) {
        let split = b.firstIndex(of: 0x0A) ?? b.endIndex
        let path = text(Array(b[..<split]))
        if case .success(let r) = PushRequest.parse(path: path, headers: headers(Array(b[split...])), now: 1_800_000_000) {
            check(r.expires.isFinite && r.expires > 1_800_000_000 && r.expires <= HTTPDate.maximum, "expiry \(r.expires)")
            let segments = r.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            check(r.path.hasPrefix("/") && !segments.contains(where: { $0 == "." || $0 == ".." }), "path \(r.path)")
            let object = PushedObject(path: r.path, body: .init(), sha256: String(repeating: "0", count: 64), contentType: r.contentType,
                                      tags: r.tags, expires: r.expires, pushedAt: 1_800_000_000)
            _ = AssetKind(contentType: object.meta.contentType)
        }
    }

    static func pathGlob(_ b: [UInt8]) {
        let split = b.firstIndex(of: 0x0A) ?? b.endIndex
        let glob = PathGlob(text(Array(b[..<split])))
        let path = text(Array(b[split...].dropFirst()))
        _ = glob.matches(path)
        _ = CacheKey(scheme: "http", authority: "fuzz", pathAndQuery: path)
        if !glob.pattern.contains(where: { "*?[".contains($0) }) { check(glob.matches(glob.pattern), "a literal pattern matches itself") }
    }
}
