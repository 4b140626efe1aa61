import HTTPCaching
import Testing
@testable import Edge

/// The access log's line: nginx's combined format plus the outcome and the time taken, every
/// client-chosen field escaped and bounded.
@Suite struct AccessLogLineTests {
    // Thu, 26 Nov 2026 06:20:00 GMT
    static let t = 1_795_674_000.0

    @Test func aHitIsOneCombinedLine() {
        let line = AccessLog.line(client: "127.0.0.1", method: "GET", target: "/a.css", version: "HTTP/1.1", status: 200, bytes: 1470,
                                  referer: nil, userAgent: "curl/8", outcome: .hit, seconds: 0.0004, now: Self.t + 0.9)
        #expect(line == "127.0.0.1 - - [26/Nov/2026:06:20:00 +0000] \"GET /a.css HTTP/1.1\" 200 1470 \"-\" \"curl/8\" HIT 0.000")
    }

    @Test(arguments: [(0.0, "0.000"), (0.0015, "0.002"), (0.05, "0.050"), (1.2344, "1.234"), (12.0, "12.000"), (-3, "0.000"),
                      (Double.nan, "-"), (Double.infinity, "-"), (1e300, "1000000000.000")])
    func secondsHaveThreeDecimals(seconds: Double, text: String) {
        #expect(AccessLog.secondsText(seconds) == text)
    }

    @Test func theDateFollowsTheClock() {
        #expect(AccessLog.clfDate(Self.t) == "26/Nov/2026:06:20:00 +0000")
        #expect(AccessLog.clfDate(Self.t + 61) == "26/Nov/2026:06:21:01 +0000")
        #expect(AccessLog.clfDate(Self.t) == "26/Nov/2026:06:20:00 +0000")
        #expect(AccessLog.clfDate(.nan) == "01/Jan/1970:00:00:00 +0000")
    }

    @Test func clientFieldsAreEscapedAndCut() {
        let line = AccessLog.line(client: nil, method: "GET", target: "/\"x\n" + String(repeating: "a", count: 5000), version: "HTTP/1.1",
                                  status: 404, bytes: 0, referer: "r\\", userAgent: "\u{1B}[31m", outcome: .miss, seconds: 0, now: Self.t)
        #expect(line.hasPrefix("- - - [26/Nov/2026:06:20:00 +0000] \"GET /\\x22x\\x0A"))
        #expect(line.contains("...") && !line.contains("\n"))
        #expect(line.contains("\"r\\x5C\" \"\\x1B[31m\""))
        #expect(line.utf8.count < 2_300)
    }
}
