import HTTPCaching

/// How the edge answered a request, decided once where it is decided: the counted `Outcome`
/// (stats, access log) and the `Cache-Status` it sends are two views of one value, so neither is
/// ever parsed back out of the other.
struct CacheVerdict: Sendable, Equatable {
    private(set) var outcome: Outcome
    private(set) var status: CacheStatus

    /// What Cache-Status' `detail` says, typed.
    enum Detail: Sendable, Equatable {
        case pushed
        case pushedExpired
        case staleWhileRevalidate
        case staleIfError
        case tooLargeToStore
        case notStored(reason: String)
        /// An operator's cache rule changed the origin's answer.
        case rule(String)

        var text: String {
            switch self {
            case .pushed: "pushed"
            case .pushedExpired: "pushed object expired"
            case .staleWhileRevalidate: "stale-while-revalidate"
            case .staleIfError: "stale-if-error"
            case .tooLargeToStore: "too large to store"
            case .notStored(let reason): "not stored: \(reason)"
            case .rule(let note): note
            }
        }
    }

    private init(_ outcome: Outcome, _ status: CacheStatus) {
        self.outcome = outcome
        self.status = status
    }

    private static func hitStatus(_ cache: String, ttl: Int?, detail: Detail?) -> CacheStatus {
        var s = CacheStatus(cacheName: cache, outcome: .hit, ttl: ttl)
        s.detail = detail?.text
        return s
    }

    /// Fresh from storage.
    static func hit(_ cache: String, ttl: Int) -> CacheVerdict { CacheVerdict(.hit, hitStatus(cache, ttl: ttl, detail: nil)) }
    /// A pushed object (`ttl` nil: it expired and is answered 404).
    static func pushed(_ cache: String, ttl: Int?) -> CacheVerdict {
        CacheVerdict(ttl == nil ? .error : .pushed, hitStatus(cache, ttl: ttl, detail: ttl == nil ? .pushedExpired : .pushed))
    }
    /// Stale from storage, as RFC 5861 allows (`forwardStatus`: what the origin answered, if it did).
    static func stale(_ cache: String, ttl: Int, because detail: Detail, forwardStatus: Int? = nil) -> CacheVerdict {
        var s = hitStatus(cache, ttl: ttl, detail: detail)
        s.forwardStatus = forwardStatus
        return CacheVerdict(.stale, s)
    }
    /// The stored copy, confirmed by a 304.
    static func revalidated(_ cache: String, ttl: Int) -> CacheVerdict {
        var s = CacheStatus(cacheName: cache, outcome: .forward(.stale), ttl: ttl)
        s.forwardStatus = 304
        return CacheVerdict(.revalidated, s)
    }
    /// From the origin.
    static func forwarded(
        _ cache: String, _ reason: ForwardReason, forwardStatus: Int? = nil, stored: Bool = false, ttl: Int? = nil, detail: Detail? = nil
    ) -> CacheVerdict {
        var s = CacheStatus(cacheName: cache, outcome: .forward(reason), ttl: ttl)
        s.forwardStatus = forwardStatus
        s.stored = stored
        s.detail = detail?.text
        let outcome: Outcome = switch reason {
        case .method, .request: .pass
        case .bypass: .error
        default: .miss
        }
        return CacheVerdict(outcome, s)
    }
    /// Refused or failed at the edge.
    static func error(_ cache: String, _ reason: ForwardReason = .bypass) -> CacheVerdict {
        CacheVerdict(.error, CacheStatus(cacheName: cache, outcome: .forward(reason)))
    }

    /// The same answer, for a request that waited on another's fetch.
    func collapsed() -> CacheVerdict {
        var v = self
        v.status.collapsed = true
        if v.outcome == .miss { v.outcome = .collapsed }
        return v
    }

    /// The same answer, failed (the origin could not be reached, or broke off).
    func failed() -> CacheVerdict {
        var v = self
        v.outcome = .error
        return v
    }

    /// The `Cache-Status` field value.
    var headerValue: String { status.headerValue }
}
