import AsyncHTTPClient
import Foundation
import HTTPServer
import Logging
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
    private let tcpListener = Mutex<HTTPListener?>(nil)
    /// Connection counters of DNS over TCP.
    public var dnsTCPStats: ListenerStats { core.dnsTCPListener }
    private let checker = Mutex<Task<Void, Never>?>(nil)
    private let poller = Mutex<Task<Void, Never>?>(nil)
    private let client: HTTPClient

    public init(
        fleet: FleetConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        logger log: Logger = Logger(label: "director", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.group = group
        client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: .init(redirectConfiguration: .disallow,
                                                                                       timeout: .init(connect: .milliseconds(500), read: .seconds(1))))
        core = DirectorCore(fleet: fleet, monitor: HealthMonitor(fleet: fleet, group: group, clock: clock, log: log),
                            stats: FleetStats(fleet: fleet, client: client, clock: clock), clock: clock, log: log)
    }

    /// Runs a first round of health checks, then binds DNS (UDP, TCP) and HTTP and keeps
    /// checking. Returns the bound ports (dns, http).
    @discardableResult
    public func start() async throws -> (dns: Int, http: Int) {
        await core.monitor.checkAll()
        let d = core.fleet.director
        let core = self.core
        // One UDP socket per event loop (SO_REUSEPORT): the kernel spreads queries over them,
        // so DNS uses every core rather than one.
        func bindUDP(port: Int, on loop: any EventLoop) async throws -> any Channel {
            try await DatagramBootstrap(group: loop)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: CInt(SOL_SOCKET)), name: NIOBSDSocket.Option(rawValue: CInt(SO_REUSEPORT))), value: 1)
                .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(DNSUDPHandler(director: core)) } }
                .bind(host: d.dnsListen.host, port: port).get()
        }
        let loops = Array(group.makeIterator())
        // UDP and TCP share the port. With port 0 (tests) the port UDP got may be taken for
        // TCP; then both are tried again on another.
        var attempt = 0
        var dnsPort = d.dnsListen.port
        while true {
            attempt += 1
            do {
                let udp = try await bindUDP(port: d.dnsListen.port, on: loops[0])
                channels.withLock { $0 = [udp] }
                dnsPort = udp.localAddress?.port ?? d.dnsListen.port
                var udpChannels: [any Channel] = [udp]
                for loop in loops.dropFirst() {
                    udpChannels.append(try await bindUDP(port: dnsPort, on: loop))
                    channels.withLock { $0 = udpChannels }
                }
                var tcpLimits = ListenerLimits()
                tcpLimits.maxConnections = d.maxDNSTCPConnections
                tcpLimits.maxConnectionsPerClient = d.maxDNSTCPConnectionsPerClient
                let idle = d.dnsTCPIdleTimeout
                let dnsTCPStats = core.dnsTCPListener
                let tcp = try await HTTPListener.bind(host: d.dnsListen.host, port: dnsPort, group: group, limits: tcpLimits,
                                                      stats: dnsTCPStats) { ch in
                    ch.eventLoop.makeCompletedFuture {
                        // RFC 7766 §6.2.3: idle connections are closed; a client gets a few seconds.
                        try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(clamping: idle)))
                        try ch.pipeline.syncOperations.addHandler(IdleCloseHandler(stats: dnsTCPStats))
                        try ch.pipeline.syncOperations.addHandler(DNSTCPHandler(director: core))
                    }
                }
                tcpListener.withLock { $0 = tcp }
                channels.withLock { $0 = udpChannels }
                break
            } catch where d.dnsListen.port == 0 && attempt < 10 {
                for c in channels.withLock({ $0 }) { try? await c.close() }
                channels.withLock { $0 = [] }
                continue
            }
        }
        let h = try await HTTPListener.bind(host: d.httpListen.host, port: d.httpListen.port, group: group, limits: d.limits, stats: core.httpListener) {
            DirectorHTTPHandler(core: core)
        }
        http.withLock { $0 = h }
        let monitor = core.monitor
        let task = Task.detached { await monitor.run() }
        checker.withLock { $0 = task }
        // The dashboard's numbers: every edge's stats, once a second.
        let stats = core.stats
        let polling = Task.detached {
            while !Task.isCancelled {
                await stats.poll(healthy: monitor.healthy)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        poller.withLock { $0 = polling }
        return (dnsPort, h.port)
    }

    public func stop() async {
        checker.withLock { $0?.cancel() }
        poller.withLock { $0?.cancel() }
        for c in channels.withLock({ $0 }) { try? await c.close() }
        await tcpListener.withLock { $0 }?.close()
        await http.withLock { $0 }?.close()
        try? await client.shutdown()
    }
}
