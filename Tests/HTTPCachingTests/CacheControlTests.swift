import HTTPCaching
import NIOHTTP1
import Testing

@Suite struct CacheControlTests {
    @Test func parsesDirectives() {
        let cc = CacheControl("public, max-age=60, s-maxage=\"120\", stale-while-revalidate=30, stale-if-error=600, immutable, x-unknown=1")
        #expect(cc.isPublic && cc.immutable)
        #expect(cc.maxAge == 60 && cc.sharedMaxAge == 120)
        #expect(cc.staleWhileRevalidate == 30 && cc.staleIfError == 600)
        #expect(!cc.noStore && !cc.noCache && !cc.isPrivate)
    }

    @Test func combinesLinesAndIgnoresCaseAndSpaces() {
        let cc = CacheControl(headers: ["Cache-Control": "NO-CACHE", "cache-control": " Max-Age = 5 ,must-revalidate"])
        #expect(cc.noCache && cc.mustRevalidate)
        #expect(cc.maxAge == 5)
    }

    @Test func qualifiedNoCacheAndPrivateCountAsPlain() {
        let cc = CacheControl(#"private="Set-Cookie, X-A", no-cache="Set-Cookie""#)
        #expect(cc.isPrivate && cc.noCache)
        #expect(cc.maxAge == nil)
    }

    @Test func invalidMaxAgeIsFlagged() {
        #expect(CacheControl("max-age=abc").invalidMaxAge)
        #expect(CacheControl("max-age=-5").invalidMaxAge)
        #expect(CacheControl("max-age=99999999999999999999").maxAge == 2_147_483_648)
    }
}
