import Foundation
import HTTPCaching
import HTTPServer
import NIOCore
import NIOHTTP1
import Topology

/// The director's HTTP side: `/route?client=IP` (JSON), `/health`, `/status` (HTML) and
/// `/status.json`; every other path is a 302 to the chosen edge with the same path and query.
final class DirectorHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: DirectorCore
    private var head: HTTPRequestHead?

    init(core: DirectorCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context, h)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        let target = RequestTarget(h.uri)
        let path = target.path
        let peer = context.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
        switch path {
        case "/health":
            let up = core.monitor.healthy.count
            write(context, h, .ok, json: ["status": up > 0 ? "ok" : "no healthy edge", "healthyEdges": "\(up)", "edges": "\(core.monitor.targets.count)"])
        case "/route":
            var client = clientAddress(h, peer: peer)
            var subnet: CIDR?
            for value in target.values("client") where !value.isEmpty {
                if value.contains("/") {
                    guard let c = CIDR(value) else { return write(context, h, .badRequest, json: ["error": "'\(value)' is not an address or CIDR subnet"]) }
                    subnet = c
                } else {
                    guard let a = IPAddress(value) else { return write(context, h, .badRequest, json: ["error": "'\(value)' is not an IP address"]) }
                    client = a
                }
            }
            let d = core.route(client: client, subnet: subnet)
            var body = RouteBody(d)
            // The site of the name asked (host=, else this request's Host): the same edges serve it.
            if let host = target.values("host").first ?? h.headers.first(name: "host") {
                body.host = host
                body.site = core.site(host: host)
            }
            writeEncodable(context, h, .ok, body)
        case "/status":
            writeBody(context, h, .ok, type: "text/html; charset=utf-8",
                      StatusPage.render(fleet: core.fleet, health: core.monitor.snapshot, changes: core.monitor.recentChanges, now: core.clock()))
        case "/dashboard":
            writeBody(context, h, .ok, type: "text/html; charset=utf-8", Dashboard.page)
        case "/dashboard.json":
            writeEncodable(context, h, .ok, Dashboard.body(stats: core.stats, health: core.monitor.snapshot))
        case "/status.json":
            writeEncodable(context, h, .ok, StatusBody(edges: core.monitor.snapshot, changes: core.monitor.recentChanges,
                                                       connections: ["http": .init(core.httpListener), "dnsTCP": .init(core.dnsTCPListener)]))
        default:
            let d = core.route(client: clientAddress(h, peer: peer), subnet: nil)
            guard let edge = d.edges.first else {
                return write(context, h, .serviceUnavailable, json: ["error": "no edge is configured"])
            }
            var headers: HTTPHeaders = ["Location": edge.publicURL + h.uri, "Cache-Control": "no-store", "X-Outpost-Edge": edge.name, "X-Outpost-Reason": d.reason]
            if let site = h.headers.first(name: "host").flatMap(core.site(host:)) { headers.add(name: "X-Outpost-Site", value: site) }
            headers.add(name: "Content-Length", value: "0")
            write(context, h, .found, headers: headers, body: nil)
        }
    }

    private func clientAddress(_ h: HTTPRequestHead, peer: IPAddress?) -> IPAddress? {
        ForwardedClient.address(peer: peer, xForwardedFor: h.headers[canonicalForm: "x-forwarded-for"].map(String.init),
                                trusted: core.fleet.director.trustedProxies)
    }

    struct RouteBody: Encodable {
        struct Edge: Encodable {
            var name: String
            var publicURL: String
            var ipv4: String?
            var ipv6: String?
        }
        var client: String
        var location: [String: Double]
        var matchedDataCenter: String?
        var dataCenter: String
        var edges: [Edge]
        var failOpen: Bool
        var reason: String
        /// The name asked about, and the site it is (nil: none of the fleet's sites).
        var host: String?
        var site: String?

        init(_ d: RouteDecision) {
            client = d.client
            location = ["lat": d.location.lat, "lon": d.location.lon]
            matchedDataCenter = d.matchedDataCenter
            dataCenter = d.dataCenter
            edges = d.edges.map { Edge(name: $0.name, publicURL: $0.publicURL, ipv4: $0.ipv4?.description, ipv6: $0.ipv6?.description) }
            failOpen = d.failOpen
            reason = d.reason
        }
    }

    struct StatusBody: Encodable {
        var edges: [EdgeHealth]
        var changes: [HealthChange]
        var connections: [String: ConnectionCounts]
    }

    /// A listener's connection counters, as /status.json shows them.
    struct ConnectionCounts: Encodable {
        var open: Int
        var accepted: Int
        var refused: [String: Int]
        var timeouts: [String: Int]

        init(_ s: ListenerStats) {
            open = s.open
            accepted = s.accepted
            refused = Dictionary(uniqueKeysWithValues: ListenerStats.Refusal.allCases.map { ($0.label, s.refused($0)) })
            timeouts = Dictionary(uniqueKeysWithValues: ListenerStats.Timeout.allCases.map { ($0.label, s.timedOut($0)) })
        }
    }

    private func write(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, json: [String: String]) {
        writeEncodable(context, h, status, json)
    }

    private func writeEncodable<T: Encodable>(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, _ value: T) {
        HTTPResponseWriter.json(context, request: h, status: status, value, extra: ["Date": HTTPDate.format(core.clock())])
    }

    private func writeBody(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, type: String, _ text: String) {
        HTTPResponseWriter.text(context, request: h, status: status, type: type, ByteBuffer(string: text), extra: ["Date": HTTPDate.format(core.clock())])
    }

    private func write(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?) {
        var headers = headers
        headers.add(name: "Date", value: HTTPDate.format(core.clock()))
        HTTPResponseWriter.write(context, request: h, status: status, headers: headers, body: body)
    }
}
