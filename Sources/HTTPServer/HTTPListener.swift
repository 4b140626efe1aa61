import HTTPCaching
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A bound HTTP/1.1 listener: keep-alive, pipelining (requests answered in order, one at a time
/// per connection), and a 400 for malformed requests, all from NIO's own handlers. The caller
/// adds the one handler that answers.
public struct HTTPListener: Sendable {
    public let channel: any Channel
    private let connections: ConnectionTracker

    /// The port actually bound (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Binds `host:port` and adds `makeHandler()` after the HTTP codec on every connection.
    public static func bind(
        host: String, port: Int, group: any EventLoopGroup,
        makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> HTTPListener {
        let connections = ConnectionTracker()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: true
                    )
                    try channel.pipeline.syncOperations.addHandler(makeHandler())
                }
            }
            .bind(host: host, port: port)
            .get()
        return HTTPListener(channel: channel, connections: connections)
    }

    /// Stops accepting and closes every open connection: a stopped server must not go on
    /// answering on kept-alive connections (health checks would think it is still up).
    public func close() async {
        try? await channel.close()
        for c in connections.all { try? await c.close() }
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

/// The open connections of a listener.
final class ConnectionTracker: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        open.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = open.withLock { $0.removeValue(forKey: id) } }
    }

    var all: [any Channel] { open.withLock { Array($0.values) } }
}
