import CacheStore
import HTTPCaching
import Synchronization

/// Request collapsing: at most one origin fetch per cache key at a time; everyone else waits on
/// it. Keys whose last response could not be shared are not collapsed for a while (Varnish's
/// hit-for-miss), so private responses are not fetched one waiter after another.
final class FetchCoordinator: Sendable {
    private struct State {
        var inFlight: [CacheKey: InFlightFetch] = [:]
        var uncollapsibleUntil: [CacheKey: Double] = [:]
        /// When expired marks were last swept (at most once a second: a sweep is O(marks)).
        var swept = 0.0
    }

    enum JoinOutcome {
        /// Waiting on a fetch already under way.
        case joined(InFlightFetch, InFlightFetch.WaiterID)
        /// The caller's fetch was registered, with the caller as its initiator: start it.
        case started(InFlightFetch, InFlightFetch.WaiterID)
        /// Fresh in the store after all (stored between the caller's lookup and now).
        case stored(StoredResponse)
        /// Not collapsible now: the caller fetches alone.
        case alone
    }

    private let state = Mutex(State())
    private let clock: @Sendable () -> Double
    static let uncollapsibleSeconds = 30.0
    /// Keys remembered as uncollapsible at most (each URL a client invents could add one).
    static let maxUncollapsible = 65_536

    init(clock: @escaping @Sendable () -> Double) {
        self.clock = clock
    }

    /// Joins the fetch for `key` or registers `makeFetch()` as it.
    func join(
        _ key: CacheKey, waiter: InFlightFetch.Waiter, store: MemoryStore, makeFetch: () -> InFlightFetch
    ) -> JoinOutcome {
        let now = clock()
        return state.withLock { s in
            if let until = s.uncollapsibleUntil[key] {
                if until > now { return .alone }
                s.uncollapsibleUntil[key] = nil
            }
            if let f = s.inFlight[key], let id = f.join(waiter) { return .joined(f, id) }
            if let stored = store.lookup(key, requestHeaders: waiter.requestHeaders), stored.freshness.state(at: now) == .fresh {
                return .stored(stored)
            }
            let f = makeFetch()
            var initiator = waiter
            initiator.isInitiator = true
            guard let id = f.join(initiator) else { return .alone }
            s.inFlight[key] = f
            return .started(f, id)
        }
    }

    /// Joins the fetch for `key` if one is under way (a HEAD rides on a GET in flight).
    func joinInFlight(_ key: CacheKey, waiter: InFlightFetch.Waiter) -> (InFlightFetch, InFlightFetch.WaiterID)? {
        state.withLock { s in
            guard let f = s.inFlight[key], let id = f.join(waiter) else { return nil }
            return (f, id)
        }
    }

    /// Registers a background revalidation unless a fetch for `key` is under way.
    func startBackground(_ key: CacheKey, makeFetch: () -> InFlightFetch) -> InFlightFetch? {
        state.withLock { s in
            guard s.inFlight[key] == nil else { return nil }
            let f = makeFetch()
            s.inFlight[key] = f
            return f
        }
    }

    func detach(_ key: CacheKey, _ fetch: InFlightFetch) {
        state.withLock { s in
            if s.inFlight[key] === fetch { s.inFlight[key] = nil }
        }
    }

    func markUncollapsible(_ key: CacheKey) {
        let until = clock() + Self.uncollapsibleSeconds
        let now = until - Self.uncollapsibleSeconds
        state.withLock { s in
            if s.uncollapsibleUntil.count >= Self.maxUncollapsible, s.uncollapsibleUntil[key] == nil {
                // Full: forget what has expired, at most once a second; until then the new mark
                // is not kept (the key is only collapsed again, which costs a wait, never a
                // wrong answer).
                guard now - s.swept >= 1 else { return }
                s.swept = now
                s.uncollapsibleUntil = s.uncollapsibleUntil.filter { $0.value > now }
                guard s.uncollapsibleUntil.count < Self.maxUncollapsible else { return }
            }
            s.uncollapsibleUntil[key] = until
        }
    }

    var inFlightCount: Int { state.withLock { $0.inFlight.count } }
}
