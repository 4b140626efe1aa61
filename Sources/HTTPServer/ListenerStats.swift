import Synchronization

/// What a listener counts about its connections, for metrics: how many are open, how many
/// were refused by which cap, and how many each timeout closed. Updated once per connection
/// or per timeout, never per request.
public final class ListenerStats: Sendable {
    public enum Refusal: Int, Sendable, CaseIterable {
        /// `maxConnections` was reached.
        case total
        /// `maxConnectionsPerClient` was reached for the client's address.
        case perClient

        public var label: String { self == .total ? "total" : "per_client" }
    }

    public enum Timeout: Int, Sendable, CaseIterable {
        case head, body, idle, send, handshake

        public var label: String { "\(self)" }
    }

    private struct Counts {
        var accepted = 0
        var closed = 0
        var refusals = [Int](repeating: 0, count: Refusal.allCases.count)
        var timeouts = [Int](repeating: 0, count: Timeout.allCases.count)
    }

    private let counts = Mutex(Counts())

    public init() {}

    /// Connections open now.
    public var open: Int { counts.withLock { $0.accepted - $0.closed } }
    /// Connections accepted since start.
    public var accepted: Int { counts.withLock { $0.accepted } }

    public func refused(_ r: Refusal) -> Int { counts.withLock { $0.refusals[r.rawValue] } }
    public func timedOut(_ t: Timeout) -> Int { counts.withLock { $0.timeouts[t.rawValue] } }

    func recordAccepted() { counts.withLock { $0.accepted += 1 } }
    func recordClosed() { counts.withLock { $0.closed += 1 } }
    func recordRefusal(_ r: Refusal) { counts.withLock { $0.refusals[r.rawValue] += 1 } }
    public func recordTimeout(_ t: Timeout) { counts.withLock { $0.timeouts[t.rawValue] += 1 } }
}
