import NIOCore
import Topology
import Synchronization

/// Which connections a listener takes: at most `maxConnections` in all and
/// `maxConnectionsPerClient` from one address. It also knows every open connection, so that a
/// stopped listener can close them (a stopped server must not go on answering on kept-alive
/// connections: health checks would think it is still up). Its maps hold open connections
/// only, so they are bounded by the caps.
public final class ConnectionAdmission: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var perClient: [String: Int] = [:]
    }

    private let limits: ListenerLimits
    public let stats: ListenerStats
    private let state = Mutex(State())

    public init(limits: ListenerLimits, stats: ListenerStats = ListenerStats()) {
        self.limits = limits
        self.stats = stats
    }

    /// Takes `channel` in, or says which cap refuses it. An admitted channel is forgotten when
    /// it closes.
    public func admit(_ channel: any Channel) -> ListenerStats.Refusal? {
        let id = ObjectIdentifier(channel)
        let address = channel.remoteAddress?.ipAddress ?? ""
        let client = IPAddress(address)?.clientKey ?? address
        let refusal: ListenerStats.Refusal? = state.withLock { s in
            if s.open.count >= limits.maxConnections { return .total }
            let mine = s.perClient[client, default: 0]
            if mine >= limits.maxConnectionsPerClient { return .perClient }
            s.perClient[client] = mine + 1
            s.open[id] = channel
            return nil
        }
        if let refusal {
            stats.recordRefusal(refusal)
            return refusal
        }
        stats.recordAccepted()
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { s in
                s.open.removeValue(forKey: id)
                let left = s.perClient[client, default: 1] - 1
                s.perClient[client] = left > 0 ? left : nil
            }
            stats.recordClosed()
        }
        return nil
    }

    var all: [any Channel] { state.withLock { Array($0.open.values) } }
}
