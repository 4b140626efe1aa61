import HTTPCaching
import NIOCore
import Topology
import NIOHTTP1
import NIOPosix
import Synchronization

/// A bound listener with the limits every Outpost listener has: a total and a per-client
/// connection cap (refused connections are closed at once and counted), and the timeouts the
/// protocol configured on each connection adds. NIO's accept back-off keeps the accept loop
/// alive when the process runs out of file descriptors (EMFILE): it pauses accepting for a
/// moment and serves again when descriptors free up.
public struct HTTPListener: Sendable {
    public let channel: any Channel
    private let admission: ConnectionAdmission

    /// The port actually bound (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }
    /// Its connection counters.
    public var stats: ListenerStats { admission.stats }

    /// Binds `host:port` as an HTTP/1.1 listener (keep-alive, pipelining answered in order, a
    /// 400 for malformed requests, head/body/idle/send timeouts) with `makeHandler()` after the
    /// HTTP codec on every connection.
    public static func bind(
        host: String, port: Int, group: any EventLoopGroup, limits: ListenerLimits = ListenerLimits(),
        stats: ListenerStats = ListenerStats(), makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> HTTPListener {
        try await bind(host: host, port: port, group: group, limits: limits, stats: stats) { channel in
            channel.eventLoop.makeCompletedFuture {
                try configureHTTP1(channel.pipeline.syncOperations, limits: limits, stats: stats, handler: makeHandler())
            }
        }
    }

    /// Binds `host:port`; `configure` sets up each admitted connection's protocol.
    public static func bind(
        host: String, port: Int, group: any EventLoopGroup, limits: ListenerLimits, stats: ListenerStats,
        configure: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> HTTPListener {
        let admission = ConnectionAdmission(limits: limits, stats: stats)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                if admission.admit(channel) != nil {
                    // Refused at once: closing here costs the client one round trip, not a wait.
                    return channel.close()
                }
                return configure(channel)
            }
            .bind(host: host, port: port)
            .get()
        return HTTPListener(channel: channel, admission: admission)
    }

    /// The HTTP/1.1 server pipeline with its timeouts, then `handler`.
    public static func configureHTTP1(
        _ pipeline: ChannelPipeline.SynchronousOperations, limits: ListenerLimits, stats: ListenerStats, handler: any ChannelHandler
    ) throws {
        let timeouts = HTTPTimeouts(limits: limits, stats: stats)
        // The byte observer goes right before the HTTP codec (after TLS, when there is TLS).
        try pipeline.addHandler(timeouts.byteHandler)
        // NIO's server pipeline with our response encoder (which also sends pre-encoded hits and
        // checks header fields as NIO's validator does): decoder, encoder, pipelining.
        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try pipeline.addHandler(HTTP1ResponseEncoder())
        try pipeline.addHandler(HTTPServerPipelineHandler())
        try pipeline.addHandler(ProtocolErrorAnswer())
        try pipeline.addHandler(timeouts.requestHandler)
        try pipeline.addHandler(RequestBodyLimit(limits))
        try pipeline.addHandler(handler)
    }

    /// Stops accepting and closes every open connection: a stopped server must not go on
    /// answering on kept-alive connections (health checks would think it is still up).
    public func close() async {
        try? await channel.close()
        for c in admission.all { try? await c.close() }
    }

    /// Stops accepting, lets every connection finish the request it is on (NIO's quiescing:
    /// HTTP/1 closes after the response under way, HTTP/2 sends GOAWAY), and closes what is
    /// still open after `timeout` seconds.
    public func drain(timeout: Double) async {
        try? await channel.close()
        for c in admission.all { c.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        let deadline = ContinuousClock.now + .milliseconds(Int(max(0, min(timeout, 3600)) * 1000))
        while !admission.all.isEmpty, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
        }
        for c in admission.all { try? await c.close() }
    }
}

/// The `Date` header value for now, formatted at most once a second (formatting is the costly
/// part; the lock is held for a compare and a copy).
public enum DateHeader {
    private static let cache = Mutex<(second: Int64, text: String)>((-1, ""))

    public static func value(at seconds: Double) -> String {
        let whole = Int64(seconds)
        return cache.withLock { c in
            if c.second != whole { c = (whole, HTTPDate.format(Double(whole))) }
            return c.text
        }
    }
}
