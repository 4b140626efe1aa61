import AsyncHTTPClient
import ControlAPI
import Edge
import Foundation
import HTTPServer
import NIOSSL
import NIOCore
import NIOHTTP1
import Topology

/// Talks to one edge's control API for the CLI, with errors that name the edge and say what to do.
struct ControlClient: Sendable {
    let edge: EdgeConfig
    let baseURL: String
    let token: String
    let client: HTTPClient
    /// How the control listener is trusted when it speaks TLS.
    var tls: TLSConfiguration? = nil
    /// The site pushes, deletes and manifests go to; nil: the first (or only) one.
    var site: String? = nil

    /// `&site=NAME` (or `?site=`) when a site is named.
    private func siteQuery(_ joiner: String) -> String { site.map { "\(joiner)site=\(Self.encodeQuery($0))" } ?? "" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The client for each edge, or why there is none (no control listener, no token).
    static func make(_ edge: EdgeConfig, client: HTTPClient, tokenFile: String?) -> Result<ControlClient, Failure> {
        guard let control = edge.controlURL else {
            return .failure(Failure(description: "\(edge.name) has no control_listen in \(edge.file ?? "its config"); add one to push or purge"))
        }
        var token = edge.effectiveControlToken()
        if let tokenFile, ProcessInfo.processInfo.environment["OUTPOST_CONTROL_TOKEN"] == nil {
            token = (try? String(contentsOfFile: tokenFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token, !token.isEmpty else {
            return .failure(Failure(description: "no control token for \(edge.name): set OUTPOST_CONTROL_TOKEN or pass --token-file"))
        }
        var tls: TLSConfiguration?
        if edge.controlTLS {
            do { tls = try ControlTLS.clientConfiguration(caFile: edge.controlCA) } catch {
                return .failure(Failure(description: "\(edge.name): cannot read control_ca '\(edge.controlCA ?? "")' (\(error)); it must be a PEM certificate"))
            }
        }
        return .success(ControlClient(edge: edge, baseURL: control, token: token, client: client, tls: tls))
    }

    func manifest(prefix: String) async throws -> Manifest {
        try checkReachable()
        let body = try await call(.GET, "/manifest?prefix=\(Self.encodeQuery(prefix))" + siteQuery("&"), expect: 200)
        do { return try JSONDecoder().decode(Manifest.self, from: body) } catch {
            throw Failure(description: "\(edge.name): the manifest from \(baseURL) is not what this CLI expects (\(error)); are the CLI and edge the same version?")
        }
    }

    func upload(path: String, data: Data, sha256: String, contentType: String, expires: String, tags: [String]) async throws {
        var headers: HTTPHeaders = ["X-Outpost-Expires": expires, "X-Outpost-SHA256": sha256, "Content-Type": contentType]
        if !tags.isEmpty { headers.add(name: "X-Outpost-Tags", value: tags.joined(separator: ",")) }
        _ = try await call(.PUT, "/push" + Self.encodePath(path) + siteQuery("?"), headers: headers, body: data, expect: 201)
    }

    /// A new expiry (and tags) for content the edge already holds with this SHA-256.
    func extend(path: String, sha256: String, expires: String, tags: [String]) async throws {
        var headers: HTTPHeaders = ["X-Outpost-Expires": expires, "X-Outpost-SHA256": sha256]
        if !tags.isEmpty { headers.add(name: "X-Outpost-Tags", value: tags.joined(separator: ",")) }
        _ = try await call(.PATCH, "/push" + Self.encodePath(path) + siteQuery("?"), headers: headers, expect: 200)
    }

    func stats() async throws -> EdgeStats.Snapshot {
        try checkReachable()
        let body = try await call(.GET, "/stats", expect: 200)
        return try JSONDecoder().decode(EdgeStats.Snapshot.self, from: body)
    }

    func delete(path: String) async throws {
        _ = try await call(.DELETE, "/push" + Self.encodePath(path) + siteQuery("?"), expect: 200)
    }

    func purge(urls: [String], prefixes: [String], tags: [String], soft: Bool, site: String? = nil) async throws -> PurgeResult {
        var q = urls.map { "url=\(Self.encodeQuery($0))" } + prefixes.map { "prefix=\(Self.encodeQuery($0))" } + tags.map { "tag=\(Self.encodeQuery($0))" }
        if soft { q.append("soft=true") }
        if let site { q.append("site=\(Self.encodeQuery(site))") }
        try checkReachable()
        let body = try await call(.POST, "/purge?" + q.joined(separator: "&"), expect: 200)
        return try JSONDecoder().decode(PurgeResult.self, from: body)
    }

    /// Fails at once when nothing listens on an IPv4 control address: the HTTP client would
    /// otherwise retry a refused connection until its deadline.
    private func checkReachable() throws {
        guard let control = edge.controlListen, control.host.split(separator: ".").count == 4 else { return }
        if !TCPProbe.accepts(host: control.host, port: control.port) {
            throw Failure(description: "\(edge.name) is unreachable at \(baseURL) (connection refused); is it running (outpost up)?")
        }
    }

    private func call(_ method: HTTPMethod, _ target: String, headers: HTTPHeaders = [:], body: Data? = nil, expect: Int) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + target)
        request.method = method
        request.tlsConfiguration = tls
        request.headers = headers
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60))
        } catch {
            throw Failure(description: "\(edge.name) is unreachable at \(baseURL) (\(error)); is it running (outpost up)?")
        }
        let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        let code = Int(response.status.code)
        guard code == expect else {
            let message = (try? JSONDecoder().decode([String: String].self, from: data))?["error"] ?? String(decoding: data, as: UTF8.self)
            switch code {
            case 401, 403:
                throw Failure(description: "\(edge.name) rejected the token (\(code)): \(message)")
            default:
                throw Failure(description: "\(edge.name): \(method) \(target.prefix(120)) → \(code): \(message)")
            }
        }
        return data
    }

    static func encodePath(_ path: String) -> String { ControlTarget.encodePath(path) }
    static func encodeQuery(_ s: String) -> String { ControlTarget.encodeQuery(s) }
}

/// Which edges a command addresses: all, `--edges a,b`, or `--dc name`.
struct EdgeSelection: ParsableArguments {
    @Option(help: "Only these edges (comma-separated names).") var edges: String?
    @Option(help: "Only the edges of this data center.") var dc: String?
    @Option(help: "A file holding the control token (else OUTPOST_CONTROL_TOKEN, else each edge's config).") var tokenFile: String?

    func select(_ fleet: FleetConfig) throws -> [EdgeConfig] {
        var chosen = fleet.allEdges
        if let dc {
            guard fleet.dataCenters.contains(where: { $0.name == dc }) else {
                throw OperatorError("no data center '\(dc)' in the fleet; known: \(fleet.dataCenters.map(\.name).joined(separator: ", "))")
            }
            chosen = chosen.filter { $0.dataCenter == dc }
        }
        if let edges {
            let names = Set(edges.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            let unknown = names.subtracting(fleet.allEdges.map(\.name))
            guard unknown.isEmpty else { throw OperatorError("unknown edge(s): \(unknown.sorted().joined(separator: ", "))") }
            chosen = chosen.filter { names.contains($0.name) }
        }
        return chosen
    }
}

import ArgumentParser
