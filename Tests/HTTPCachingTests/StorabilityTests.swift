import HTTPCaching
import NIOHTTP1
import Testing

@Suite struct StorabilityTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method: HTTPMethod = .GET
        var request: [(String, String)] = []
        var status = 200
        var response: [(String, String)]
        var storable: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        .init(name: "max-age", response: [("Cache-Control", "max-age=60")], storable: true),
        .init(name: "no-store", response: [("Cache-Control", "max-age=60, no-store")], storable: false),
        .init(name: "request no-store", request: [("Cache-Control", "no-store")], response: [("Cache-Control", "max-age=60")], storable: false),
        .init(name: "private", response: [("Cache-Control", "private, max-age=60")], storable: false),
        .init(name: "no-cache is stored (and always revalidated)", response: [("Cache-Control", "no-cache")], storable: true),
        // §3 does not list no-cache: alone it stores only a status the cache understands.
        .init(name: "503 with no-cache alone", status: 503, response: [("Cache-Control", "no-cache")], storable: false),
        .init(name: "Authorization without permission", request: [("Authorization", "Bearer x")], response: [("Cache-Control", "max-age=60")], storable: false),
        .init(name: "Authorization with public", request: [("Authorization", "Bearer x")], response: [("Cache-Control", "public, max-age=60")], storable: true),
        .init(name: "Authorization with s-maxage", request: [("Authorization", "Bearer x")], response: [("Cache-Control", "s-maxage=60")], storable: true),
        .init(name: "Authorization with must-revalidate", request: [("Authorization", "Bearer x")], response: [("Cache-Control", "max-age=6, must-revalidate")], storable: true),
        .init(name: "Set-Cookie without public", response: [("Cache-Control", "max-age=60"), ("Set-Cookie", "s=1")], storable: false),
        .init(name: "Set-Cookie with public", response: [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "s=1")], storable: true),
        .init(name: "Vary: *", response: [("Cache-Control", "max-age=60"), ("Vary", "*")], storable: false),
        .init(name: "POST", method: .POST, response: [("Cache-Control", "max-age=60")], storable: false),
        // §3: any final status is stored when the response says how long it is fresh ...
        .init(name: "500 with max-age", status: 500, response: [("Cache-Control", "max-age=60")], storable: true),
        .init(name: "599 with max-age", status: 599, response: [("Cache-Control", "max-age=60")], storable: true),
        .init(name: "303 with Expires", status: 303, response: [("Expires", "Sun, 06 Nov 2094 08:49:37 GMT")], storable: true),
        // ... and without, only where §4.2.2 allows a heuristic (a listed status, or public).
        .init(name: "500 without freshness", status: 500, response: [], storable: false),
        .init(name: "599 public with Last-Modified", status: 599, response: [("Cache-Control", "public"), ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], storable: true),
        .init(name: "304 is a validation's answer", status: 304, response: [("Cache-Control", "max-age=60")], storable: false),
        .init(name: "1xx is not final", status: 103, response: [("Cache-Control", "max-age=60")], storable: false),
        .init(name: "206 is never stored", status: 206, response: [("Cache-Control", "max-age=60")], storable: false),
        .init(name: "200 with no freshness information (heuristic status)", response: [], storable: true),
        .init(name: "302 with no freshness information", status: 302, response: [], storable: false),
        .init(name: "302 with max-age", status: 302, response: [("Cache-Control", "max-age=60")], storable: true),
        .init(name: "404 heuristically", status: 404, response: [], storable: true),
    ]

    @Test(arguments: cases)
    func decide(_ c: Case) {
        let d = Storability.decide(method: c.method, requestHeaders: HTTPHeaders(c.request), status: c.status, responseHeaders: HTTPHeaders(c.response))
        #expect((d == .storable) == c.storable, "\(d)")
    }

    @Test func setCookieUnderEachPolicy() {
        let fresh: HTTPHeaders = ["Cache-Control": "max-age=60", "Set-Cookie": "s=1"]
        #expect(Storability.decide(method: .GET, requestHeaders: [:], status: 200, responseHeaders: fresh) == .notStorable(reason: "set-cookie"))
        #expect(Storability.decide(method: .GET, requestHeaders: [:], status: 200, responseHeaders: fresh, setCookieNeedsPublic: false) == .storable)
        // RFC 9111's own protections still hold under set_cookie = "store".
        let privateSession: HTTPHeaders = ["Cache-Control": "private, max-age=60", "Set-Cookie": "s=1"]
        #expect(Storability.decide(method: .GET, requestHeaders: [:], status: 200, responseHeaders: privateSession, setCookieNeedsPublic: false)
            == .notStorable(reason: "private"))
    }
}
