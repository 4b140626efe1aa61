import AsyncHTTPClient
import CacheStore
import ControlAPI
import Foundation
import HTTPCaching
import HTTPServer
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import Topology

/// Storing one pushed object the way every way in does (a PUT, a PATCH, a peer's copy): durably,
/// then served minified and compressed (brotli 11: it is compressed once and kept), and any
/// pulled copy of the same URL on its site removed.
enum PushIngest {
    static func store(_ object: PushedObject, site: SitePolicy, pushes: PushStore, edge: EdgeContext, now: Double, ifStill: String? = nil) throws(PushError) {
        var object = object
        try pushes.put(object, ifStill: ifStill)
        object.response = site.assets.apply(object.response, strongest: true)
        pushes.replaceResponse(object)
        if let name = site.name {
            let selector = PurgeSelector(paths: [CacheKey.normalise(object.path)], site: name)
            _ = edge.store.purge(selector, soft: false, now: now)
            edge.disk?.purge(selector, now: now)
        } else {
            edge.store.remove(edge.key(object.path, edge.defaultRoute))
            edge.disk?.invalidate(edge.key(object.path, edge.defaultRoute), now: now)
        }
    }
}

/// What one edge copies from a peer's manifest: the entries it lacks, holds with an older push,
/// or holds with the same content and an earlier expiry. Pure.
enum PushSyncPlan {
    enum Step: Equatable {
        /// Fetch the body and store it.
        case copy(Manifest.Entry)
        /// Same content: only the expiry (and tags) move.
        case extend(Manifest.Entry)
    }

    static func steps(peer: [Manifest.Entry], local: [Manifest.Entry], now: Double, maxObjectSize: Int) -> [Step] {
        let mine = Dictionary(local.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [Step] = []
        for e in peer where isSane(e, now: now, maxObjectSize: maxObjectSize) {
            guard let have = mine[e.path] else {
                out.append(.copy(e))
                continue
            }
            if have.sha256 == e.sha256 {
                if e.expires > have.expires { out.append(.extend(e)) }
            } else if e.pushedAt > have.pushedAt {
                out.append(.copy(e))
            }
        }
        return out
    }

    /// A peer's manifest is input like any other: what becomes headers must be printable, the
    /// numbers in range, the path one a push could have.
    static func isSane(_ e: Manifest.Entry, now: Double, maxObjectSize: Int) -> Bool {
        func printable(_ s: String, max: Int) -> Bool { s.utf8.count <= max && s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f } }
        return e.expires.isFinite && e.expires > now && e.expires <= HTTPDate.maximum && e.pushedAt.isFinite && e.pushedAt <= e.expires
            && (0...maxObjectSize).contains(e.size) && PushPath.validate(e.path) == e.path
            && e.sha256.utf8.count == 64 && e.sha256.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
            && !e.contentType.isEmpty && printable(e.contentType, max: 256)
            && e.tags.count <= 64 && e.tags.allSatisfy { !$0.isEmpty && printable($0, max: 128) && !$0.contains(",") && !$0.contains(" ") }
    }
}

/// Keeps this edge's pushed objects level with its peers' (`push_peers`): at start, then every
/// `push_sync_interval`, it reads each peer's manifest per site and copies what it lacks (checked
/// against the manifest's SHA-256 before it is stored). An edge that joins later, or lost its
/// disk, so serves the same pushed set within seconds. Peers take this edge's control token.
final class PushSync: Sendable {
    private let edge: EdgeContext
    private let token: String
    private let client: HTTPClient
    private let tls: TLSConfiguration?
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Peers whose last manifest read failed: a failure is logged when it starts, and the
    /// recovery, not every round.
    private let failing = Mutex<Set<String>>([])
    /// Objects copied and extended since start, and the last round's failures (for tests and logs).
    let copied = Atomic<Int>(0)
    let extended = Atomic<Int>(0)
    let rounds = Atomic<Int>(0)

