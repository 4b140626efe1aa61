import HTTPCaching
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
    /// The current response's end has been handed to the socket: once the socket drains (it
    /// is writable again) the connection is idle.
    private var responseComplete = false

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
        responseComplete = false
        phase = .readingBody
        return .arm(.body)
    }

    public mutating func bodyRead() -> Action { phase == .readingBody ? .arm(.body) : .keep }

    public mutating func requestEnded() -> Action {
        guard phase == .readingBody else { return .keep }
        phase = .responding
        return .cancel
    }

    /// The response's end was handed to the socket. If the socket takes it (writable), the
    /// connection waits for its next request; if not, the client is not reading what it was
    /// sent, and the send timeout applies until it drains: a slow download is never cut off as
    /// "idle", and one that stops is cut off by the send timeout.
    public mutating func responseEnded(writable: Bool) -> Action {
        guard phase == .readingBody || phase == .responding || phase == .blockedOnClient else { return .keep }
        responseComplete = true
        if writable {
            phase = .idle
            return .arm(.idle)
        }
        phase = .blockedOnClient
        return .arm(.send)
    }

    public mutating func writabilityChanged(writable: Bool) -> Action {
        switch (phase, writable) {
        case (.responding, false):
            phase = .blockedOnClient
            return .arm(.send)
        case (.blockedOnClient, true) where responseComplete:
            phase = .idle
            return .arm(.idle)
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
    /// When the armed timeout expires, and which it is; nil: none armed.
    private var deadline: (at: NIODeadline, kind: ListenerStats.Timeout)?
    /// The one scheduled check, never later than the armed deadline. Arming a timeout only
    /// moves `deadline` (no scheduling per request: a heap insert and an allocation per event
    /// cost a cache hit a third of its speed); the check, when it runs, reschedules itself
    /// for the deadline if that moved on.
    private var timer: Scheduled<Void>?
    private var timerAt: NIODeadline?
    /// The context of the handler at the front of the pipeline: a 408 written there goes
    /// straight to the socket, whatever state the HTTP codec is in. Nil on an HTTP/2 stream,
    /// which has no bytes of its own (a timeout there resets the stream).
    fileprivate var front: ChannelHandlerContext?
    /// The request observer's context (the only one on an HTTP/2 stream).
    fileprivate var requests: ChannelHandlerContext?

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
            deadline = nil
        case .arm(let kind):
            let at = now + .seconds(clamping: seconds(kind))
            deadline = (at, kind)
            if let scheduled = timerAt, scheduled <= at { return }  // fires in time, then looks again
            schedule(at)
        }
    }

    /// The loop's clock (a test's EmbeddedEventLoop has its own).
    private var now: NIODeadline { (front ?? requests)?.eventLoop.now ?? .now() }

    private func schedule(_ at: NIODeadline) {
        timer?.cancel()
        guard let loop = (front ?? requests)?.eventLoop else { return }
        timerAt = at
        timer = loop.assumeIsolated().scheduleTask(deadline: at) { [self] in check() }
    }

    private func check() {
        timer = nil
        timerAt = nil
        guard let (at, kind) = deadline else { return }
        if now < at { return schedule(at) }
        deadline = nil
        fire(kind, seconds: seconds(kind))
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
        guard let context = front ?? requests else { return }
        stats.recordTimeout(kind)
        let channel = context.channel
        guard let front, machine.answersTimeoutWith408, channel.isWritable else {
            context.close(promise: nil)
            return
        }
        let what = kind == .head ? "request head" : "request body"
        let text = "The \(what) did not arrive within \(Int(saturating: seconds.rounded())) s; the connection is closed.\n"
        var out = channel.allocator.buffer(capacity: 160)
        out.writeString("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")
        front.writeAndFlush(NIOAny(out)).whenComplete { _ in channel.close(promise: nil) }
        // The 408 may sit behind output the client never reads: close regardless, soon.
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    fileprivate func stop() {
        timer?.cancel()
        timer = nil
        timerAt = nil
        deadline = nil
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

    func handlerAdded(context: ChannelHandlerContext) {
        timeouts.requests = context
        // An HTTP/2 stream has no byte observer: its timers start here.
        if timeouts.front == nil { timeouts.event { $0.connectionStarted() } }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeouts.requests = nil
        if timeouts.front == nil { timeouts.stop() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if timeouts.front == nil { timeouts.stop() }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: timeouts.event { $0.headRead() }
        case .body: timeouts.event { $0.bodyRead() }
        case .end: timeouts.event { $0.requestEnded() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data) {
            let writable = context.channel.isWritable
            timeouts.event { $0.responseEnded(writable: writable) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        timeouts.event { $0.writabilityChanged(writable: writable) }
        context.fireChannelWritabilityChanged()
    }
}

/// Closes a connection when a first step has not finished in time: a TLS handshake (ended by
/// the user event `isCompletion` recognises), or, with `endsOnFirstRead`, the first bytes (an
/// HTTP/2 client that never sends its preface gets the head timeout, not the idle one).
public final class HandshakeTimeoutHandler: ChannelInboundHandler {
    public typealias InboundIn = NIOAny
    private let seconds: Double
    private let stats: ListenerStats
    private let kind: ListenerStats.Timeout
    private let endsOnFirstRead: Bool
    private let isCompletion: (Any) -> Bool
    private var timer: Scheduled<Void>?

    public init(
        seconds: Double, stats: ListenerStats, counted kind: ListenerStats.Timeout = .handshake, endsOnFirstRead: Bool = false,
        isCompletion: @escaping (Any) -> Bool = { _ in false }
    ) {
        self.seconds = seconds
        self.stats = stats
        self.kind = kind
        self.endsOnFirstRead = endsOnFirstRead
        self.isCompletion = isCompletion
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        timer = context.eventLoop.scheduleTask(in: .seconds(clamping: seconds)) { [stats, kind, channel = context.channel] in
            stats.recordTimeout(kind)
            channel.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if endsOnFirstRead { done() }
        context.fireChannelRead(data)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if isCompletion(event) { done() }
    }

    private func done() {
        timer?.cancel()
        timer = nil
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
