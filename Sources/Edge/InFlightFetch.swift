import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Steps 4 and 5 of the request path, **fetch** and **store**: the shell that runs one
/// `FetchMachine`. It sends the origin request, feeds the machine what the origin sends, and
/// carries out what the machine returns: waking waiters, pausing, resuming or cancelling the
/// origin read, storing the object, running the asset pipeline. Its lock is held for a
/// transition only: never across a waiter's code, a store write or the pipeline. It hears its
/// origin request's response as an `OriginResponseHandler`.
final class InFlightFetch: OriginResponseHandler {
    typealias Waiter = FetchMachine.Waiter
    typealias WaiterID = FetchMachine.WaiterID

    /// What to do with the response.
    enum StoreIntent: Sendable {
        /// Store when RFC 9111 allows (GET/HEAD lookups, authenticated GETs).
        case ifAllowed
        /// Never (unsafe methods).
        case never
    }

    struct Plan: Sendable {
        var key: CacheKey
        var method: HTTPMethod
        /// The request headers of the request that caused the fetch (for Vary and §3.5).
        var requestHeaders: HTTPHeaders
        var intent: StoreIntent
        /// The stored response being revalidated, if this is a conditional request.
        var revalidating: StoredResponse?
        /// Why it goes forward (RFC 9211 fwd).
        var forwardReason: ForwardReason
        /// A success invalidates what is stored for the URL (unsafe methods, RFC 9111 §4.4).
        var invalidates = false
        /// How the client reached the edge (`http` or `https`), for `X-Forwarded-Proto`.
        var clientScheme = "http"
        /// The target as the client sent it (origin-form), when key rules made the key differ:
        /// the origin is asked for this, with every parameter.
        var target: String?
        /// `scheme://authority` of the origin asked, and the `Host` it is sent (nil: the URL's).
        var origin: String
        var originHost: String? = nil
        /// The site's settings (cache rules, cookies, pipeline) this fetch runs under.
        var policy: SitePolicy
    }

    private struct State {
        var machine: FetchMachine
        var call: (any OriginCall)?
        /// `origin_timeout` runs from the request and from each part of the response, but not
        /// while the read is paused for slow clients (nil then). One timer, moved lazily.
        var deadline: NIODeadline?
        var timer: Scheduled<Void>?
        var timedOut = false
        var ended = false
        var cancelRequested = false
        /// The origin read waits on this while slow readers catch up.
        var paused: EventLoopPromise<Void>?
        var storedStatus: HTTPResponseStatus = .ok
        var storedHeaders = HTTPHeaders()
        /// Computed when the head arrived, from all of its headers (Age among them, which the
        /// stored headers leave out) and the operator's rule.
        var storedFreshness: Freshness?
        var verdict: CacheVerdict?
        var requestTime = 0.0
        var responseTime = 0.0
    }

    private static let nextWaiterID = Atomic<UInt64>(1)

    let plan: Plan
    private let edge: EdgeContext
    private let state: Mutex<State>
    /// `origin_timeout`.
    private let timeout: TimeAmount

    init(plan: Plan, edge: EdgeContext) {
        self.plan = plan
        self.edge = edge
        timeout = .seconds(clamping: edge.config.originTimeout)
        state = Mutex(State(machine: FetchMachine(window: edge.config.clientBufferSize, cancelBeforeHead: plan.intent == .never)))
    }

    // MARK: the waiters' side

    /// Adds a waiter; nil when it is too late to join (the caller then looks in the store again
    /// or fetches alone).
    func join(_ waiter: Waiter) -> WaiterID? {
        let id = Self.nextWaiterID.wrappingAdd(1, ordering: .relaxed).oldValue
        return state.withLock { $0.machine.join(id, waiter) } ? id : nil
    }

    /// The waiter's next part of the response (see `FetchMachine.next`).
    func next(_ id: WaiterID, budget: Int) -> FetchMachine.Pull {
        var pull = FetchMachine.Pull.wait
        transition { m in
            let (p, actions) = m.next(id, budget: budget)
            pull = p
            return actions
        }
        return pull
    }

    /// The waiter is done or gone; the last reader of a response that is not stored cancels it.
    func leave(_ id: WaiterID) {
        transition { $0.leave(id) }
    }

