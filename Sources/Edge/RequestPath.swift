import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import Topology

/// The request path of an edge: what happens to one request, step by step. Steps 1–3
/// (receive, key, lookup) are the pure decisions here, each returning the next step; step 4–5
/// (fetch, store) is `FetchMachine`, run by `InFlightFetch`; step 6 (deliver) is
/// `ResponseDelivery`. `EdgeHandler` is the shell that runs each `Next` on its event loop.
///
///     receive ─ refused (deny list, rate limit, bad target, CONNECT, PURGE) ────▶ synthesize 4xx
///        │ ─── pass (unsafe method, Authorization, a Cookie under cookies=pass) ─▶ fetch alone
///        ▼                                                        (streamed, paced, never shared)
///       key ─▶ lookup ─ pushed and live ─────────────────────────────────────────▶ deliver
///                 │ ─── pushed and expired (no pull_after_push_expiry) ──────────▶ synthesize 404
///                 │ ─── fresh ───────────────────────────────────────────────────▶ deliver
///                 │ ─── stale, stale-while-revalidate allows ────▶ deliver, and refresh behind
///                 │ ─── stale, must validate ────▶ fetch, collapsed, conditional (304 → deliver)
///                 │ ─── absent, HEAD ───────▶ ride on a GET in flight, or HEAD the origin alone
///                 ▼ ─── absent ──────────────────────────────────────────▶ fetch, collapsed
///       fetch ─▶ each reader pulls at its own pace: head (Range, conditionals decided on it),
///                body, end; or stored / failed / fetch alone (another variant, private)
enum RequestPath {
    /// The step to run next.
    enum Next {
        /// Answer with a short text from the edge itself.
        case synthesize(HTTPResponseStatus, String, verdict: CacheVerdict?, extra: HTTPHeaders = [:])
        /// Look the key up (step 3).
        case lookup(CacheKey)
        /// Not cacheable: one origin request for this request alone.
        case pass(InFlightFetch.Plan)
        /// Answer from storage.
        case deliver(StoredResponse, CacheVerdict)
        /// Answer from storage now and refresh it in the background (RFC 5861 §3).
        case deliverAndRefresh(StoredResponse, CacheVerdict, refresh: InFlightFetch.Plan)
        /// Fetch, collapsed with any fetch of the key under way.
        case fetch(InFlightFetch.Plan)
        /// A HEAD on a miss: ride on a GET in flight, or ask the origin for the head alone.
        case head(InFlightFetch.Plan)
    }

    /// What the steps need to know of the edge.
    struct Setting: Sendable {
        var config: EdgeConfig
        /// How the client reached the edge (`http` or `https`).
        var scheme: String
        var key: @Sendable (String, Route) -> CacheKey
        /// The current request's site (set by the shell from its `Host` before step 1).
        var route: Route
        /// The hosts this edge serves, for a 421.
        var servedHosts: String
    }

    // MARK: 1 receive, 2 key

    /// Step 1: what the edge does with a request before it looks at the cache. `retryAfter`:
    /// the client is over its rate limit.
    /// Why a request is not for this edge, or not on this connection (421).
    enum Misdirection: Sendable, Equatable {
        /// No site serves its host.
        case unknownHost
        /// The connection's TLS server name (SNI) selects another site than its host does.
        case otherSiteThanTLS(serverName: String)
    }

