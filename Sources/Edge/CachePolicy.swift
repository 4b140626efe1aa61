import HTTPCaching
import NIOHTTP1
import Topology

/// Step 5's operator rules (`[[cache_rules]]`), applied after RFC 9111 has spoken: a default
/// lifetime for responses that state none, bounds on every lifetime, and stale-if-error the
/// origin did not grant. Pure.
enum CachePolicy {
    struct Decision: Equatable {
        var storability: Storability
        var freshness: Freshness
        /// What the rule changed, for Cache-Status' detail (nil: nothing).
        var note: String?
    }

    static func apply(
        _ rule: CacheRule, status: Int, headers: HTTPHeaders, storability: Storability, freshness: Freshness
    ) -> Decision {
        var d = Decision(storability: storability, freshness: freshness)
        var changed: [String] = []
        let (cc, targeted) = CacheControl.forSharedCache(headers)
        let explicit = FreshnessLifetime.isExplicit(headers: headers, cacheControl: cc, targeted: targeted)
        // Lifetimes the operator sets apply to the statuses a cache understands (as nginx's
        // proxy_cache_valid names codes): a 500 or a 429 is never kept for a default day.
        let understood = Storability.understoodStatuses.contains(status)
        if understood, !explicit, let ttl = rule.defaultTTL {
            if d.storability.lacksOnlyFreshness { d.storability = .storable }
            if d.storability == .storable {
                d.freshness.lifetime = ttl
                changed.append("default-ttl")
            }
        }
        // Bounds apply to what is stored and may be reused without asking (not no-cache).
        if d.storability == .storable, !d.freshness.requiresValidation {
            if understood, let lo = rule.minTTL, d.freshness.lifetime < lo {
                d.freshness.lifetime = lo
                changed.append("min-ttl")
            }
            if let hi = rule.maxTTL, d.freshness.lifetime > hi {
                d.freshness.lifetime = hi
                changed.append("max-ttl")
            }
        }
        // RFC 5861 §4 still holds: never against must-revalidate, proxy-revalidate, s-maxage or
        // no-cache.
        if let sie = rule.staleIfError, sie > d.freshness.staleIfError, d.freshness.mayServeStale {
            d.freshness.staleIfError = sie
            changed.append("stale-if-error")
        }
        d.note = changed.isEmpty ? nil : "rule \(rule.path.pattern): \(changed.joined(separator: ", "))"
        return d
    }
}