    /// Runs one transition under the lock, then its actions outside it.
    private func transition(_ body: (inout FetchMachine) -> [FetchMachine.Action]) {
        let (wakers, resume, cancel): ([@Sendable () -> Void], EventLoopPromise<Void>?, (any OriginCall)?) = state.withLock { s in
            let actions = body(&s.machine)
            var wakers: [@Sendable () -> Void] = []
            var resume: EventLoopPromise<Void>?
            var cancel: (any OriginCall)?
            for action in actions {
                switch action {
                case .wake(let ids): wakers += s.machine.wakers(ids)
                case .pauseOrigin: break  // the body callback creates the promise
                case .resumeOrigin:
                    resume = s.paused
                    s.paused = nil
                    if !s.ended, let call = s.call {
                        let deadline = call.eventLoop.now + timeout
                        s.deadline = deadline
                        if s.timer == nil { s.timer = schedule(at: deadline, on: call.eventLoop) }
                    }
                case .cancelOrigin:
                    s.cancelRequested = true
                    cancel = s.call
                    resume = s.paused
                    s.paused = nil
                }
            }
            return (wakers, resume, cancel)
        }
        cancel?.cancel()
        resume?.succeed()
        for wake in wakers { wake() }
    }

    /// Sends the origin request. Call once, after the initiator joined.
    func start(body: ByteBuffer?, clientAddress: String?) {
        var headers = EdgeRequest.originHeaders(
            client: plan.requestHeaders, lookup: plan.intent == .ifAllowed && plan.forwardReason != .request,
            clientAddress: clientAddress, scheme: plan.clientScheme, via: edge.via,
            strip: plan.policy.config.stripRequestHeaders, cookies: plan.policy.config.cookies
        )
        if plan.intent == .ifAllowed, plan.forwardReason == .request, let authorization = plan.requestHeaders.first(name: "authorization") {
            headers.replaceOrAdd(name: "Authorization", value: authorization)
        }
        if let stale = plan.revalidating {
            // §4.3.1: validate with the stored response's validators.
            if let etag = stale.etag { headers.replaceOrAdd(name: "If-None-Match", value: etag) }
            if let lm = stale.lastModified { headers.replaceOrAdd(name: "If-Modified-Since", value: lm) }
        }
        // A HEAD that may be stored (an authenticated one, a pass) asks for the whole object;
        // when it turns out not to be stored, the machine cancels it right after the head.
        let method: HTTPMethod = plan.method == .HEAD && plan.intent == .ifAllowed ? .GET : plan.method
        if let host = plan.originHost { headers.replaceOrAdd(name: "Host", value: host) }
        let url = plan.origin + (plan.target.map(CacheKey.normalise) ?? String(plan.key.path))
        state.withLock { $0.requestTime = edge.clock() }
        edge.stats.originRequest()
        let call = edge.origin.send(OriginRequest(url: url, method: method, headers: headers, body: body), to: self)
        let cancelled = state.withLock { s in
            s.call = call
            if !s.ended, !s.cancelRequested, s.paused == nil {
                // Heard from already (a fast origin): that moved the deadline on.
                let deadline = s.deadline ?? call.eventLoop.now + timeout
                s.deadline = deadline
                s.timer = schedule(at: deadline, on: call.eventLoop)
            }
            return s.cancelRequested
        }
        if cancelled { call.cancel() }
    }

    private func schedule(at deadline: NIODeadline, on loop: any EventLoop) -> Scheduled<Void> {
        loop.scheduleTask(deadline: deadline) { [self] in checkTimeout(loop) }
    }

    /// The timer fired: moved on, paused, or the origin is really too slow.
    private func checkTimeout(_ loop: any EventLoop) {
        let call: (any OriginCall)? = state.withLock { s in
            s.timer = nil
            guard !s.ended, let deadline = s.deadline else { return nil }  // done, or paused
            if deadline > loop.now {
                s.timer = schedule(at: deadline, on: loop)
                return nil
            }
            s.timedOut = true
            return s.call
        }
        call?.cancel()
    }

    /// The origin was heard from: its time starts again.
    private func touch() {
        state.withLock { s in
            if let loop = s.call?.eventLoop, s.deadline != nil { s.deadline = loop.now + timeout }
        }
    }

