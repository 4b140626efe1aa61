/// The timeouts and connection caps of one listener. Every listener Outpost binds has them;
/// the defaults are generous enough that the local demo and its benchmarks never reach them,
/// and tight enough that a client holding connections open without finishing a request is
/// cut off within seconds (nginx's `client_header_timeout`, `keepalive_timeout`,
/// `send_timeout`; Varnish's `timeout_idle`).
public struct ListenerLimits: Sendable, Equatable {
    /// Seconds from a connection's start, or from the first byte of a later request, to the
    /// end of that request's head.
    public var headTimeout: Double = 10
    /// Most seconds between two reads of a request body.
    public var bodyTimeout: Double = 30
    /// Seconds a kept-alive connection may wait for its next request.
    public var idleTimeout: Double = 60
    /// Most seconds a response may wait for a client that reads nothing.
    public var sendTimeout: Double = 60
    /// Seconds a TLS handshake may take.
    public var handshakeTimeout: Double = 10
    /// Open connections at most; more are closed as soon as they are accepted.
    public var maxConnections: Int = 16_384
    /// Open connections from one client address at most.
    public var maxConnectionsPerClient: Int = 1_024
    /// Bytes of a request body at most (then 413); set from the listener's own setting, not a
    /// key of its own.
    public var maxRequestBodySize: Int = .max
    /// That setting's name, for the 413's text.
    public var maxRequestBodySizeSetting = "request body limit"
    /// The listener speaks JSON (the control API): its 413 says `{"error": …}`.
    public var answersJSON = false

    public init() {}

    public init(
        headTimeout: Double = 10, bodyTimeout: Double = 30, idleTimeout: Double = 60, sendTimeout: Double = 60,
        handshakeTimeout: Double = 10, maxConnections: Int = 16_384, maxConnectionsPerClient: Int = 1_024
    ) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.sendTimeout = sendTimeout
        self.handshakeTimeout = handshakeTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
    }
}


extension ListenerLimits {
    /// The settings that read into a `ListenerLimits`, shared by every config file with a
    /// listener.
    public static let keys: Set<String> = [
        "head_timeout", "body_timeout", "idle_timeout", "send_timeout", "handshake_timeout", "max_connections",
        "max_connections_per_client",
    ]

    /// Reads the listener settings of `s`, each bounded (timeouts 0.1 s to a day, caps 1 to
    /// a million).
    public init(section s: ConfigSection) throws(ConfigError) {
        self.init()
        func timeout(_ key: String, _ value: inout Double) throws(ConfigError) {
            guard let v = try s.double(key) else { return }
            guard v.isFinite, (0.1...86_400).contains(v) else { throw s.error(key, "must be between 0.1 and 86400 seconds") }
            value = v
        }
        func cap(_ key: String, _ value: inout Int) throws(ConfigError) {
            guard let v = try s.integer(key) else { return }
            guard (1...1_000_000).contains(v) else { throw s.error(key, "must be between 1 and 1000000 connections") }
            value = v
        }
        try timeout("head_timeout", &headTimeout)
        try timeout("body_timeout", &bodyTimeout)
        try timeout("idle_timeout", &idleTimeout)
        try timeout("send_timeout", &sendTimeout)
        try timeout("handshake_timeout", &handshakeTimeout)
        try cap("max_connections", &maxConnections)
        try cap("max_connections_per_client", &maxConnectionsPerClient)
    }
}
