import HTTPCaching
import NIOHTTP1
import Topology

/// Step 1 of the request path, **receive**: what the edge does with a request before it looks
/// at the cache. Pure, so every rule is a table test.
enum RequestDisposition: Equatable, Sendable {
    /// Cacheable: look it up under this origin-form target.
    case lookup(target: String)
    /// Not cacheable: forward to the origin as is. `reason` is RFC 9211's fwd parameter;
    /// `invalidates` for unsafe methods (RFC 9111 §4.4).
    case pass(target: String, reason: ForwardReason, invalidates: Bool)
    /// Refused with this status and message.
    case reject(HTTPResponseStatus, String)
}

enum EdgeRequest {
    static func receive(_ head: HTTPRequestHead, cookies: CookiePolicy = .forward) -> RequestDisposition {
        guard let target = originForm(head.uri) else {
            return .reject(.badRequest, "The request target '\(head.uri.prefix(100))' is not a path; send an origin-form target such as /index.html.\n")
        }
        switch head.method {
        case .GET, .HEAD:
            // §3.5: a shared cache must not answer an authenticated request from storage.
            if head.headers.contains(name: "authorization") { return .pass(target: target, reason: .request, invalidates: false) }
            if cookies == .pass, head.headers.contains(name: "cookie") { return .pass(target: target, reason: .request, invalidates: false) }
            return .lookup(target: target)
        case .OPTIONS:
            return .pass(target: target, reason: .method, invalidates: false)
        case .CONNECT, .TRACE:
            return .reject(.methodNotAllowed, "\(head.method) is not allowed through this edge.\n")
        case .PURGE, .RAW(value: "BAN"):
            return .reject(.methodNotAllowed, "\(head.method) is not accepted on the public listener; purge through the edge's control API (`outpost purge`).\n")
        default:
            return .pass(target: target, reason: .method, invalidates: true)
        }
    }

    /// The origin-form target (path and query) of a request target. An absolute-form target's
    /// scheme and authority are dropped: the edge only ever fetches from its configured origin,
    /// so it cannot be used as an open proxy.
    static func originForm(_ uri: String) -> String? {
        if uri.hasPrefix("/") { return uri.hasPrefix("//") ? nil : uri }
        for scheme in ["http://", "https://"] where uri.lowercased().hasPrefix(scheme) {
            let rest = uri.dropFirst(scheme.count)
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
            let tail = rest[slash...]
            return tail.hasPrefix("?") ? "/" + tail : String(tail)
        }
        return nil
    }

    /// Headers the edge itself sets on every origin request (or that its HTTP client does).
    static let setByTheEdge: Set<String> = ["host", "content-length", "expect", "via", "x-forwarded-for", "x-forwarded-proto"]

    /// Headers a cacheable fetch does not pass on because the cache manages them (RFC 9111
    /// §4.3.1: it sends its own validators; it fetches whole representations and serves ranges
    /// itself; it asks for identity and builds its own compressed variants), or because the
    /// request would not be cacheable with them (§3.5: Authorization makes it a pass).
    static let managedByTheCache: Set<String> = [
        "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range", "accept-encoding", "authorization",
    ]

    /// Headers for the origin request: every end-to-end header of the client's (RFC 9110
    /// §7.6: hop-by-hop and Connection-listed ones removed), as nginx, Varnish and Traffic
    /// Server forward them, less what the edge sets itself, less what the cache manages on a
    /// cacheable fetch, less the operator's `strip_request_headers`. Poisoning is kept out the
    /// standard way: the cache key, the origin's `Vary`, and that strip list. Both kinds get
    /// `Via` and `X-Forwarded-For`/`-Proto`.
    static func originHeaders(
        client: HTTPHeaders, lookup: Bool, clientAddress: String?, scheme: String = "http", via: String,
        strip: Set<String> = EdgeConfig.defaultStrippedRequestHeaders, cookies: CookiePolicy = .forward
    ) -> HTTPHeaders {
        var out = HTTPHeaders()
        for (name, value) in HeaderRules.removingHopByHop(client) {
            let n = name.lowercased()
            if setByTheEdge.contains(n) || strip.contains(n) { continue }
            if lookup && (managedByTheCache.contains(n) || (n == "cookie" && cookies == .strip)) { continue }
            out.add(name: name, value: value)
        }
        let priorVia = client[canonicalForm: "via"].map(String.init)
        out.add(name: "Via", value: (priorVia + [via]).joined(separator: ", "))
        if let clientAddress {
            let prior = lookup ? [] : client[canonicalForm: "x-forwarded-for"].map(String.init)
            out.add(name: "X-Forwarded-For", value: (prior + [clientAddress]).joined(separator: ", "))
        }
        out.add(name: "X-Forwarded-Proto", value: scheme)
        return out
    }
}
