/// Why a cache went forward (RFC 9211 §2.2 `fwd`).
public enum ForwardReason: String, Sendable, Equatable, CaseIterable {
    /// Configured to (or unable to) use the cache for this request.
    case bypass
    /// The method is not cacheable.
    case method
    case uriMiss = "uri-miss"
    case varyMiss = "vary-miss"
    case miss
    /// The request's own headers (Authorization, a Cookie under `cookies = "pass"`).
    case request
    /// Stored, but stale: validated or refetched.
    case stale
    case partial
}

/// The `Cache-Status` response header (RFC 9211) one cache adds.
public struct CacheStatus: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Served from storage without going forward.
        case hit
        /// Went forward to the origin.
        case forward(ForwardReason)
    }

    public var cacheName: String
    public var outcome: Outcome
    /// Remaining freshness in seconds (negative when served stale).
    public var ttl: Int?
    /// Status the origin answered with when it went forward.
    public var forwardStatus: Int?
    /// The response was stored.
    public var stored = false
    /// The request waited on another's forward request (request collapsing).
    public var collapsed = false
    /// Free text, e.g. why it was not stored.
    public var detail: String?

    public init(cacheName: String, outcome: Outcome, ttl: Int? = nil) {
        self.cacheName = cacheName
        self.outcome = outcome
        self.ttl = ttl
    }

    public var headerValue: String {
        var s = cacheName
        switch outcome {
        case .hit: s += "; hit"
        case .forward(let reason): s += "; fwd=\(reason.rawValue)"
        }
        if let forwardStatus { s += "; fwd-status=\(forwardStatus)" }
        if let ttl { s += "; ttl=\(ttl)" }
        if stored { s += "; stored" }
        if collapsed { s += "; collapsed" }
        if let detail { s += "; detail=\"\(detail)\"" }
        return s
    }
}
