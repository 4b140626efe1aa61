import HTTPCaching
import NIOHTTP1

/// Step 1 of the request path, **receive**: what the edge does with a request before it looks
/// at the cache. Pure, so every rule is a table test.
enum RequestDisposition: Equatable, Sendable {
    /// Cacheable: look it up under this origin-form target.
    case lookup(target: String)
    /// Not cacheable: forward to the origin as is. `reason` is RFC 9211's fwd parameter;
    /// `invalidates` for unsafe methods (RFC 9111 §4.4).
    case pass(target: String, reason: String, invalidates: Bool)
    /// Refused with this status and message.
    case reject(HTTPResponseStatus, String)
}

enum EdgeRequest {
    static func receive(_ head: HTTPRequestHead) -> RequestDisposition {
        guard let target = originForm(head.uri) else {
            return .reject(.badRequest, "The request target '\(head.uri.prefix(100))' is not a path; send an origin-form target such as /index.html.\n")
        }
        switch head.method {
        case .GET, .HEAD:
            // §3.5: a shared cache must not answer an authenticated request from storage.
            if head.headers.contains(name: "authorization") { return .pass(target: target, reason: "request", invalidates: false) }
            return .lookup(target: target)
        case .OPTIONS:
            return .pass(target: target, reason: "method", invalidates: false)
        case .CONNECT, .TRACE:
            return .reject(.methodNotAllowed, "\(head.method) is not allowed through this edge.\n")
        case .PURGE, .RAW(value: "BAN"):
            return .reject(.methodNotAllowed, "\(head.method) is not accepted on the public listener; purge through the edge's control API (`outpost purge`).\n")
        default:
            return .pass(target: target, reason: "method", invalidates: true)
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

    /// Request headers that reach the origin on a cacheable fetch. Anything else (cookies,
    /// `X-Forwarded-Host`, `X-Original-URL`, …) could change the response without being part of
    /// the cache key, which is how caches get poisoned, so it is not forwarded.
    /// Accept-Encoding is not among them: the edge asks for identity and builds its own
    /// compressed variants.
    static let forwardedOnLookup: Set<String> = ["accept", "accept-language", "user-agent"]

    /// Headers for the origin request. Lookups forward only `forwardedOnLookup`; passes forward
    /// every end-to-end header. Both get `Via` and `X-Forwarded-For`/`-Proto`.
    static func originHeaders(client: HTTPHeaders, lookup: Bool, clientAddress: String?, scheme: String = "http", via: String) -> HTTPHeaders {
        var out = HTTPHeaders()
        let cleaned = lookup ? client : HeaderRules.removingHopByHop(client)
        for (name, value) in cleaned {
            let n = name.lowercased()
            if lookup ? forwardedOnLookup.contains(n) : !["host", "content-length", "expect", "via", "x-forwarded-for", "x-forwarded-proto"].contains(n) {
                out.add(name: name, value: value)
            }
        }
        let priorVia = lookup ? [] : client[canonicalForm: "via"].map(String.init)
        out.add(name: "Via", value: (priorVia + [via]).joined(separator: ", "))
        if let clientAddress {
            let prior = lookup ? [] : client[canonicalForm: "x-forwarded-for"].map(String.init)
            out.add(name: "X-Forwarded-For", value: (prior + [clientAddress]).joined(separator: ", "))
        }
        out.add(name: "X-Forwarded-Proto", value: scheme)
        return out
    }
}
