import HTTPCaching
import NIOHTTP1
import Testing

/// RFC 9213 targeted fields, RFC 9111 §5.1 (Age), §5.3 (Expires) and §5.2.2.3 (must-understand),
/// as tables from the RFCs' text.
@Suite struct TargetedCacheControlTests {
    static let now = 1_800_000_000.0
    static let date = HTTPDate.format(now)

    static func lifetime(_ headers: [(String, String)]) -> Double {
        Freshness(status: 200, headers: HTTPHeaders(headers), requestTime: now, responseTime: now).lifetime
    }

    static func age(_ headers: [(String, String)]) -> Double {
        Freshness(status: 200, headers: HTTPHeaders(headers), requestTime: now, responseTime: now).age(at: now)
    }

    static let lifetimeCases: [([(String, String)], Double)] = [
        // "the cache MUST select the first (in target list order) field with a valid, non-empty value"
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=600")], 600.0),
        ([("Cache-Control", "max-age=10"), ("Outpost-CDN-Cache-Control", "max-age=900"), ("CDN-Cache-Control", "max-age=600")], 900.0),
        ([("Cache-Control", "max-age=10"), ("Surrogate-Control", "max-age=300")], 300.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=600"), ("Surrogate-Control", "max-age=300")], 600.0),
        // "... and it MUST ignore the Cache-Control and Expires header fields"
        ([("Date", date), ("Expires", HTTPDate.format(now + 50)), ("CDN-Cache-Control", "public")], 0.0),
        // An empty or invalid targeted field does not count: Cache-Control decides.
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "nonsense-directive")], 10.0),
        // §2.1: CDN-Cache-Control is a Dictionary Structured Field; one that does not parse is
        // ignored whole (RFC 8941 §4.2: any error fails the field) ...
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=600, &&&&&")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age =600")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=600,")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "Max-Age=600")], 10.0),
        ([("Cache-Control", "max-age=10"), ("Outpost-CDN-Cache-Control", "max-age=1.5.5"), ("CDN-Cache-Control", "max-age=600")], 600.0),
        // ... and a directive with a value of the wrong type is ignored.
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=\"600\"")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=-1")], 10.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=600;x=1, public, x=(a b)")], 600.0),
        ([("Cache-Control", "max-age=10"), ("CDN-Cache-Control", "max-age=5"), ("CDN-Cache-Control", "max-age=600")], 600.0),
        // Surrogate-Control is not a structured field: read as Cache-Control is.
        ([("Cache-Control", "max-age=10"), ("Surrogate-Control", "max-age=\"300\"")], 300.0),
        // §5.3: an Expires that does not parse, or several, is already expired.
        ([("Date", date), ("Expires", "0")], 0.0),
        ([("Date", date), ("Expires", HTTPDate.format(now + 50)), ("Expires", HTTPDate.format(now + 90))], 0.0),
        ([("Date", date), ("Expires", HTTPDate.format(now + 50))], 50.0),
    ]

    @Test(arguments: lifetimeCases)
    func lifetimeFollowsTheTargetedField(_ headers: [(String, String)], _ expected: Double) {
        #expect(Self.lifetime(headers) == expected, "\(headers)")
    }

    @Test(arguments: [
        // §5.1: the first member of a list; an invalid value is ignored; a valid one counts.
        ([("Date", date), ("Age", "30")], 30.0),
        ([("Date", date), ("Age", "30, 60")], 30.0),
        ([("Date", date), ("Age", "-5")], 0.0),
        ([("Date", date), ("Age", "abc")], 0.0),
        ([("Date", date), ("Age", "1.5")], 0.0),
        ([("Date", date), ("Age", "99999999999999999999")], 2_147_483_648.0),
    ])
    func ageCountsAgainstFreshness(_ headers: [(String, String)], _ expected: Double) {
        #expect(Self.age(headers) == expected, "\(headers)")
    }

    @Test func ageCountsWithMaxAgeAndWithExpires() {
        let maxAge = Freshness(status: 200, headers: ["Date": Self.date, "Cache-Control": "max-age=100", "Age": "40"], requestTime: Self.now, responseTime: Self.now)
        #expect(maxAge.timeToLive(at: Self.now) == 60)
        let expires = Freshness(status: 200, headers: ["Date": Self.date, "Expires": HTTPDate.format(Self.now + 100), "Age": "40"], requestTime: Self.now,
                                responseTime: Self.now)
        #expect(expires.timeToLive(at: Self.now) == 60)
    }

    @Test(arguments: [
        // §5.2.2.3: must-understand with an understood status overrides no-store ...
        (200, "max-age=60, must-understand, no-store", true),
        // ... and with a status the cache does not understand, nothing is stored.
        (299, "max-age=60, must-understand, no-store", false),
        (200, "max-age=60, no-store", false),
    ])
    func mustUnderstand(_ status: Int, _ cacheControl: String, _ storable: Bool) {
        let d = Storability.decide(method: .GET, requestHeaders: [:], status: status, responseHeaders: ["Cache-Control": cacheControl])
        #expect((d == .storable) == storable, "\(status) \(cacheControl): \(d)")
    }

    @Test func anInvalidTargetedFieldLeavesCacheControlInCharge() {
        for cdn in ["max-age=10000, &&&&&", "max-age=\"10000\""] {
            let d = Storability.decide(method: .GET, requestHeaders: [:], status: 200, responseHeaders: ["Cache-Control": "no-store", "CDN-Cache-Control": cdn])
            #expect(d == .notStorable(reason: "no-store"), "\(cdn)")
        }
    }

    @Test func aTargetedNoStoreWinsOverCacheControl() {
        let d = Storability.decide(method: .GET, requestHeaders: [:], status: 200,
                                   responseHeaders: ["Cache-Control": "public, max-age=60", "CDN-Cache-Control": "no-store"])
        #expect(d == .notStorable(reason: "no-store"))
        let e = Storability.decide(method: .GET, requestHeaders: [:], status: 200,
                                   responseHeaders: ["Cache-Control": "private", "CDN-Cache-Control": "max-age=60"])
        #expect(e == .storable, "the cache ignores Cache-Control when a targeted field is there")
    }
}