    /// The response is over (complete, failed or cancelled): the timer goes, and a read that
    /// waited for slow readers is let go (a promise is always completed).
    private func endTimer() {
        let (timer, paused): (Scheduled<Void>?, EventLoopPromise<Void>?) = state.withLock { s in
            s.ended = true
            defer {
                s.timer = nil
                s.paused = nil
            }
            return (s.timer, s.paused)
        }
        timer?.cancel()
        paused?.succeed()
    }

    // MARK: OriginResponseHandler

    func originHead(_ head: HTTPResponseHead) {
        touch()
        receivedHead(head)
    }

    func originBody(_ buffer: ByteBuffer, loop: any EventLoop) -> EventLoopFuture<Void> {
        edge.stats.originBody(buffer.readableBytes)
        var tooLarge = false
        var wait: EventLoopFuture<Void>?
        transition { m in
            let (large, actions) = m.receivedBody(buffer, maxStored: edge.config.maxObjectSize)
            tooLarge = large
            return actions
        }
        // Paused: the next read waits until the slowest reader is within the window again,
        // and the origin's time stands still meanwhile.
        state.withLock { s in
            if s.machine.originPaused, !s.cancelRequested {
                let promise = s.paused ?? loop.makePromise(of: Void.self)
                s.paused = promise
                s.deadline = nil
                wait = promise.futureResult
            } else {
                s.deadline = loop.now + timeout
            }
        }
        if tooLarge {
            edge.log("\(plan.key.path) is larger than max_object_size (\(edge.config.maxObjectSize) bytes); streamed, not stored")
            edge.coordinator.detach(plan.key, self)
        }
        return wait ?? loop.makeSucceededVoidFuture()
    }

    func originEnd() {
        endTimer()
        finished()
    }

    func originFailed(_ error: OriginError) {
        endTimer()
        let message: String
        let status: HTTPResponseStatus
        let timedOut = state.withLock { $0.timedOut }
        switch error {
        case .cancelled where timedOut, .timeout:
            (status, message) = (.gatewayTimeout, "The origin \(plan.origin) did not answer \(plan.key.path) within \(Int(saturating: edge.config.originTimeout)) s.")
        case .cancelled where state.withLock({ $0.cancelRequested }):
            // Every reader went away from a response that was not being stored.
            edge.stats.originCancelled()
            edge.coordinator.detach(plan.key, self)
            return
        case .cancelled:
            (status, message) = (.badGateway, "The origin request for \(plan.key.path) was cancelled.")
        case .invalidRequest(let why):
            (status, message) = (.badRequest, "The edge could not build an origin request for \(plan.key.path): \(why)")
        case .failed(let why):
            (status, message) = (.badGateway, "The origin \(plan.origin) failed for \(plan.key.path): \(why).")
        }
        // The origin could not be reached, or did not answer in time (not: the request could
        // not be built, or was cancelled).
        let disconnected = switch error {
        case .failed, .timeout: true
        case .cancelled: timedOut
        case .invalidRequest: false
        }
        fail(OriginFailure(status: status, message: message), disconnected: disconnected)
    }

    // MARK: the origin's side