    init(edge: EdgeContext, token: String, group: any EventLoopGroup) throws {
        self.edge = edge
        self.token = token
        let needsTLS = edge.config.pushPeers.contains(where: \.tls)
        tls = needsTLS ? try ControlTLS.clientConfiguration(caFile: edge.config.controlCA) : nil
        var c = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2), read: .seconds(30)))
        c.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: c)
    }

    func start() {
        let interval = edge.config.pushSyncInterval
        let t = Task {
            while !Task.isCancelled {
                await self.round()
                try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
        task.withLock { $0 = t }
    }

    func stop() async {
        let t = task.withLock { t in defer { t = nil }; return t }
        t?.cancel()
        _ = await t?.value
        try? await client.shutdown()
    }

    /// One pass over every peer and site.
    func round() async {
        let sites: [(name: String?, policy: SitePolicy)] = edge.sites.isEmpty ? [(nil, edge.edgeSite)] : edge.sites.map { ($0.name, $0) }
        let peers = edge.config.pushPeers
        for (name, policy) in sites {
            guard let pushes = policy.pushes, !Task.isCancelled else { continue }
            // Every peer's manifest at once (a peer that is down costs its timeout once, not
            // once per peer after it), then each applied in the configured order, so what one
            // peer gave is not fetched again from the next.
            let manifests = await withTaskGroup(of: (Int, Manifest?).self) { group in
                for (i, peer) in peers.enumerated() { group.addTask { (i, await self.manifest(peer: peer, site: name)) } }
                var out = [Manifest?](repeating: nil, count: peers.count)
                for await (i, m) in group { out[i] = m }
                return out
            }
            for (peer, manifest) in zip(peers, manifests) where !Task.isCancelled {
                if let manifest { await apply(manifest, peer: peer, site: name, policy: policy, pushes: pushes) }
            }
        }
        rounds.add(1, ordering: .relaxed)
    }

    /// A peer's manifest for a site; nil (logged when it starts failing) if it cannot be read.
    private func manifest(peer: EndpointURL, site: String?) async -> Manifest? {
        let siteQuery = site.map { "?site=" + Self.encodeQuery($0) } ?? ""
        let key = peer.base + " " + (site ?? "")
        do {
            let body = try await call(peer.base + "/manifest" + siteQuery, limit: 64 << 20, timeout: .seconds(10))
            let manifest = try JSONDecoder().decode(Manifest.self, from: Data(body.readableBytesView))
            if failing.withLock({ $0.remove(key) != nil }) {
                edge.log("push sync: peer \(peer.base)\(site.map { " for site \($0)" } ?? "") answers again", .notice)
            }
            return manifest
        } catch {
            if failing.withLock({ $0.insert(key).inserted }) {
                edge.log("push sync: cannot read the manifest of peer \(peer.base)\(site.map { " for site \($0)" } ?? ""): \(error); retrying every \(edge.config.pushSyncInterval) s (logged again when it answers)", .warning)
            }
            return nil
        }
    }

    private func apply(_ manifest: Manifest, peer: EndpointURL, site: String?, policy: SitePolicy, pushes: PushStore) async {
        let siteQuery = site.map { "site=" + Self.encodeQuery($0) }
        let now = edge.clock()
        let steps = PushSyncPlan.steps(peer: manifest.objects, local: pushes.manifest(now: now), now: now, maxObjectSize: edge.config.maxPushSize)
        var copied = 0, extended = 0
        for step in steps where !Task.isCancelled {
            let entry: Manifest.Entry
            let ifStill: String?
            var body: ByteBuffer
            switch step {
            case .copy(let e):
                entry = e
                ifStill = nil
                do {
                    body = try await call(peer.base + "/push" + Self.encodePath(e.path) + (siteQuery.map { "?" + $0 } ?? ""), limit: e.size)
                } catch {
                    edge.log("push sync: cannot copy \(e.path) from peer \(peer.base): \(error)", .warning)
                    continue
                }
            case .extend(let e):
                entry = e
                ifStill = e.sha256
                guard let old = pushes.stored(e.path, now: now), old.meta.sha256 == e.sha256 else { continue }
                body = old.response.body
            }
            let sha = SHA256Hex.of(buffer: body)
            guard sha == entry.sha256 else {
                edge.log("push sync: \(entry.path) from peer \(peer.base) has SHA-256 \(sha), not \(entry.sha256) as its manifest says; not stored", .warning)
                continue
            }
            let object = PushedObject(path: entry.path, body: body, sha256: sha, contentType: entry.contentType, tags: entry.tags,
                                      expires: entry.expires, pushedAt: entry.pushedAt)
            do {
                try PushIngest.store(object, site: policy, pushes: pushes, edge: edge, now: now, ifStill: ifStill)
                if case .copy = step { copied += 1 } else { extended += 1 }
            } catch {
                edge.log("push sync: cannot store \(entry.path) copied from \(peer.base): \(error.message)", .warning)
            }
        }
        if copied + extended > 0 {
            self.copied.add(copied, ordering: .relaxed)
            self.extended.add(extended, ordering: .relaxed)
            edge.log("push sync: \(copied) objects copied and \(extended) expiries extended from peer \(peer.base)\(site.map { " for site \($0)" } ?? "")", .notice)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func call(_ url: String, limit: Int, timeout: TimeAmount = .seconds(60)) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: url)
        request.tlsConfiguration = tls
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await client.execute(request, timeout: timeout)
        guard response.status == .ok else {
            throw Failure(description: "HTTP \(response.status.code)\(response.status == .unauthorized || response.status == .forbidden ? " (the peer does not take this edge's control token)" : "")")
        }
        return try await response.body.collect(upTo: max(limit, 1))
    }

    static func encodePath(_ path: String) -> String { ControlTarget.encodePath(path) }
    static func encodeQuery(_ s: String) -> String { ControlTarget.encodeQuery(s) }
}
