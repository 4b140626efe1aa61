import NIOHTTP1

/// How long a response stays fresh (RFC 9111 §4.2.1), for a shared cache.
public enum FreshnessLifetime {
    /// Statuses a cache may give a heuristic lifetime to (RFC 9110 §15.1).
    public static let heuristicallyCacheable: Set<Int> = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]

    /// Fraction of (Date − Last-Modified) used as a heuristic lifetime (§4.2.2 suggests 10 %),
    /// capped so that a years-old file is not cached for a month without a check.
    public static let heuristicFraction = 0.1
    public static let heuristicCap: Double = 86_400

    /// The lifetime in seconds: `s-maxage`, then `max-age`, then `Expires − Date`, then the
    /// heuristic from `Last-Modified` when the status allows one. `responseTime` stands in for a
    /// missing or invalid `Date` (§6.6.1: a recipient with a clock adds one).
    public static func seconds(
        status: Int, headers: HTTPHeaders, cacheControl cc: CacheControl, responseTime: Double, targeted: Bool = false
    ) -> Double {
        if cc.invalidMaxAge { return 0 }
        if let s = cc.sharedMaxAge { return Double(s) }
        if let m = cc.maxAge { return Double(m) }
        let date = Self.date(headers) ?? responseTime
        // RFC 9213 §2.1: with a targeted field in charge, Expires is ignored.
        // headers[name], not [canonicalForm:]: an HTTP date has a comma in it.
        let expiresLines = targeted ? [] : headers["expires"]
        if !expiresLines.isEmpty {
            // §5.3: an invalid Expires (e.g. "0"), or several, means already expired.
            guard expiresLines.count == 1, let e = HTTPDate.parse(expiresLines[0]) else { return 0 }
            return max(0, e - date)
        }
        if heuristicallyCacheable.contains(status) || cc.isPublic,
           let lm = headers.first(name: "last-modified").flatMap(HTTPDate.parse), lm < date {
            return min(heuristicCap, (date - lm) * heuristicFraction)
        }
        return 0
    }

    /// Whether the response states its own lifetime (§4.2.1), as opposed to a heuristic one.
    public static func isExplicit(headers: HTTPHeaders, cacheControl cc: CacheControl, targeted: Bool = false) -> Bool {
        cc.sharedMaxAge != nil || cc.maxAge != nil || cc.invalidMaxAge || (!targeted && headers.contains(name: "expires"))
    }

    /// `Date`, when there is exactly one that parses (§6.6.1 of RFC 9110: otherwise the
    /// recipient's clock stands in).
    static func date(_ headers: HTTPHeaders) -> Double? {
        let lines = headers["date"]
        return lines.count == 1 ? HTTPDate.parse(lines[0]) : nil
    }

    /// `Age` (§5.1): the first member of a list, ignored unless it is a non-negative integer.
    static func age(_ headers: HTTPHeaders) -> Double {
        guard let first = headers[canonicalForm: "age"].first?.split(separator: ",", omittingEmptySubsequences: false).first else { return 0 }
        return CacheControl.deltaSeconds(first.trimmingSpaces()).map(Double.init) ?? 0
    }
}

/// What a cache keeps about a stored response's timing, computed once when it is stored or
/// refreshed, so that a hit only adds and compares numbers.
public struct Freshness: Sendable, Equatable {
    /// Seconds the response is fresh for, counted from its corrected initial age.
    public var lifetime: Double
    /// §4.2.3 corrected_initial_age: what the response's age was when it arrived.
    public var correctedInitialAge: Double
    /// When the response arrived (seconds since the epoch).
    public var responseTime: Double
    /// RFC 5861 windows, in seconds past expiry; zero when not allowed.
    public var staleWhileRevalidate: Double
    public var staleIfError: Double
    /// `no-cache`: every use must be validated first (§5.2.2.4).
    public var requiresValidation: Bool
    /// May it be served stale at all (§4.2.4)? Not with `must-revalidate`, `proxy-revalidate`,
    /// `s-maxage` or `no-cache`.
    public var mayServeStale: Bool