    private func receivedHead(_ head: HTTPResponseHead) {
        let now = edge.clock()
        let status = head.status.code
        let requestTime = state.withLock { s in
            s.responseTime = now
            return s.requestTime
        }
        edge.stats.originLatency(seconds: now - requestTime)
        if let stale = plan.revalidating {
            if status == 304 {
                return resolve(refreshed(stale, with: head.headers, requestTime: requestTime, responseTime: now), forwardStatus: 304, staleIfError: false)
            }
            if status >= 500, stale.freshness.mayServeOnError(at: now) {
                edge.log("origin answered \(status) for \(plan.key.path); serving the stale copy (stale-if-error)", .warning)
                resolve(stale, forwardStatus: Int(status), staleIfError: true)
                // Nobody reads the error's body: the origin connection is not held for it.
                let call: (any OriginCall)? = state.withLock { s in
                    s.cancelRequested = true
                    return s.call
                }
                call?.cancel()
                return
            }
        }
        let headers = HeaderRules.removingHopByHop(head.headers)
        let rfcStorability: Storability = plan.intent == .never
            ? .notStorable(reason: "method")
            : plan.revalidating != nil && status >= 500
            // §4.3.3: a 5xx to a validation may be treated as a failure to respond; it does not
            // replace the stored copy, which stays for the next validation and stale-if-error.
            ? .notStorable(reason: "server error while revalidating")
            : Storability.decide(method: .GET, requestHeaders: plan.requestHeaders, status: Int(status), responseHeaders: headers,
                                 setCookieNeedsPublic: plan.policy.config.setCookie == .publicOnly)
        let contentLength = headers.first(name: "content-length").flatMap { Int($0) }
        let fits = (contentLength ?? 0) <= edge.config.maxObjectSize
        let decision = decide(status: Int(status), headers: headers, storability: rfcStorability, requestTime: requestTime, responseTime: now)
        let (storability, freshness, ruleNote) = (decision.storability, decision.freshness, decision.note)
        let shareable = storability == .storable && plan.forwardReason != .request
        let name = edge.config.name
        let verdict: CacheVerdict = switch storability {
        case .storable where fits:
            .forwarded(name, plan.forwardReason, forwardStatus: Int(status), stored: true, ttl: Int(saturating: freshness.timeToLive(at: now)),
                       detail: ruleNote.map { .rule($0) })
        case .storable:
            .forwarded(name, plan.forwardReason, forwardStatus: Int(status), detail: .tooLargeToStore)
        case .notStorable(let reason):
            .forwarded(name, plan.forwardReason, forwardStatus: Int(status),
                       detail: plan.intent == .never ? nil : .notStored(reason: reason))
        }
        let fetched = FetchedHead(
            status: head.status, headers: headers, contentLength: contentLength, verdict: verdict,
            vary: VarySelector(responseHeaders: headers, requestHeaders: plan.requestHeaders, ignoring: ["accept-encoding"]),
            shareable: shareable || plan.intent == .never, age: freshness.age(at: now)
        )
        let storing = storability == .storable && fits
        state.withLock { s in
            s.storedStatus = head.status
            s.storedFreshness = freshness
            s.verdict = verdict
            // Content-Length, Age and Accept-Ranges are the edge's to say on each delivery.
            var stored = headers
            for name in ResponseDelivery.setOnDelivery { stored.remove(name: name) }
            s.storedHeaders = stored
        }
        transition { $0.receivedHead(fetched, storing: storing) }
        if storability != .storable && plan.intent == .ifAllowed { edge.coordinator.markUncollapsible(plan.key) }
        if !storing { edge.coordinator.detach(plan.key, self) }
    }

    private func finished() {
        // The body is complete. Readers still take it from the kept chunks at their own pace;
        // requests arriving until the object is in the store join and read the same chunks,
        // then the door closes and new requests find the stored object. An object for the
        // asset pipeline is processed off the event loop; requests arriving meanwhile wait for
        // the processed object.
        var whole: ByteBuffer?
        transition { m in
            let (body, actions) = m.receivedEnd()
            whole = body
            return actions
        }
        let (status, headers, freshness, verdict) = state.withLock { s in
            (s.storedStatus, s.storedHeaders,
             s.storedFreshness ?? Freshness(status: Int(s.storedStatus.code), headers: s.storedHeaders, requestTime: s.requestTime, responseTime: s.responseTime),
             s.verdict ?? .forwarded(edge.config.name, plan.forwardReason))
        }
        if let body = whole, let vary = state.withLock({ $0.machine.head?.vary }) {
            let response = StoredResponse(status: status, headers: headers, body: body, freshness: freshness, vary: vary)
            if plan.policy.assets.applies(path: plan.key.path, status: status, headers: headers), plan.policy.assets.reserve(body.readableBytes) {
                state.withLock { $0.machine.processing(verdict) }
                let immutable = CacheControl(headers: headers).immutable
                NIOThreadPool.singleton.submit { [self] _ in
                    let processed = plan.policy.assets.apply(response, strongest: immutable)
                    plan.policy.assets.release(response.body.readableBytes)
                    _ = edge.store.insert(plan.key, processed)
                    edge.disk?.keep(plan.key, processed)
                    edge.coordinator.detach(plan.key, self)
                    transition { m in
                        m.closeToJoiners()
                        return m.resolve(processed, verdict)
                    }
                }
                return
            }
            if !edge.store.insert(plan.key, response), response.cost > edge.store.budget {
                edge.log("\(plan.key.path) not stored in memory: larger than the whole cache budget (cache_size)\(edge.disk == nil ? "" : "; kept on disk only")")
            }
            edge.disk?.keep(plan.key, response)
        }
        edge.coordinator.detach(plan.key, self)
        state.withLock { $0.machine.closeToJoiners() }
        // §4.4: a successful unsafe request invalidates what is stored for its URL.
        if plan.invalidates, status.code < 400 {
            edge.store.remove(plan.key)
            edge.disk?.invalidate(plan.key, now: edge.clock())
        }
    }

