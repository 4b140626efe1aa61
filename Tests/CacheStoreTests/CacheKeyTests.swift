import CacheStore
import Testing

@Suite struct CacheKeyTests {
    @Test(arguments: [
        ("/a/b", "/a/b"),
        ("/%7Euser/%41", "/~user/A"),          // unreserved escapes decoded (RFC 3986 §6.2.2.2)
        ("/a%2fb", "/a%2Fb"),                  // reserved ones kept, upper-cased
        ("/a/./b/../c", "/a/c"),               // dot segments removed (§5.2.4)
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/b/..", "/a/"),
        ("/x?b=2&a=1", "/x?b=2&a=1"),          // query order kept
        ("/x?q=%7e", "/x?q=~"),
    ])
    func normalises(_ target: String, _ expected: String) {
        #expect(CacheKey.normalise(target) == expected)
    }

    @Test func schemeAndHostAreCaseInsensitive() {
        let a = CacheKey(scheme: "HTTP", authority: "Example.com:8080", pathAndQuery: "/a")
        let b = CacheKey(scheme: "http", authority: "example.com:8080", pathAndQuery: "/a")
        #expect(a == b)
        #expect(a.value == "http://example.com:8080/a")
        #expect(a.path == "/a")
        #expect(CacheKey(scheme: "http", authority: "h", pathAndQuery: "/A") != CacheKey(scheme: "http", authority: "h", pathAndQuery: "/a"))
    }
}
