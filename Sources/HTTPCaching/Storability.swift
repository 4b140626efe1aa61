import NIOHTTP1

/// Whether a shared cache may store a response (RFC 9111 §3), and why not when it may not.
public enum Storability: Sendable, Equatable {
    case storable
    case notStorable(reason: String)

    /// Statuses this cache understands (§5.2.2.3: `must-understand` stores only these). Any
    /// other final status is stored when the response says how long it is fresh (§3), and
    /// reused heuristically only where §4.2.2 allows.
    public static let understoodStatuses: Set<Int> = [200, 203, 204, 300, 301, 302, 307, 308, 404, 405, 410, 414, 501]

    /// Not storable only because the response says nothing about its freshness (an operator's
    /// default TTL can supply it).
    public var lacksOnlyFreshness: Bool {
        if case .notStorable(let reason) = self { return reason.hasPrefix(Self.noFreshness) }
        return false
    }

    static let noFreshness = "no freshness information"

    /// `setCookieNeedsPublic`: a response that sets a cookie is stored only when it is
    /// explicitly shareable (`public`, `s-maxage`); false: by RFC 9111's rules alone.
    public static func decide(
        method: HTTPMethod, requestHeaders: HTTPHeaders, status: Int, responseHeaders: HTTPHeaders, setCookieNeedsPublic: Bool = true
    ) -> Storability {
        guard method == .GET || method == .HEAD else { return .notStorable(reason: "method") }
        // §3: only a final status. 206 is not stored: the edge fetches whole representations and
        // serves ranges itself; 304 is a validation's answer, not a representation.
        guard (200...999).contains(status), status != 206, status != 304 else { return .notStorable(reason: "status \(status)") }
        let requestCC = CacheControl(headers: requestHeaders)
        if requestCC.noStore { return .notStorable(reason: "request no-store") }
        let (cc, targeted) = CacheControl.forSharedCache(responseHeaders)
        // §5.2.2.3: must-understand stores only statuses the cache understands, and for those
        // it overrides no-store.
        if cc.mustUnderstand, !understoodStatuses.contains(status) { return .notStorable(reason: "must-understand, status \(status)") }
        if cc.noStore, !cc.mustUnderstand { return .notStorable(reason: "no-store") }
        if cc.isPrivate { return .notStorable(reason: "private") }
        // §3.5: a response to a request with Authorization is stored only when it says so.
        if requestHeaders.contains(name: "authorization"),
           !(cc.isPublic || cc.sharedMaxAge != nil || cc.mustRevalidate) {
            return .notStorable(reason: "authorization")
        }
        if responseHeaders[canonicalForm: "vary"].contains(where: { $0.trimmingSpaces() == "*" }) {
            return .notStorable(reason: "vary *")
        }
        // Not an RFC rule but Varnish's and most CDNs': a cookie-setting response is somebody's
        // session, so by default it is stored only when the origin explicitly marks it shareable.
        if setCookieNeedsPublic, responseHeaders.contains(name: "set-cookie"), !(cc.isPublic || cc.sharedMaxAge != nil) {
            return .notStorable(reason: "set-cookie")
        }
        let explicit = FreshnessLifetime.isExplicit(headers: responseHeaders, cacheControl: cc, targeted: targeted)
        // `no-cache` alone stores (to be validated on every use) only what the cache understands.
        if explicit || cc.isPublic || (cc.noCache && understoodStatuses.contains(status)) || FreshnessLifetime.heuristicallyCacheable.contains(status) {
            return .storable
        }
        return .notStorable(reason: "\(noFreshness) for status \(status)")
    }
}