    public init(
        lifetime: Double, correctedInitialAge: Double, responseTime: Double,
        staleWhileRevalidate: Double = 0, staleIfError: Double = 0, requiresValidation: Bool = false, mayServeStale: Bool = true
    ) {
        self.lifetime = lifetime
        self.correctedInitialAge = correctedInitialAge
        self.responseTime = responseTime
        self.staleWhileRevalidate = staleWhileRevalidate
        self.staleIfError = staleIfError
        self.requiresValidation = requiresValidation
        self.mayServeStale = mayServeStale && !requiresValidation
    }

    /// Computes freshness for a response received at `responseTime` to a request sent at
    /// `requestTime` (§4.2.3).
    public init(status: Int, headers: HTTPHeaders, requestTime: Double, responseTime: Double) {
        let (cc, targeted) = CacheControl.forSharedCache(headers)
        let date = FreshnessLifetime.date(headers) ?? responseTime
        let ageValue = FreshnessLifetime.age(headers)
        let apparentAge = max(0, responseTime - date)
        let responseDelay = max(0, responseTime - requestTime)
        let correctedAgeValue = ageValue + responseDelay
        // RFC 5861 §4: the stale-* extensions never override must-revalidate / proxy-revalidate
        // or s-maxage (§4.2.4: a shared cache must not serve those stale), nor no-cache (§5.2.2.4:
        // never used without a successful validation).
        let mayServeStale = !(cc.mustRevalidate || cc.proxyRevalidate || cc.sharedMaxAge != nil || cc.noCache)
        self.init(
            lifetime: FreshnessLifetime.seconds(status: status, headers: headers, cacheControl: cc, responseTime: responseTime, targeted: targeted),
            correctedInitialAge: max(apparentAge, correctedAgeValue),
            responseTime: responseTime,
            staleWhileRevalidate: mayServeStale ? Double(cc.staleWhileRevalidate ?? 0) : 0,
            staleIfError: mayServeStale ? Double(cc.staleIfError ?? 0) : 0,
            requiresValidation: cc.noCache,
            mayServeStale: mayServeStale
        )
    }

    /// §4.2.3 current_age.
    public func age(at now: Double) -> Double {
        correctedInitialAge + max(0, now - responseTime)
    }

    /// Remaining freshness in seconds; negative when stale.
    public func timeToLive(at now: Double) -> Double {
        lifetime - age(at: now)
    }

    /// What a cache may do with the stored response at `now`.
    public func state(at now: Double) -> FreshnessState {
        let ttl = timeToLive(at: now)
        if !requiresValidation && ttl > 0 { return .fresh }
        if !requiresValidation && staleWhileRevalidate > 0 && -ttl <= staleWhileRevalidate { return .staleWhileRevalidate }
        return .mustValidate
    }

    /// May the stale response be served because the origin failed (RFC 5861 §4)?
    public func mayServeOnError(at now: Double) -> Bool {
        mayServeStale && staleIfError > 0 && -timeToLive(at: now) <= staleIfError
    }

    /// May the stale response be served because the cache cannot reach the origin (§4.2.4:
    /// "unless it is disconnected"), when it is at most `within` seconds past its expiry (or
    /// its own `stale-if-error` allows)?
    public func mayServeDisconnected(at now: Double, within: Double) -> Bool {
        mayServeOnError(at: now) || (mayServeStale && within > 0 && -timeToLive(at: now) <= within)
    }
}

public enum FreshnessState: Sendable, Equatable {
    /// Serve it.
    case fresh
    /// Serve it stale and revalidate in the background (RFC 5861 §3).
    case staleWhileRevalidate
    /// Send a conditional request first (§4.3.1).
    case mustValidate
}
