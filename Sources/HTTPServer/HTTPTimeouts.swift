import NIOCore
import Topology
import NIOHTTP1

/// Which timer an HTTP/1 connection runs, as a pure state machine over what happens on it.
/// Its shell is `HTTPTimeouts`; its table tests drive it directly.
public struct HTTPTimeoutMachine: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// A new connection: its first head must be complete within the head timeout, counted
        /// from the connection's start (bytes arriving do not restart it).
        case awaitingFirstHead
        /// Between requests of a kept-alive connection.
        case idle
        /// Some bytes of a head have arrived.
        case readingHead
        case readingBody
        /// The request is complete; the server is answering (its own timeouts apply, e.g. the
        /// origin's).
        case responding
        /// Answering, but the client does not read and the socket's buffer is full.
        case blockedOnClient
    }

    public enum Action: Sendable, Equatable {
        /// (Re)start the timer of this kind.
        case arm(ListenerStats.Timeout)
        case cancel
        case keep
    }

    public private(set) var phase = Phase.awaitingFirstHead

    public init() {}

    public mutating func connectionStarted() -> Action { .arm(.head) }

    public mutating func bytesRead() -> Action {
        switch phase {
        case .idle:
            phase = .readingHead
            return .arm(.head)
        case .awaitingFirstHead:
            phase = .readingHead
            return .keep
        default:
            return .keep
        }
    }

    public mutating func headRead() -> Action {
        phase = .readingBody
        return .arm(.body)
    }

    public mutating func bodyRead() -> Action { phase == .readingBody ? .arm(.body) : .keep }

    public mutating func requestEnded() -> Action {
        guard phase == .readingBody else { return .keep }
        phase = .responding
        return .cancel
    }

    public mutating func responseEnded() -> Action {
        phase = .idle
        return .arm(.idle)
    }

    public mutating func writabilityChanged(writable: Bool) -> Action {
        switch (phase, writable) {
        case (.responding, false):
            phase = .blockedOnClient
            return .arm(.send)
        case (.blockedOnClient, true):
            phase = .responding
            return .cancel
        default:
            return .keep
        }
    }

    /// Whether a timer firing now should tell the client why (408) before closing: only while
    /// a request is being received. An idle or stuck connection is just closed.
    public var answersTimeoutWith408: Bool { phase == .readingHead || phase == .readingBody }
}

/// The shell of `HTTPTimeoutMachine` for one connection: two handlers share it, one before the
/// HTTP decoder (it sees bytes arrive) and one after the pipelining handler (it sees requests
/// and responses). Bound to the connection's event loop.
public final class HTTPTimeouts {
    private var machine = HTTPTimeoutMachine()
    private let limits: ListenerLimits
    private let stats: ListenerStats
    private var timer: Scheduled<Void>?
    /// The context of the handler at the front of the pipeline: a 408 written there goes
    /// straight to the socket, whatever state the HTTP codec is in.
    fileprivate var front: ChannelHandlerContext?

    public init(limits: ListenerLimits, stats: ListenerStats) {
        self.limits = limits
        self.stats = stats
    }

    /// The handler that goes first in the pipeline (before the HTTP decoder).
    public var byteHandler: any ChannelHandler { ByteActivityHandler(self) }
    /// The handler that goes after NIO's pipelining handler.
    public var requestHandler: any ChannelHandler { RequestActivityHandler(self) }

    fileprivate func run(_ action: HTTPTimeoutMachine.Action) {
        switch action {
        case .keep: return
        case .cancel:
            timer?.cancel()
            timer = nil
        case .arm(let kind):
            timer?.cancel()
            guard let loop = front?.eventLoop else { return }
            let seconds = seconds(kind)
            timer = loop.assumeIsolated().scheduleTask(in: .seconds(clamping: seconds)) { [self] in fire(kind, seconds: seconds) }
        }
    }

    fileprivate func event(_ change: (inout HTTPTimeoutMachine) -> HTTPTimeoutMachine.Action) {
        run(change(&machine))
    }

    private func seconds(_ kind: ListenerStats.Timeout) -> Double {
        switch kind {
        case .head: limits.headTimeout
        case .body: limits.bodyTimeout
        case .idle: limits.idleTimeout
        case .send: limits.sendTimeout
        case .handshake: limits.handshakeTimeout
        }
    }

    private func fire(_ kind: ListenerStats.Timeout, seconds: Double) {
        timer = nil
        guard let front else { return }
        stats.recordTimeout(kind)
        if machine.answersTimeoutWith408 {
            let what = kind == .head ? "request head" : "request body"
            let text = "The \(what) did not arrive within \(Int(exactly: seconds.rounded()) ?? 0) s; the connection is closed.\n"
            var out = front.channel.allocator.buffer(capacity: 160)
            out.writeString("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")
            front.writeAndFlush(NIOAny(out)).whenComplete { [channel = front.channel] _ in channel.close(promise: nil) }
        } else {
            front.close(promise: nil)
        }
    }

    fileprivate func stop() {
        timer?.cancel()
        timer = nil
    }
}

private final class ByteActivityHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let timeouts: HTTPTimeouts

    init(_ timeouts: HTTPTimeouts) { self.timeouts = timeouts }

    func handlerAdded(context: ChannelHandlerContext) {
        timeouts.front = context
        timeouts.event { $0.connectionStarted() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeouts.stop()
        timeouts.front = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeouts.stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timeouts.event { $0.bytesRead() }
        context.fireChannelRead(data)
    }
}

private final class RequestActivityHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private let timeouts: HTTPTimeouts

    init(_ timeouts: HTTPTimeouts) { self.timeouts = timeouts }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: timeouts.event { $0.headRead() }
        case .body: timeouts.event { $0.bodyRead() }
        case .end: timeouts.event { $0.requestEnded() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { timeouts.event { $0.responseEnded() } }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        timeouts.event { $0.writabilityChanged(writable: writable) }
        context.fireChannelWritabilityChanged()
    }
}

/// Closes a connection whose TLS (or other) handshake has not finished in time. The protocol
/// layer says when it has, by calling `done` from a user event it recognises.
public final class HandshakeTimeoutHandler: ChannelInboundHandler {
    public typealias InboundIn = NIOAny
    private let seconds: Double
    private let stats: ListenerStats
    private let isCompletion: (Any) -> Bool
    private var timer: Scheduled<Void>?

    /// `isCompletion` recognises the user event that ends the handshake (e.g. NIOSSL's
    /// `TLSUserEvent.handshakeCompleted`).
    public init(seconds: Double, stats: ListenerStats, isCompletion: @escaping (Any) -> Bool) {
        self.seconds = seconds
        self.stats = stats
        self.isCompletion = isCompletion
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        timer = context.eventLoop.scheduleTask(in: .seconds(clamping: seconds)) { [stats, channel = context.channel] in
            stats.recordTimeout(.handshake)
            channel.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if isCompletion(event) {
            timer?.cancel()
            timer = nil
        }
    }
}

/// Closes a connection on which nothing has been read for `seconds` (an HTTP/2 connection,
/// a DNS-over-TCP one): NIO's `IdleStateHandler` says when, this handler closes.
public final class IdleCloseHandler: ChannelInboundHandler {
    public typealias InboundIn = NIOAny
    private let stats: ListenerStats?

    public init(stats: ListenerStats?) { self.stats = stats }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .read {
            stats?.recordTimeout(.idle)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
