import Foundation
import HTTPServer
import NIOCore
import NIOPosix
import Synchronization
import Topology

/// `outpost director`: health checks, DNS (UDP and TCP) and HTTP routing for the fleet.
public final class DirectorServer: Sendable {
    public let core: DirectorCore
    private let group: any EventLoopGroup
    private let channels = Mutex<[any Channel]>([])
    private let http = Mutex<HTTPListener?>(nil)
    private let checker = Mutex<Task<Void, Never>?>(nil)

    public init(
        fleet: FleetConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.group = group
        core = DirectorCore(fleet: fleet, monitor: HealthMonitor(fleet: fleet, group: group, clock: clock, log: log), clock: clock, log: log)
    }

    /// Runs a first round of health checks, then binds DNS (UDP, TCP) and HTTP and keeps
    /// checking. Returns the bound ports (dns, http).
    @discardableResult
    public func start() async throws -> (dns: Int, http: Int) {
        await core.monitor.checkAll()
        let d = core.fleet.director
        let core = self.core
        let udp = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(DNSUDPHandler(director: core)) } }
            .bind(host: d.dnsListen.host, port: d.dnsListen.port).get()
        let dnsPort = udp.localAddress?.port ?? d.dnsListen.port
        let tcp = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSTCPFrameDecoder()))
                    try ch.pipeline.syncOperations.addHandler(DNSTCPHandler(director: core))
                }
            }
            .bind(host: d.dnsListen.host, port: dnsPort).get()
        channels.withLock { $0 = [udp, tcp] }
        let h = try await HTTPListener.bind(host: d.httpListen.host, port: d.httpListen.port, group: group) { DirectorHTTPHandler(core: core) }
        http.withLock { $0 = h }
        let monitor = core.monitor
        let task = Task.detached { await monitor.run() }
        checker.withLock { $0 = task }
        return (dnsPort, h.port)
    }

    public func stop() async {
        checker.withLock { $0?.cancel() }
        for c in channels.withLock({ $0 }) { try? await c.close() }
        await http.withLock { $0 }?.close()
    }
}