    private func fail(_ failure: OriginFailure, disconnected: Bool) {
        let now = edge.clock()
        let beforeHead = state.withLock { s in
            if case .waitingForHead = s.machine.phase { return true }
            return false
        }
        if beforeHead, let stale = plan.revalidating {
            if stale.freshness.mayServeOnError(at: now) {
                edge.log("\(failure.message) Serving the stale copy (stale-if-error).", .warning)
                return resolve(stale, forwardStatus: nil, staleIfError: true)
            }
            if disconnected, stale.freshness.mayServeDisconnected(at: now, within: plan.policy.config.staleIfDisconnected) {
                edge.log("\(failure.message) Serving the stale copy (stale_if_disconnected).", .warning)
                return resolve(stale, forwardStatus: nil, staleIfError: true)
            }
        }
        var midBody = false
        transition { m in
            let (mid, actions) = m.failed(failure)
            midBody = mid
            return actions
        }
        edge.log(midBody ? "\(failure.message) The response was cut off mid-body; nothing stored." : failure.message, .warning)
        edge.coordinator.detach(plan.key, self)
    }

    /// Answers every waiter from storage (a 304 refresh or stale-if-error).
    private func resolve(_ stored: StoredResponse, forwardStatus: Int?, staleIfError: Bool) {
        let now = edge.clock()
        let verdict: CacheVerdict = !staleIfError
            ? .revalidated(edge.config.name, ttl: Int(saturating: stored.freshness.timeToLive(at: now)))
            : .stale(edge.config.name, ttl: Int(saturating: stored.freshness.timeToLive(at: now).rounded(.down)), because: .staleIfError,
                     forwardStatus: forwardStatus)
        transition { $0.resolve(stored, verdict) }
        edge.coordinator.detach(plan.key, self)
    }

    /// RFC 9111's storability and freshness for this fetch's response, then the operator's rule
    /// for its path (cacheable fetches only).
    private func decide(status: Int, headers: HTTPHeaders, storability: Storability, requestTime: Double, responseTime: Double) -> CachePolicy.Decision {
        let freshness = Freshness(status: status, headers: headers, requestTime: requestTime, responseTime: responseTime)
        guard plan.intent == .ifAllowed, plan.forwardReason != .request, let rule = plan.policy.config.cacheRules.rule(for: String(plan.key.path)) else {
            return CachePolicy.Decision(storability: storability, freshness: freshness)
        }
        return CachePolicy.apply(rule, status: status, headers: headers, storability: storability, freshness: freshness)
    }

    /// The stored response refreshed by a 304 (RFC 9111 §4.3.4), updated in place in the store.
    private func refreshed(_ stale: StoredResponse, with headers: HTTPHeaders, requestTime: Double, responseTime: Double) -> StoredResponse {
        func apply(_ r: inout StoredResponse) {
            r.headers = HeaderRules.updating(stored: r.headers, with: headers)
            if r.transformed, let etag = r.etag, !etag.hasPrefix("W/") { r.headers.replaceOrAdd(name: "ETag", value: "W/" + etag) }
            for name in ResponseDelivery.setOnDelivery { r.headers.remove(name: name) }
            r.freshness = decide(status: Int(r.status.code), headers: headers.contains(name: "age") ? r.headers.adding(age: headers) : r.headers,
                                 storability: .storable, requestTime: requestTime, responseTime: responseTime).freshness
        }
        if let updated = edge.store.update(plan.key, vary: stale.vary, apply) {
            edge.disk?.keep(plan.key, updated)
            return updated
        }
        var copy = stale
        apply(&copy)
        edge.store.insert(plan.key, copy)
        edge.disk?.keep(plan.key, copy)
        return copy
    }
}

extension HTTPHeaders {
    /// These headers with the `Age` of `response` (a 304's age counts for the refreshed copy,
    /// §4.3.4, though the stored headers never keep an Age of their own).
    func adding(age response: HTTPHeaders) -> HTTPHeaders {
        var h = self
        for v in response["age"] { h.add(name: "Age", value: v) }
        return h
    }
}
