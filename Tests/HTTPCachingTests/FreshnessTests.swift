import HTTPCaching
import NIOHTTP1
import Testing

@Suite struct FreshnessTests {
    static let now = 1_700_000_000.0
    static let date = HTTPDate.format(now)

    struct LifetimeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var status = 200
        var headers: [(String, String)]
        var expected: Double
        var testDescription: String { name }
    }

    static let lifetimeCases: [LifetimeCase] = [
        .init(name: "s-maxage wins over max-age", headers: [("Cache-Control", "max-age=10, s-maxage=99")], expected: 99),
        .init(name: "max-age wins over Expires", headers: [("Cache-Control", "max-age=10"), ("Expires", HTTPDate.format(now + 500)), ("Date", date)], expected: 10),
        .init(name: "Expires minus Date", headers: [("Expires", HTTPDate.format(now + 500)), ("Date", date)], expected: 500),
        .init(name: "Expires in the past", headers: [("Expires", HTTPDate.format(now - 500)), ("Date", date)], expected: 0),
        .init(name: "invalid Expires means expired", headers: [("Expires", "0"), ("Date", date)], expected: 0),
        .init(name: "invalid max-age means stale", headers: [("Cache-Control", "max-age=x"), ("Expires", HTTPDate.format(now + 500))], expected: 0),
        .init(name: "heuristic: 10% of Date − Last-Modified", headers: [("Date", date), ("Last-Modified", HTTPDate.format(now - 1000))], expected: 100),
        .init(name: "heuristic is capped at a day", headers: [("Date", date), ("Last-Modified", HTTPDate.format(now - 100 * 86_400))], expected: 86_400),
        .init(name: "heuristic for 404", status: 404, headers: [("Date", date), ("Last-Modified", HTTPDate.format(now - 1000))], expected: 100),
        .init(name: "no heuristic for 302", status: 302, headers: [("Date", date), ("Last-Modified", HTTPDate.format(now - 1000))], expected: 0),
        .init(name: "no information", headers: [("Date", date)], expected: 0),
    ]

    @Test(arguments: lifetimeCases)
    func lifetime(_ c: LifetimeCase) {
        let h = HTTPHeaders(c.headers)
        #expect(FreshnessLifetime.seconds(status: c.status, headers: h, cacheControl: CacheControl(headers: h), responseTime: Self.now) == c.expected)
    }

    @Test func ageFollowsSection4_2_3() {
        // Origin said Age: 10, the response took 2 s, and Date is 5 s before it arrived.
        let h: HTTPHeaders = ["Cache-Control": "max-age=100", "Age": "10", "Date": HTTPDate.format(Self.now - 5)]
        let f = Freshness(status: 200, headers: h, requestTime: Self.now - 2, responseTime: Self.now)
        #expect(f.correctedInitialAge == 12)  // max(apparent 5, 10 + delay 2)
        #expect(f.age(at: Self.now + 30) == 42)
        #expect(f.timeToLive(at: Self.now + 30) == 58)
        // Apparent age wins when the Date is far behind.
        let g = Freshness(status: 200, headers: ["Date": HTTPDate.format(Self.now - 50)], requestTime: Self.now, responseTime: Self.now)
        #expect(g.correctedInitialAge == 50)
    }

    struct StateCase: Sendable, CustomTestStringConvertible {
        var cacheControl: String
        var secondsLater: Double
        var expected: FreshnessState
        var servableOnError: Bool
        var testDescription: String { "\(cacheControl) +\(secondsLater)s" }
    }

    static let stateCases: [StateCase] = [
        .init(cacheControl: "max-age=60", secondsLater: 59, expected: .fresh, servableOnError: false),
        .init(cacheControl: "max-age=60", secondsLater: 60, expected: .mustValidate, servableOnError: false),
        .init(cacheControl: "max-age=60, stale-while-revalidate=30", secondsLater: 80, expected: .staleWhileRevalidate, servableOnError: false),
        .init(cacheControl: "max-age=60, stale-while-revalidate=30", secondsLater: 91, expected: .mustValidate, servableOnError: false),
        .init(cacheControl: "max-age=60, stale-if-error=100", secondsLater: 150, expected: .mustValidate, servableOnError: true),
        .init(cacheControl: "max-age=60, stale-if-error=100", secondsLater: 161, expected: .mustValidate, servableOnError: false),
        .init(cacheControl: "no-cache, max-age=60", secondsLater: 1, expected: .mustValidate, servableOnError: false),
        // no-cache: never used without a successful validation, so never on error (§5.2.2.4).
        .init(cacheControl: "no-cache, max-age=3600, stale-if-error=86400", secondsLater: 10, expected: .mustValidate, servableOnError: false),
        // must-revalidate and s-maxage forbid serving stale, whatever stale-* says (§4.2.4, RFC 5861 §4).
        .init(cacheControl: "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=100", secondsLater: 70, expected: .mustValidate, servableOnError: false),
        .init(cacheControl: "s-maxage=60, stale-if-error=100", secondsLater: 70, expected: .mustValidate, servableOnError: false),
        .init(cacheControl: "max-age=60, proxy-revalidate, stale-while-revalidate=30", secondsLater: 70, expected: .mustValidate, servableOnError: false),
    ]

    @Test(arguments: stateCases)
    func state(_ c: StateCase) {
        let f = Freshness(status: 200, headers: ["Cache-Control": c.cacheControl, "Date": Self.date], requestTime: Self.now, responseTime: Self.now)
        #expect(f.state(at: Self.now + c.secondsLater) == c.expected)
        #expect(f.mayServeOnError(at: Self.now + c.secondsLater) == c.servableOnError)
        if !c.servableOnError, !f.mayServeStale {
            #expect(!f.mayServeDisconnected(at: Self.now + c.secondsLater, within: 3600))
        }
    }
}
