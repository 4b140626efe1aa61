import AsyncHTTPClient
import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Steps 4 and 5 of the request path, **fetch** and **store**: one origin request, streamed to
/// every request waiting on it as it arrives (late joiners get what came so far, then the rest),
/// and stored when it is complete and RFC 9111 allows it. An origin that fails mid-body leaves
/// nothing stored. It is the AsyncHTTPClient delegate of its own request; its callbacks run on
/// the client's event loop and hand each waiter its events on the waiter's own loop.
final class InFlightFetch: HTTPClientResponseDelegate, Sendable {
    typealias Response = Void

    struct Waiter {
        var deliver: @Sendable (FetchEvent) -> Void
        var requestHeaders: HTTPHeaders
        var isInitiator: Bool
    }

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
        /// RFC 9211 fwd reason: miss, stale, method, request, bypass.
        var forwardReason: String
        /// How the client reached the edge (`http` or `https`), for `X-Forwarded-Proto`.
        var clientScheme = "http"
        /// The target as the client sent it (origin-form), when key rules made the key differ:
        /// the origin is asked for this, with every parameter.
        var target: String?
    }

    private enum Phase {
        case waitingForHead
        case streaming(FetchedHead)
        /// The body is complete and goes through the asset pipeline; requests arriving now wait
        /// for the processed object.
        case processing(CacheStatus)
        case finished
        case resolved(StoredResponse, CacheStatus)
        case failed(OriginFailure)
    }

    private struct State {
        var phase = Phase.waitingForHead
        var waiters: [Waiter] = []
        var chunks: [ByteBuffer] = []
        var bodyBytes = 0
        var storing = false
        var storedStatus: HTTPResponseStatus = .ok
        var storedHeaders = HTTPHeaders()
        /// Computed when the head arrived, from all of its headers (Age among them, which the
        /// stored headers leave out) and the operator's rule.
        var storedFreshness: Freshness?
        var requestTime = 0.0
        var responseTime = 0.0
    }

    let plan: Plan
    private let edge: EdgeContext
    private let state = Mutex(State())

    init(plan: Plan, edge: EdgeContext) {
        self.plan = plan
        self.edge = edge
    }

    /// Adds a waiter. False when it is too late to join (the body can no longer be replayed):
    /// the caller then looks in the store again or fetches on its own.
    func join(_ waiter: Waiter) -> Bool {
        state.withLock { s in
            switch s.phase {
            case .waitingForHead:
                s.waiters.append(waiter)
                return true
            case .streaming(let head):
                guard s.storing else { return false }
                if Self.admit(waiter, head) {
                    waiter.deliver(.head(head))
                    for c in s.chunks { waiter.deliver(.body(c)) }
                    s.waiters.append(waiter)
                }
                return true
            case .resolved(let stored, let status):
                waiter.deliver(.stored(stored, status))
                return true
            case .processing:
                s.waiters.append(waiter)
                return true
            case .finished, .failed:
                return false
            }
        }
    }

    /// Sends the origin request. Call once, after the initiator joined.
    func start(body: ByteBuffer?, clientAddress: String?) {
        var headers = EdgeRequest.originHeaders(
            client: plan.requestHeaders, lookup: plan.intent == .ifAllowed && plan.forwardReason != "request",
            clientAddress: clientAddress, scheme: plan.clientScheme, via: edge.via,
            strip: edge.config.stripRequestHeaders, cookies: edge.config.cookies
        )
        if plan.intent == .ifAllowed, plan.forwardReason == "request" {
            headers.replaceOrAdd(name: "Authorization", value: plan.requestHeaders.first(name: "authorization") ?? "")
        }
        if let stale = plan.revalidating {
            // §4.3.1: validate with the stored response's validators.
            if let etag = stale.etag { headers.replaceOrAdd(name: "If-None-Match", value: etag) }
            if let lm = stale.lastModified { headers.replaceOrAdd(name: "If-Modified-Since", value: lm) }
        }
        let method: HTTPMethod = plan.method == .HEAD && plan.intent == .ifAllowed ? .GET : plan.method
        let url = edge.config.origin.description + (plan.target.map(CacheKey.normalise) ?? String(plan.key.path))
        state.withLock { $0.requestTime = edge.clock() }
        edge.stats.originRequest()
        do {
            let request = try HTTPClient.Request(url: url, method: method, headers: headers, body: body.map { .byteBuffer($0) })
            _ = edge.client.execute(request: request, delegate: self, eventLoop: .indifferent)
        } catch {
            fail(OriginFailure(status: .badRequest, message: "The edge could not build an origin request for \(plan.key.path): \(error)"))
        }
    }

    // MARK: HTTPClientResponseDelegate

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        receivedHead(head)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        receivedBody(buffer)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        finished()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        let timeout = "\(error)".contains("readTimeout") || "\(error)".contains("deadlineExceeded")
        let message = timeout
            ? "The origin \(edge.config.origin) did not answer \(plan.key.path) within \(Int(saturating: edge.config.originTimeout)) s."
            : "The origin \(edge.config.origin) failed for \(plan.key.path): \(error)."
        fail(OriginFailure(status: timeout ? .gatewayTimeout : .badGateway, message: message))
    }

    // MARK: the state machine

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
                return resolve(refreshed(stale, with: head.headers, requestTime: requestTime, responseTime: now), forwardStatus: 304)
            }
            if status >= 500, stale.freshness.mayServeOnError(at: now) {
                edge.log("origin answered \(status) for \(plan.key.path); serving the stale copy (stale-if-error)")
                return resolve(stale, forwardStatus: Int(status), detail: "stale-if-error")
            }
        }
        let headers = HeaderRules.removingHopByHop(head.headers)
        let rfcStorability: Storability = plan.intent == .never
            ? .notStorable(reason: "method")
            : Storability.decide(method: .GET, requestHeaders: plan.requestHeaders, status: Int(status), responseHeaders: headers)
        let contentLength = headers.first(name: "content-length").flatMap { Int($0) }
        let fits = (contentLength ?? 0) <= edge.config.maxObjectSize
        let decision = decide(status: Int(status), headers: headers, storability: rfcStorability, requestTime: requestTime, responseTime: now)
        let (storability, freshness, ruleNote) = (decision.storability, decision.freshness, decision.note)
        var cacheStatus = CacheStatus(cacheName: edge.config.name, outcome: .forward(plan.forwardReason))
        cacheStatus.forwardStatus = Int(status)
        cacheStatus.detail = ruleNote
        let shareable = storability == .storable && plan.forwardReason != "request"
        switch storability {
        case .storable where fits:
            cacheStatus.stored = true
            cacheStatus.ttl = Int(saturating: freshness.timeToLive(at: now))
        case .storable:
            cacheStatus.detail = "too large to store"
        case .notStorable(let reason):
            if plan.intent != .never { cacheStatus.detail = "not stored: \(reason)" }
        }
        let fetched = FetchedHead(
            status: head.status, headers: headers, contentLength: contentLength, cacheStatus: cacheStatus,
            vary: VarySelector(responseHeaders: headers, requestHeaders: plan.requestHeaders, ignoring: ["accept-encoding"]),
            shareable: shareable || plan.intent == .never, age: freshness.age(at: now)
        )
        let storing = storability == .storable && fits
        state.withLock { s in
            s.phase = .streaming(fetched)
            s.storing = storing
            s.storedStatus = head.status
            s.storedFreshness = freshness
            // Content-Length, Age and Accept-Ranges are the edge's to say on each delivery.
            var stored = headers
            for name in ResponseDelivery.setOnDelivery { stored.remove(name: name) }
            s.storedHeaders = stored
            s.waiters = s.waiters.filter { w in
                let ok = Self.admit(w, fetched)
                w.deliver(ok ? .head(fetched) : .fetchAlone)
                return ok
            }
        }
        if storability != .storable && plan.intent == .ifAllowed { edge.coordinator.markUncollapsible(plan.key) }
        if !storing { edge.coordinator.detach(plan.key, self) }
    }

    /// May this waiter be given this response? The initiator always; others only when it is
    /// shareable and their request selects the same variant (§4.1).
    private static func admit(_ w: Waiter, _ head: FetchedHead) -> Bool {
        w.isInitiator || (head.shareable && head.vary.matches(w.requestHeaders))
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        edge.stats.originBody(buffer.readableBytes)
        let tooLarge: Bool = state.withLock { s in
            guard case .streaming = s.phase else { return false }
            for w in s.waiters { w.deliver(.body(buffer)) }
            guard s.storing else { return false }
            s.bodyBytes += buffer.readableBytes
            if s.bodyBytes > edge.config.maxObjectSize {
                s.storing = false
                s.chunks = []
                return true
            }
            s.chunks.append(buffer)
            return false
        }
        if tooLarge {
            edge.log("\(plan.key.path) is larger than max_object_size (\(edge.config.maxObjectSize) bytes); streamed, not stored")
            edge.coordinator.detach(plan.key, self)
        }
    }

    private func finished() {
        // Storing, ending the waiters' responses and closing the door to new joiners happen in
        // one step: a request arriving meanwhile either joins before (and gets every byte) or
        // finds the stored object. (The store's lock nests inside this one, never the reverse.)
        // An object for the asset pipeline is stored after it, off the event loop; requests
        // that arrive meanwhile wait for it.
        let (refused, status, toProcess): (Int?, UInt, (StoredResponse, CacheStatus)?) = state.withLock { s in
            guard case .streaming(let head) = s.phase else { return (nil, 0, nil) }
            var refused: Int?
            var toProcess: (StoredResponse, CacheStatus)?
            if s.storing {
                var body = ByteBuffer()
                body.reserveCapacity(s.bodyBytes)
                for var c in s.chunks { body.writeBuffer(&c) }
                let response = StoredResponse(
                    status: s.storedStatus, headers: s.storedHeaders, body: body,
                    freshness: s.storedFreshness
                        ?? Freshness(status: Int(s.storedStatus.code), headers: s.storedHeaders, requestTime: s.requestTime, responseTime: s.responseTime),
                    vary: head.vary
                )
                if edge.assets.applies(path: plan.key.path, status: s.storedStatus, headers: s.storedHeaders),
                   edge.assets.reserve(response.body.readableBytes) {
                    toProcess = (response, head.cacheStatus)
                } else if !edge.store.insert(plan.key, response) {
                    refused = response.cost
                }
            }
            s.phase = toProcess.map { .processing($0.1) } ?? .finished
            s.chunks = []
            for w in s.waiters { w.deliver(.end) }
            s.waiters = []
            return (refused, s.storedStatus.code, toProcess)
        }
        if let (response, cacheStatus) = toProcess {
            let immutable = CacheControl(headers: response.headers).immutable
            NIOThreadPool.singleton.submit { [self] _ in
                let processed = edge.assets.apply(response, strongest: immutable)
                edge.assets.release(response.body.readableBytes)
                state.withLock { s in
                    _ = edge.store.insert(plan.key, processed)
                    s.phase = .finished
                    for w in s.waiters { w.deliver(.stored(processed, cacheStatus)) }
                    s.waiters = []
                }
                edge.coordinator.detach(plan.key, self)
            }
            return
        }
        if let cost = refused, cost > edge.store.budget {
            edge.log("\(plan.key.path) not stored: larger than the whole cache budget (cache_size)")
        }
        edge.coordinator.detach(plan.key, self)
        // §4.4: a successful unsafe request invalidates what is stored for its URL.
        if plan.intent == .never, plan.method != .OPTIONS, status < 400 { edge.store.remove(plan.key) }
    }

    private func fail(_ failure: OriginFailure) {
        let now = edge.clock()
        var staleFallback: StoredResponse?
        state.withLock { s in
            if case .waitingForHead = s.phase, let stale = plan.revalidating, stale.freshness.mayServeOnError(at: now) {
                staleFallback = stale
            }
        }
        if let stale = staleFallback {
            edge.log("\(failure.message) Serving the stale copy (stale-if-error).")
            return resolve(stale, forwardStatus: nil, detail: "stale-if-error")
        }
        let wasStreaming: Bool = state.withLock { s in
            let streaming: Bool
            switch s.phase {
            case .waitingForHead: streaming = false
            case .streaming: streaming = true
            default: return false
            }
            s.phase = .failed(failure)
            s.chunks = []
            for w in s.waiters { w.deliver(.failed(failure)) }
            s.waiters = []
            return streaming
        }
        edge.log(wasStreaming ? "\(failure.message) The response was cut off mid-body; nothing stored." : failure.message)
        edge.coordinator.detach(plan.key, self)
    }

    /// Answers every waiter from storage (a 304 refresh or stale-if-error).
    private func resolve(_ stored: StoredResponse, forwardStatus: Int?, detail: String? = nil) {
        let now = edge.clock()
        var status: CacheStatus
        if detail == nil {
            status = CacheStatus(cacheName: edge.config.name, outcome: .forward("stale"), ttl: Int(saturating: stored.freshness.timeToLive(at: now)))
        } else {
            status = CacheStatus(cacheName: edge.config.name, outcome: .hit, ttl: Int(saturating: stored.freshness.timeToLive(at: now).rounded(.down)))
        }
        status.forwardStatus = forwardStatus
        status.detail = detail
        state.withLock { s in
            s.phase = .resolved(stored, status)
            for w in s.waiters { w.deliver(.stored(stored, status)) }
            s.waiters = []
        }
        edge.coordinator.detach(plan.key, self)
    }

    /// RFC 9111's storability and freshness for this fetch's response, then the operator's rule
    /// for its path (cacheable fetches only).
    private func decide(status: Int, headers: HTTPHeaders, storability: Storability, requestTime: Double, responseTime: Double) -> CachePolicy.Decision {
        let freshness = Freshness(status: status, headers: headers, requestTime: requestTime, responseTime: responseTime)
        guard plan.intent == .ifAllowed, plan.forwardReason != "request", let rule = edge.config.cacheRules.rule(for: String(plan.key.path)) else {
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
        if let updated = edge.store.update(plan.key, vary: stale.vary, apply) { return updated }
        var copy = stale
        apply(&copy)
        edge.store.insert(plan.key, copy)
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
