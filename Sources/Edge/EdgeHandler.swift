import CacheStore
import HTTPCaching
import HTTPServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Topology

/// The shell that runs `RequestPath` for one client connection's requests, one at a time (NIO's
/// pipelining handler queues the next): it reads the request, runs each step the path returns,
/// writes what it decides, and pulls a miss's response from its `InFlightFetch` no faster than
/// the connection takes it. A hit is answered right here on the event loop from the stored
/// buffer. See `RequestPath` for a request's whole life.
final class EdgeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode {
        /// Waiting for the fetch's head.
        case waiting
        /// Writing the origin's response as it arrives.
        case streaming
        /// Writing one range of it as it arrives; `offset` is the body bytes seen so far.
        case ranged(ClosedRange<Int>, offset: Int)
    }

    private struct Current {
        var request: HTTPRequestHead
        var sequence: Int
        var key: CacheKey
        var collapsed = false
        var mode = Mode.waiting
        /// The fetch this request reads, and its place in it.
        var fetch: InFlightFetch?
        var waiter: InFlightFetch.WaiterID = 0
        /// What a streamed response will be counted as, and its body bytes so far.
        var outcome = Outcome.miss
        var status = 200
        var bytes = 0
        /// The body's length when the head said it: the response ends with its last byte,
        /// without waiting for the fetch's end.
        var expected: Int?
    }

    private let edge: EdgeContext
    private var context: ChannelHandlerContext?
    private var requestHead: HTTPRequestHead?
    private var requestBody: ByteBuffer?
    /// The current request was answered before its end (denied): the rest of it is ignored
    /// while the connection closes.
    private var refusedEarly = false
    private var sequence = 0
    private var current: Current?
    /// When the current request's head arrived, for the access log.
    private var started = 0.0
    /// Body bytes written to this connection and not yet taken by the socket, and the most
    /// allowed (`client_buffer_size`).
    private var pendingBytes = 0
    private let window: Int
    /// What the request path's steps know of this edge.
    private var setting: RequestPath.Setting
    /// A pull waits for `pendingBytes` to drop below the window.
    private var drainWaiting = false

    /// The request came over TLS (`X-Forwarded-Proto: https`).
    private let scheme: String
    /// `Via: …\r\n` when hits may leave pre-encoded: the connection's pipeline has
    /// `HTTP1ResponseEncoder` (HTTP/1; not an HTTP/2 stream).
    private var preEncodedVia: ByteBuffer?
    /// This event loop's access log buffer.
    private var logShard: AccessLog.Shard?

    /// The connection's TLS server name once read (`.some(nil)`: the client sent none).
    private var sni: String??
    /// The client's address, read once per connection.
    private var peer: String?
    /// The client is in the `deny` list: every request gets a 403.
    private var denied = false
    /// The client as per-client limits count it (its IPv6 /64).
    private var peerKey = ""

    init(edge: EdgeContext, overTLS: Bool) {
        self.edge = edge
        self.scheme = overTLS ? "https" : "http"
        self.window = edge.config.clientBufferSize
        self.setting = RequestPath.Setting(config: edge.config, scheme: scheme, key: { edge.key($0, $1) }, route: edge.defaultRoute,
                                           servedHosts: edge.servedHosts)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        logShard = edge.accessLog?.shard(for: context.eventLoop)
        if (try? context.pipeline.syncOperations.context(handlerType: HTTP1ResponseEncoder.self)) != nil {
            preEncodedVia = ResponseDelivery.viaField(edge.via)
        }
        // HTTP/2 streams are child channels: the address is the parent connection's.
        peer = (context.channel.remoteAddress ?? context.channel.parent?.remoteAddress)?.ipAddress
        let address = peer.flatMap { IPAddress($0) }
        peerKey = address?.clientKey ?? peer ?? ""
        if !edge.config.deny.isEmpty, let address {
            denied = edge.config.deny.contains { $0.contains(address) }
        }
    }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.method == .CONNECT:
            // The HTTP decoder stops parsing after CONNECT (it is an upgrade), so answer now.
            sequence += 1
            setting.route = edge.defaultRoute  // no site's: counted and logged at the edge
            writeText(head, .methodNotAllowed, "CONNECT is not allowed: this edge is not a proxy.\n", close: true)
        case .head(let head) where denied:
            // Refused before its body is read; the connection is closed.
            sequence += 1
            setting.route = edge.defaultRoute
            refusedEarly = true
            edge.stats.refusedRequest(.denied)
            writeText(head, .forbidden, "Requests from \(peer ?? "this address") are refused by this edge's deny list.\n", close: true)
        case .head(let head):
            started = edge.clock()
            refusedEarly = false
            // (`RequestBodyLimit`, before this handler, answers 100-continue and refuses bodies
            // over max_request_body_size.)
            requestHead = head
            requestBody = nil
        case .body(var chunk):
            guard !refusedEarly else { return }
            if var body = requestBody {
                requestBody = nil
                body.writeBuffer(&chunk)
                requestBody = body
            } else {
                requestBody = chunk
            }
        case .end:
            if refusedEarly {
                refusedEarly = false
                return
            }
            guard let head = requestHead else { return }
            requestHead = nil
            receive(head, body: requestBody)
            requestBody = nil
        }
    }

    // MARK: running the request path's steps


    private func receive(_ request: HTTPRequestHead, body: ByteBuffer?) {
        sequence += 1
        let retryAfter = edge.rateLimiter?.admit(peerKey, now: edge.clock())
        if retryAfter != nil { edge.stats.refusedRequest(.rateLimited) }
        var misdirected: RequestPath.Misdirection?
        if !edge.config.sites.isEmpty {
            // The site the Host selects; its keys and origin for this request.
            if let route = edge.route(request) {
                setting.route = route
                // Over TLS, the site the connection was opened for (SNI) must be that one.
                if scheme == "https", let name = serverName(), SiteConfig.index(in: edge.config.sites, name: name) != route.siteIndex {
                    misdirected = .otherSiteThanTLS(serverName: name)
                    setting.route = edge.defaultRoute
                }
            } else {
                misdirected = .unknownHost
                setting.route = edge.defaultRoute
            }
        }
        run(RequestPath.receive(request, retryAfter: retryAfter, client: peer, misdirected: misdirected, setting), request, body: body)
    }

    /// The TLS server name (SNI) this connection's client sent, read once from the connection's
    /// `SNICapture` (an HTTP/2 stream's is its parent connection's); nil: none sent.
    private func serverName() -> String? {
        if let known = sni { return known }
        // (An HTTP/1 connection's parent is the listening socket: its own pipeline comes first.)
        guard let channel = context?.channel,
              let capture = (try? channel.pipeline.syncOperations.handler(type: SNICapture.self))
                ?? (channel.parent.flatMap { p in p.eventLoop.inEventLoop ? try? p.pipeline.syncOperations.handler(type: SNICapture.self) : nil })
        else { return nil }
        sni = .some(capture.serverName)
        return capture.serverName
    }

    /// A memory miss asks the disk tier (off the event loop) before the request path goes on; a
    /// response found there goes back into memory.
    private func lookupOnDisk(_ key: CacheKey, _ name: DiskStore.Name, _ request: HTTPRequestHead, _ disk: DiskTier, _ context: ChannelHandlerContext) {
        let asked = sequence, headers = request.headers, generation = disk.currentGeneration
        let future = disk.pool.runIfActive(eventLoop: context.eventLoop) { disk.store.get(key, requestHeaders: headers, name: name) }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        future.whenComplete { result in
            let handler = bound.value
            // The connection went, or moved on: nothing to answer.
            guard handler.context != nil, handler.current?.sequence == asked else { return }
            // A purge or invalidation since the read started: what it found may be what it removed.
            let found = disk.currentGeneration == generation ? ((try? result.get()) ?? nil) : nil
            if let found { handler.edge.store.insert(key, found) }
            handler.run(RequestPath.lookup(key, request, pushed: .none, stored: found, now: handler.edge.clock(), handler.setting), request)
        }
    }

    /// Runs one step of `RequestPath`; lookups run the next.
    private func run(_ next: RequestPath.Next, _ request: HTTPRequestHead, body: ByteBuffer? = nil) {
        switch next {
        case .synthesize(let status, let text, let verdict, let extra):
            writeText(request, status, text, verdict: verdict, extra: extra)
        case .lookup(let key):
            current = Current(request: request, sequence: sequence, key: key)
            let now = edge.clock()
            let pushed = setting.route.policy.pushes.flatMap { $0.isEmpty ? nil : $0.lookup(String(key.path), now: now) } ?? .none
            let stored = edge.store.lookup(key, requestHeaders: request.headers)
            if stored == nil, case .none = pushed, let disk = edge.disk, let context {
                let name = DiskStore.Name(key)
                if disk.store.mayHave(name) { return lookupOnDisk(key, name, request, disk, context) }
            }
            run(RequestPath.lookup(key, request, pushed: pushed, stored: stored, now: now, setting), request)
        case .pass(let plan):
            current = Current(request: request, sequence: sequence, key: plan.key)
            fetchAlone(plan, body: body)
        case .deliver(let stored, let verdict):
            deliver(stored, verdict)
        case .deliverAndRefresh(let stored, let verdict, let plan):
            deliver(stored, verdict)
            let edge = self.edge
            edge.coordinator.startBackground(plan.key) { InFlightFetch(plan: plan, edge: edge) }?.start(body: nil, clientAddress: nil)
        case .fetch(let plan):
            collapse(plan, request)
        case .head(let plan):
            // A HEAD on a miss costs the origin a HEAD: it rides on a GET already in flight, or
            // asks the origin for the head alone (and stores nothing).
            if let (fetch, id) = edge.coordinator.joinInFlight(plan.key, waiter: makeWaiter(request)) {
                current?.collapsed = true
                return read(fetch, id)
            }
            fetchAlone(plan, body: nil)
        }
    }

    // MARK: fetch

    private func collapse(_ plan: InFlightFetch.Plan, _ request: HTTPRequestHead) {
        let edge = self.edge
        switch edge.coordinator.join(plan.key, waiter: makeWaiter(request), store: edge.store, makeFetch: { InFlightFetch(plan: plan, edge: edge) }) {
        case .joined(let fetch, let id):
            current?.collapsed = true
            read(fetch, id)
        case .started(let fetch, let id):
            fetch.start(body: nil, clientAddress: clientAddress)
            read(fetch, id)
        case .stored(let stored):
            deliver(stored, .hit(edge.config.name, ttl: Int(saturating: stored.freshness.timeToLive(at: edge.clock()))))
        case .alone:
            fetchAlone(plan, body: nil)
        }
    }

    /// A fetch for this request only, not collapsed with any other.
    private func fetchAlone(_ plan: InFlightFetch.Plan, body: ByteBuffer?) {
        guard let cur = current else { return }
        let fetch = InFlightFetch(plan: plan, edge: edge)
        var waiter = makeWaiter(cur.request)
        waiter.isInitiator = true
        guard let id = fetch.join(waiter) else { return }
        fetch.start(body: body, clientAddress: clientAddress)
        read(fetch, id)
    }

    private var clientAddress: String? { peer }

    private func makeWaiter(_ request: HTTPRequestHead) -> InFlightFetch.Waiter {
        guard let context else { return InFlightFetch.Waiter(wake: {}, requestHeaders: request.headers, isInitiator: false, wantsBody: false) }
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let sequence = self.sequence
        return InFlightFetch.Waiter(
            wake: { loop.execute { bound.value.pump(sequence: sequence) } },
            requestHeaders: request.headers, isInitiator: false, wantsBody: request.method != .HEAD
        )
    }

    // MARK: deliver

    /// Starts reading the response of `fetch` as waiter `id`.
    private func read(_ fetch: InFlightFetch, _ id: InFlightFetch.WaiterID) {
        current?.fetch = fetch
        current?.waiter = id
        pump()
    }

    private func pump(sequence: Int) {
        guard current?.sequence == sequence else { return }
        pump()
    }

    /// Pulls from the fetch while the connection can take more: at most `client_buffer_size`
    /// bytes are ever waiting to be written to this client; beyond that the next pull waits for
    /// writes to complete.
    private func pump() {
        var flush = false
        defer { if flush { context?.flush() } }
        while let cur = current, let fetch = cur.fetch {
            if pendingBytes >= window {
                drainWaiting = true
                return
            }
            let pull = fetch.next(cur.waiter, budget: window - pendingBytes)
            switch (pull, cur.mode) {
            case (.wait, _):
                return
            case (.head(let head), .waiting):
                if !startResponse(cur, head) { return }
                flush = true
            case (.body(let chunks), .streaming):
                for chunk in chunks { writeBody(chunk) }
                let bytes = cur.bytes + chunks.reduce(0) { $0 + $1.readableBytes }
                current?.bytes = bytes
                flush = true
                if let expected = cur.expected, bytes >= expected {
                    flush = false
                    return finish(cur.request, status: cur.status, bytes: bytes, outcome: cur.outcome)
                }
            case (.body(let chunks), .ranged(let range, var offset)):
                // The requested bytes go out as they arrive; the fetch goes on storing the rest.
                for chunk in chunks {
                    let start = offset, end = offset + chunk.readableBytes  // [start, end)
                    offset = end
                    let from = max(start, range.lowerBound), to = min(end, range.upperBound + 1)
                    if from < to, let slice = chunk.getSlice(at: chunk.readerIndex + from - start, length: to - from) {
                        writeBody(slice)
                        current?.bytes += slice.readableBytes
                    }
                }
                current?.mode = .ranged(range, offset: offset)
                flush = true
                if offset > range.upperBound {
                    flush = false
                    return finish(cur.request, status: 206, bytes: current?.bytes ?? 0, outcome: cur.outcome)
                }
            case (.end, .streaming):
                flush = false
                return finish(cur.request, status: cur.status, bytes: cur.bytes, outcome: cur.outcome)
            case (.stored(let stored, let status), .waiting):
                return deliver(stored, status)
            case (.fetchAlone, .waiting):
                // Another variant, or a response that may not be shared: this request's own.
                return fetchAlone(RequestPath.plan(cur.key, cur.request, setting, intent: .ifAllowed, reason: .miss), body: nil)
            case (.failed(let failure), .waiting):
                let verdict = CacheVerdict.error(edge.config.name, .miss)
                return writeText(cur.request, failure.status, failure.message + "\n", verdict: cur.collapsed ? verdict.collapsed().failed() : verdict)
            case (.gone, .waiting):
                let verdict = CacheVerdict.error(edge.config.name, .miss)
                return writeText(cur.request, .badGateway, "The origin request for \(cur.key.path) ended before its response head.\n",
                                 verdict: cur.collapsed ? verdict.collapsed().failed() : verdict)
            default:
                // Mid-body failure, or a body that ended short of its range: the client must see
                // a broken response, never a short "complete" one.
                flush = false
                return abort(cur)
            }
        }
    }

    /// Writes the response head for the origin's head, deciding conditionals and Range on it
    /// (so a range of a cold object leaves as soon as its bytes arrive). False when the
    /// response is complete with the head (HEAD, 304, 416).
    private func startResponse(_ cur: Current, _ head: FetchedHead) -> Bool {
        var cur = cur
        let verdict = cur.collapsed ? head.verdict.collapsed() : head.verdict
        cur.outcome = verdict.outcome
        let selection = Selection.of(
            status: head.status, method: cur.request.method, requestHeaders: cur.request.headers, etag: head.headers.first(name: "etag"),
            lastModified: head.headers.first(name: "last-modified"), length: head.contentLength
        )
        var headers = head.headers
        headers.remove(name: "age")  // the edge states the age
        ResponseDelivery.decorate(&headers, age: head.age, cacheStatus: verdict.status, via: edge.via)
        let status = selection.apply(to: &headers, status: head.status, length: head.contentLength)
        if !cur.request.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context?.write(wrapOutboundOut(.head(HTTPResponseHead(version: cur.request.version, status: status, headers: headers))), promise: nil)
        cur.status = Int(status.code)
        switch selection {
        case _ where cur.request.method == .HEAD, .notModified, .unsatisfiable:
            finish(cur.request, status: cur.status, bytes: 0, outcome: cur.outcome)
            return false
        case .partial(let range):
            cur.mode = .ranged(range, offset: 0)
        case .full:
            cur.mode = .streaming
            cur.expected = head.contentLength
            if head.contentLength == 0 {
                finish(cur.request, status: cur.status, bytes: 0, outcome: cur.outcome)
                return false
            }
        }
        current = cur
        return true
    }

    /// Writes a body chunk, counting it until the socket took it.
    private func writeBody(_ chunk: ByteBuffer) {
        guard let context else { return }
        let n = chunk.readableBytes
        pendingBytes += n
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { [self] _ in written(n) }
        context.write(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: promise)
    }

    private func written(_ n: Int) {
        pendingBytes -= n
        if drainWaiting, pendingBytes < window {
            drainWaiting = false
            pump()
        }
    }

    /// Breaks the response off (the origin failed mid-body): the connection is closed.
    private func abort(_ cur: Current) {
        cur.fetch.map { $0.leave(cur.waiter) }
        current = nil
        record(cur.request, status: cur.status, bytes: cur.bytes, outcome: .error)
        // What was written goes out first; the close then tells the client it is short.
        context?.flush()
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went away: its place in the fetch is given up (which cancels a response
        // that nobody else reads and that is not being stored).
        // It is still counted and logged, with the bytes it was sent and status 499 in the
        // access log (nginx's "client closed request").
        if let cur = current {
            current = nil
            cur.fetch?.leave(cur.waiter)
            record(cur.request, status: 499, bytes: cur.bytes, outcome: cur.outcome)
        }
        context.fireChannelInactive()
    }

    private func deliver(_ stored: StoredResponse, _ verdict: CacheVerdict) {
        guard let cur = current else { return }
        let verdict = cur.collapsed ? verdict.collapsed() : verdict
        // The common hit leaves as bytes: the stored head, this delivery's fields, the body.
        if let context, let viaField = preEncodedVia,
           let wire = ResponseDelivery.wire(stored, request: cur.request, now: edge.clock(), cacheStatus: verdict.status, viaField: viaField) {
            context.write(wrapOutboundOut(HTTP1ResponseEncoder.preEncodedHead), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(wire.bytes.0))), promise: nil)
            if let rest = wire.bytes.1 { context.write(wrapOutboundOut(.body(.byteBuffer(rest))), promise: nil) }
            let bytes = wire.bodyBytes
            return finish(cur.request, status: Int(stored.status.code), bytes: bytes, outcome: verdict.outcome)
        }
        let response = ResponseDelivery.fromStored(stored, request: cur.request, now: edge.clock(), cacheStatus: verdict.status, via: edge.via)
        write(cur.request, response.status, response.headers, response.body, outcome: verdict.outcome)
    }

    private func writeText(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ text: String, close: Bool = false, verdict: CacheVerdict? = nil,
        extra: HTTPHeaders = [:]
    ) {
        var headers: HTTPHeaders = extra
        headers.add(contentsOf: [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Date", HTTPDate.format(edge.clock())),
        ])
        headers.add(name: "Via", value: edge.via)
        let verdict = verdict ?? .error(edge.config.name)
        headers.add(name: "Cache-Status", value: verdict.headerValue)
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        if close { headers.add(name: "Connection", value: "close") }
        let buffer = context?.channel.allocator.buffer(string: text)
        write(request, status, headers, buffer, close: close, outcome: verdict.outcome)
    }

    private func write(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer?, close: Bool = false,
        outcome: Outcome
    ) {
        guard let context else { return }
        var headers = headers
        if !request.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        var bytes = 0
        if let body, body.readableBytes > 0, request.method != .HEAD {
            bytes = body.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        finish(request, status: Int(status.code), bytes: bytes, outcome: outcome, close: close)
    }

    /// Counts and logs a response.
    private func record(_ request: HTTPRequestHead, status: Int, bytes: Int, outcome: Outcome) {
        edge.stats.record(outcome, bytes: bytes, site: setting.route.siteIndex)
        if let log = edge.accessLog, let logShard {
            let now = edge.clock()
            log.append(
                to: logShard, client: clientAddress, method: request.method.rawValue, target: request.uri,
                version: request.version == .http1_1 ? "HTTP/1.1" : "\(request.version)", status: status,
                bytes: bytes, referer: request.headers.first(name: "referer"), userAgent: request.headers.first(name: "user-agent"),
                outcome: outcome, seconds: now - started, now: now, site: setting.route.site)
        }
    }

    /// Ends the response; the pipelining handler then lets the next request through.
    private func finish(_ request: HTTPRequestHead, status: Int, bytes: Int, outcome: Outcome, close: Bool = false) {
        if let cur = current, let fetch = cur.fetch { fetch.leave(cur.waiter) }
        current = nil
        record(request, status: status, bytes: bytes, outcome: outcome)
        guard let context else { return }
        if close || !request.isKeepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
