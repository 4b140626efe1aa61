import CacheStore
import ControlAPI
import HTTPServer
import Foundation
import HTTPCaching
import NIOCore
import NIOHTTP1
import NIOPosix
import Topology

/// The control listener: push, delete, manifest, purge (token required) and health (open, so a
/// load balancer or the director can check it; it says nothing secret). Disk work goes to the
/// thread pool.
final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Refusal {
        case status(Int, String)
    }

    private let edge: EdgeContext
    private let token: [UInt8]
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var refusal: Refusal?

    init(edge: EdgeContext, token: String) {
        self.edge = edge
        self.token = Array(token.utf8)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            refusal = authorize(h)
            // (`RequestBodyLimit`, before this handler, refuses bodies over max_push_size and
            // answers 100-continue when this handler has not refused the request at once.)
            // A refusal is answered at once, and the connection closed: nobody without the
            // token can hold it open by trickling a body.
            if case .status(let code, let message)? = refusal { refuseNow(context, h, code, message) }
        case .body(var chunk):
            guard refusal == nil else { return }
            body.writeBuffer(&chunk)
        case .end:
            guard let h = head else { return }
            head = nil
            guard refusal == nil else { return }  // answered already
            route(context, h, body)
        }
    }

    private func refuseNow(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ code: Int, _ message: String) {
        var extra: HTTPHeaders = ["Connection": "close"]
        if code == 401 { extra.add(name: "WWW-Authenticate", value: "Bearer realm=\"outpost\"") }
        var closing = h
        closing.headers.replaceOrAdd(name: "Connection", value: "close")  // the writer closes after it
        respond(context, closing, code, ["error": message], extra: extra)
    }

    /// 401 without a token, 403 with a wrong one; `/health` is open.
    private func authorize(_ h: HTTPRequestHead) -> Refusal? {
        if h.method == .GET, h.uri == "/health" { return nil }
        guard let value = h.headers.first(name: "authorization") else {
            return .status(401, "no token: send Authorization: Bearer <control token> (outpost push/purge read it from the edge config or OUTPOST_CONTROL_TOKEN)")
        }
        let prefix = "bearer "
        guard value.lowercased().hasPrefix(prefix), Self.constantTimeEqual(Array(value.utf8.dropFirst(prefix.count)), token) else {
            return .status(403, "the token was rejected; check OUTPOST_CONTROL_TOKEN or the edge's control_token")
        }
        return nil
    }

    /// Compares without an early exit, so timing does not reveal how much of a guess was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }

    private func route(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ body: ByteBuffer) {
        let target = RequestTarget(h.uri)
        let path = target.path
        switch (h.method, path) {
        case (.GET, "/health"):
            // Draining: still serving, but the director should send new clients elsewhere.
            let draining = edge.draining.isSet
            respond(context, h, draining ? 503 : 200, ["status": draining ? "draining" : "ok", "name": edge.config.name, "dataCenter": edge.config.dataCenter])
        case (.GET, "/stats"):
            respondJSON(context, h, 200, edge.stats.snapshot(edge: edge.config.name, dataCenter: edge.config.dataCenter, store: edge.store.stats,
                                                             disk: edge.disk?.snapshot, pushes: edge.sitePushes, now: edge.clock()))
        case (.GET, "/metrics"):
            let text = edge.stats.prometheusText(store: edge.store.stats, disk: edge.disk?.snapshot, pushes: edge.sitePushes, now: edge.clock())
            HTTPResponseWriter.text(context, request: h, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", ByteBuffer(bytes: text))
        case (.GET, "/manifest"):
            guard let (site, pushes) = pushSite(context, h, target) else { return }
            let prefix = target.values("prefix").first ?? "/"
            let objects = pushes.manifest(prefix: prefix, now: edge.clock())
            respondJSON(context, h, 200, Manifest(edge: edge.config.name, site: site.name, objects: objects))
        case (.GET, _) where path.hasPrefix("/push/"):
            guard let (_, pushes) = pushSite(context, h, target) else { return }
            fetchPushed(context, h, String(path.dropFirst("/push".count)), pushes)
        case (.PUT, _) where path.hasPrefix("/push/"):
            guard let (site, pushes) = pushSite(context, h, target) else { return }
            push(context, h, String(path.dropFirst("/push".count)), body, site, pushes)
        case (.PATCH, _) where path.hasPrefix("/push/"):
            guard let (site, pushes) = pushSite(context, h, target) else { return }
            extend(context, h, String(path.dropFirst("/push".count)), site, pushes)
        case (.DELETE, _) where path.hasPrefix("/push/"):
            guard let (_, pushes) = pushSite(context, h, target) else { return }
            delete(context, h, String(path.dropFirst("/push".count)), pushes)
        case (.POST, "/purge"):
            purge(context, h, target)
        default:
            respond(context, h, 404, ["error": "no control call \(h.method) \(path); see README: GET/PUT/PATCH/DELETE /push/<path>, GET /manifest, POST /purge, GET /health"])
        }
    }

    /// The site a push, delete or manifest names with `site=` (none: the first site, or the
    /// edge's only one); answers 404 and returns nil when there is no such site.
    private func pushSite(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ target: RequestTarget) -> (SitePolicy, PushStore)? {
        let name = target.values("site").first
        guard let site = edge.site(named: name), let pushes = site.pushes else {
            respond(context, h, 404, ["error": unknownSite(name ?? "")])
            return nil
        }
        return (site, pushes)
    }

    private func unknownSite(_ name: String) -> String {
        let known = edge.config.sites.map(\.name)
        return known.isEmpty ? "this edge has no [[sites]]; leave site= out" : "no site '\(name)' on this edge; its sites: \(known.joined(separator: ", "))"
    }

    private func push(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ rawPath: String, _ body: ByteBuffer, _ site: SitePolicy, _ pushes: PushStore) {
        let now = edge.clock()
        let request: PushRequest
        switch PushRequest.parse(path: rawPath, headers: h.headers, now: now) {
        case .failure(let e): return respond(context, h, e.status, ["error": e.message])
        case .success(let r): request = r
        }
        let edge = self.edge
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () throws -> PushedObject.Meta in
            let sha = SHA256Hex.of(buffer: body)
            if let expected = request.sha256, expected != sha {
                throw PushError(422, "\(request.path): the body's SHA-256 is \(sha), not \(expected) as X-Outpost-SHA256 says; nothing was stored. Upload again")
            }
            let object = PushedObject(path: request.path, body: body, sha256: sha, contentType: request.contentType, tags: request.tags,
                                      expires: request.expires, pushedAt: now)
            try PushIngest.store(object, site: site, pushes: pushes, edge: edge, now: now)
            return object.meta
        }
        answer(future, context, h, path: request.path, status: 201) { meta in
            "pushed \(meta.path)\(site.name.map { " to site \($0)" } ?? "") (\(meta.size) bytes, expires \(HTTPDate.format(meta.expires)))"
        }
    }

    /// `GET /push/<path>`: the object as it was pushed (its body before minifying) with its
    /// SHA-256, expiry, type, tags and push time: what a peer edge copies.
    private func fetchPushed(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ rawPath: String, _ pushes: PushStore) {
        guard let path = PushPath.validate(rawPath) else { return respond(context, h, 400, ["error": "'\(rawPath)' is not a valid path"]) }
        let now = edge.clock()
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { pushes.stored(path, now: now) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = bound.value
            guard case .success(let found?) = result else {
                return handler.respond(context, h, 404, ["error": "nothing live is pushed at \(path)"])
            }
            var extra = HTTPHeaders()
            extra.add(name: "X-Outpost-SHA256", value: found.meta.sha256)
            extra.add(name: "X-Outpost-Expires", value: HTTPDate.format(found.expires))
            extra.add(name: "X-Outpost-Pushed-At", value: String(Int(saturating: found.pushedAt)))
            if !found.tags.isEmpty { extra.add(name: "X-Outpost-Tags", value: found.tags.joined(separator: ",")) }
            HTTPResponseWriter.text(context, request: h, status: .ok, type: found.meta.contentType, found.response.body, extra: extra)
        }
    }

    /// Answers a push or an expiry change when its disk work is done: the object's metadata,
    /// or the refusal (logged) with its status.
    private func answer(_ future: EventLoopFuture<PushedObject.Meta>, _ context: ChannelHandlerContext, _ h: HTTPRequestHead, path: String,
                        status: Int, logged: @escaping @Sendable (PushedObject.Meta) -> String) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let edge = self.edge
        future.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let meta):
                edge.log(logged(meta))
                handler.respondJSON(context, h, status, meta)
            case .failure(let e as PushError):
                edge.log("push of \(path) refused: \(e.message)", .warning)
                handler.respond(context, h, e.status, ["error": e.message])
            case .failure(let e):
                handler.respond(context, h, 500, ["error": "\(path): \(e)"])
            }
        }
    }

    /// `PATCH /push/<path>`: a new expiry (and tags) for what is pushed there, without sending
    /// it again; with `X-Outpost-SHA256`, only if that is still the stored content (409 if not).
    private func extend(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ rawPath: String, _ site: SitePolicy, _ pushes: PushStore) {
        let now = edge.clock()
        let request: PushRequest
        switch PushRequest.parse(path: rawPath, headers: h.headers, now: now) {
        case .failure(let e): return respond(context, h, e.status, ["error": e.message])
        case .success(let r): request = r
        }
        let edge = self.edge
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () throws -> PushedObject.Meta in
            guard let old = pushes.stored(request.path, now: now) else {
                throw PushError(404, "nothing live is pushed at \(request.path); push it with its body")
            }
            if let expected = request.sha256, expected != old.meta.sha256 {
                throw PushError(409, "\(request.path) is stored with SHA-256 \(old.meta.sha256), not \(expected); push the new body")
            }
            let tags = h.headers.contains(name: "x-outpost-tags") ? request.tags : old.tags
            let object = PushedObject(path: request.path, body: old.response.body, sha256: old.meta.sha256, contentType: old.meta.contentType,
                                      tags: tags, expires: request.expires, pushedAt: now)
            try PushIngest.store(object, site: site, pushes: pushes, edge: edge, now: now, ifStill: old.meta.sha256)
            return object.meta
        }
        answer(future, context, h, path: request.path, status: 200) { meta in
            "push of \(meta.path)\(site.name.map { " on site \($0)" } ?? "") extended: expires \(HTTPDate.format(meta.expires))"
        }
    }

    private func delete(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ rawPath: String, _ pushes: PushStore) {
        guard let path = PushPath.validate(rawPath) else { return respond(context, h, 400, ["error": "'\(rawPath)' is not a valid path"]) }
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { try pushes.delete(path) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(true): handler.respond(context, h, 200, ["deleted": path])
            case .success(false): handler.respond(context, h, 404, ["error": "nothing is pushed at \(path)"])
            case .failure(let e): handler.respond(context, h, 500, ["error": "\(e)"])
            }
        }
    }

    private func purge(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ query: RequestTarget) {
        var selector = PurgeSelector()
        // Sites named by the hosts of full URLs: a URL's host says which site's object it is.
        var urlSites: Set<String> = []
        for url in query.values("url") {
            // A full URL or a path; either way the path is what is keyed.
            let target = url.hasPrefix("/") ? url : (url.range(of: "://").map { r in
                String(url[r.upperBound...].drop { $0 != "/" })
            } ?? url)
            selector.paths.insert(CacheKey.normalise(target.isEmpty ? "/" : target))
            if !edge.config.sites.isEmpty, let r = url.range(of: "://") {
                let authority = String(url[r.upperBound...].prefix { $0 != "/" && $0 != "?" })
                guard let host = HostPattern.normalise(authority), let i = SiteConfig.index(in: edge.config.sites, host: host) else {
                    return respond(context, h, 404, ["error": "no site of this edge serves \(url)'s host; its hosts: \(edge.servedHosts)"])
                }
                urlSites.insert(edge.config.sites[i].name)
            }
        }
        let named = query.values("site").first
        guard urlSites.count <= 1, named == nil || urlSites.allSatisfy({ $0 == named }) else {
            return respond(context, h, 400, ["error": "the URLs name other sites than site= (\(urlSites.sorted().joined(separator: ", "))); purge one site's URLs per call"])
        }
        selector.prefixes = query.values("prefix").map(CacheKey.normalise)
        selector.tags = Set(query.values("tag"))
        guard !selector.isEmpty else {
            return respond(context, h, 400, ["error": "say what to purge: url=, prefix= or tag= (repeatable), and soft=true for a soft purge"])
        }
        // No site= (and no URL naming one) purges every site; pushed objects follow the same
        // selector.
        var pushStores = edge.allPushes
        if let name = named ?? urlSites.first {
            guard let site = edge.sites.first(where: { $0.name == name }) else { return respond(context, h, 404, ["error": unknownSite(name)]) }
            selector.site = name
            pushStores = site.pushes.map { [$0] } ?? []
        }
        let soft = ["1", "true", "yes"].contains(query.values("soft").first ?? "")
        // The disk tier first (banned at once, soft or hard: a purged object on disk is fetched
        // again), so no disk read under way puts a purged object back into memory.
        edge.disk?.purge(selector, now: edge.clock())
        let pulled = edge.store.purge(selector, soft: soft, now: edge.clock())
        let chosen = selector, stores = pushStores
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () throws -> Int in
            // Pushed objects cannot revalidate, so only a hard purge touches them.
            guard !soft else { return 0 }
            var n = 0
            for pushes in stores {
                for p in pushes.paths(matching: chosen) where try pushes.delete(p) { n += 1 }
            }
            return n
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let edge = self.edge
        future.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let pushed):
                edge.log("\(soft ? "soft" : "hard") purge: \(pulled) pulled and \(pushed) pushed objects")
                handler.respondJSON(context, h, 200, PurgeResult(purged: pulled + pushed, pulled: pulled, pushed: pushed, soft: soft))
            case .failure(let e):
                handler.respond(context, h, 500, ["error": "purge failed after \(pulled) pulled objects: \(e)"])
            }
        }
    }



    private func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: Int, _ object: [String: String], extra: HTTPHeaders = [:]) {
        respondJSON(context, h, status, object, extra: extra)
    }

    private func respondJSON<T: Encodable>(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: Int, _ value: T, extra: HTTPHeaders = [:]) {
        HTTPResponseWriter.json(context, request: h, status: HTTPResponseStatus(statusCode: status), value, extra: extra)
    }
}