    static func receive(_ request: HTTPRequestHead, retryAfter: Int?, client: String?, misdirected: Misdirection? = nil, _ s: Setting) -> Next {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any with more than one, is a 400
        // (two could select two sites, one here and another in a proxy in front).
        var hosts = 0
        for (name, _) in request.headers where isHost(name) { hosts += 1 }
        if hosts > 1 || (hosts == 0 && request.version == .http1_1) {
            return .synthesize(.badRequest, hosts > 1 ? "More than one Host header.\n" : "An HTTP/1.1 request needs a Host header.\n", verdict: nil)
        }
        if let misdirected {
            // RFC 9110 §15.5.20: never another site's content for a host this edge does not
            // serve, nor on a connection opened for another site.
            let host = EdgeContext.requestAuthority(request).map { "'\($0)'" } ?? "a request without Host"
            switch misdirected {
            case .unknownHost:
                return .synthesize(.misdirectedRequest, "This edge does not serve \(host); it serves \(s.servedHosts).\n", verdict: nil)
            case .otherSiteThanTLS(let name):
                return .synthesize(.misdirectedRequest, "This connection was opened for '\(name)' (TLS server name), which is not the site of \(host); open a new connection for \(host).\n", verdict: nil)
            }
        }
        if let retryAfter {
            return .synthesize(.tooManyRequests, "Too many requests from \(client ?? "this address"); retry in \(retryAfter) s.\n", verdict: nil,
                               extra: ["Retry-After": String(retryAfter)])
        }
        switch EdgeRequest.receive(request, cookies: s.route.policy.config.cookies) {
        case .reject(let status, let message):
            return .synthesize(status, message, verdict: nil)
        case .pass(let target, let reason, let invalidates):
            // Only an authenticated GET or HEAD may be stored, when the response says so (RFC 9111
            // §3.5); a pass for a cookie (`cookies = pass`) is never stored: it is somebody's page.
            let authenticated = request.headers.contains(name: "authorization")
            let intent: InFlightFetch.StoreIntent = (request.method == .GET || request.method == .HEAD) && authenticated ? .ifAllowed : .never
            return .pass(plan(s.key(target, s.route), request, s, intent: intent, reason: reason, invalidates: invalidates))
        case .lookup(let target):
            // Step 2: the key, after the operator's key rules.
            return .lookup(s.key(target, s.route))
        }
    }

    /// `name` is `Host`, in any case; byte compares, no string made per header on a hit.
    private static func isHost(_ name: String) -> Bool {
        let u = name.utf8
        return u.count == 4 && zip(u, "host".utf8).allSatisfy { $0 | 0x20 == $1 }
    }

    // MARK: 3 lookup

    /// Step 3: the pushed object or the stored response for `key`, as found at `now`.
    static func lookup(
        _ key: CacheKey, _ request: HTTPRequestHead, pushed: PushLookup, stored: StoredResponse?, now: Double, _ s: Setting
    ) -> Next {
        let name = s.config.name
        // Pushed objects come first and never go to the origin while they live.
        switch pushed {
        case .live(let object):
            return .deliver(object.response, .pushed(name, ttl: Int(saturating: object.expires - now)))
        case .expired(let at) where !s.route.policy.config.pullAfterPushExpiry.contains(where: { key.path.hasPrefix($0) }):
            return .synthesize(.notFound, "\(key.path) was pushed to this edge and expired at \(HTTPDate.format(at)); push it again.\n",
                               verdict: .pushed(name, ttl: nil))
        case .expired, .none:
            break
        }
        guard let stored else {
            let miss = plan(key, request, s, intent: .ifAllowed, reason: .miss)
            if request.method == .HEAD {
                var head = miss
                head.intent = .never
                head.method = .HEAD
                return .head(head)
            }
            return .fetch(miss)
        }
        switch stored.freshness.state(at: now) {
        case .fresh:
            return .deliver(stored, .hit(name, ttl: Int(saturating: stored.freshness.timeToLive(at: now))))
        case .staleWhileRevalidate:
            let verdict = CacheVerdict.stale(name, ttl: Int(saturating: stored.freshness.timeToLive(at: now).rounded(.down)), because: .staleWhileRevalidate)
            return .deliverAndRefresh(stored, verdict, refresh: plan(key, request, s, intent: .ifAllowed, reason: .stale, revalidating: stored))
        case .mustValidate:
            return .fetch(plan(key, request, s, intent: .ifAllowed, reason: .stale, revalidating: stored))
        }
    }

    /// The origin request for a step: a lookup's is always a GET (a HEAD's may fill the cache
    /// when it rides on one); a pass keeps the client's method.
    static func plan(
        _ key: CacheKey, _ request: HTTPRequestHead, _ s: Setting, intent: InFlightFetch.StoreIntent, reason: ForwardReason,
        invalidates: Bool = false, revalidating: StoredResponse? = nil
    ) -> InFlightFetch.Plan {
        let method: HTTPMethod = reason == .miss || reason == .stale ? .GET : request.method
        return InFlightFetch.Plan(
            key: key, method: method, requestHeaders: request.headers, intent: intent, revalidating: revalidating, forwardReason: reason,
            invalidates: invalidates, clientScheme: s.scheme, target: EdgeRequest.originForm(request.uri),
            origin: s.route.origin, originHost: s.route.originHost, policy: s.route.policy
        )
    }
}
