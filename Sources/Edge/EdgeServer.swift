import AsyncHTTPClient
import CacheStore
import Foundation
import HTTPServer
import NIOCore
import NIOPosix
import Synchronization
import Topology

/// `outpost edge`: the cache. One public HTTP/1.1 listener in front of one origin.
public final class EdgeServer: Sendable {
    let context: EdgeContext
    private let listener = Mutex<HTTPListener?>(nil)

    public var config: EdgeConfig { context.config }
    public var store: MemoryStore { context.store }

    public init(
        config: EdgeConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        var clientConfig = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(Int64(config.originConnectTimeout * 1000)), read: .milliseconds(Int64(config.originTimeout * 1000))),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64),
            decompression: .disabled
        )
        clientConfig.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: clientConfig)
        context = EdgeContext(
            config: config,
            store: MemoryStore(budget: config.cacheSize),
            coordinator: FetchCoordinator(clock: clock),
            client: client,
            clock: clock,
            logger: log,
            via: "1.1 \(config.name) (outpost)"
        )
        self.group = group
    }

    private let group: any EventLoopGroup

    /// Binds the public listener; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let context = self.context
        let l = try await HTTPListener.bind(host: config.listen.host, port: config.listen.port, group: group) {
            EdgeHandler(edge: context)
        }
        listener.withLock { $0 = l }
        return l.port
    }

    public var port: Int { listener.withLock { $0?.port ?? 0 } }

    /// Closes the listener and the origin client.
    public func stop() async {
        let l = listener.withLock { $0 }
        await l?.close()
        try? await context.client.shutdown()
    }

    /// Origin fetches under way now (for tests and stats).
    public var fetchesInFlight: Int { context.coordinator.inFlightCount }
}
