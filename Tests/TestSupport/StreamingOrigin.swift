import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An origin that sends large bodies as a real server does: only as fast as its socket takes
/// them (it writes while the channel is writable), optionally at a set rate, and counts the
/// body bytes the kernel really accepted. So a test sees whether the edge in front of it paces
/// or cancels its reads.
public final class StreamingOrigin: Sendable {
    public struct Object: Sendable {
        public var size: Int
        public var headers: [(String, String)]
        /// Bytes per second; 0 for as fast as the socket takes them.
        public var rate: Int
        /// Stops after this many body bytes until `release()`.
        public var holdAfter: Int?
        public init(size: Int, headers: [(String, String)] = [], rate: Int = 0, holdAfter: Int? = nil) {
            self.size = size
            self.headers = headers
            self.rate = rate
            self.holdAfter = holdAfter
        }
    }

    private let objects = Mutex<[String: Object]>([:])
    private let sentBytes = Atomic<Int>(0)
    private let requestLog = Mutex<[String]>([])
    private let closedEarly = Atomic<Int>(0)
    private let channel = Mutex<(any Channel)?>(nil)
    private let released = Atomic<Bool>(false)

    public init() {}

    /// Lets held bodies go on.
    public func release() { released.store(true, ordering: .sequentiallyConsistent) }
    fileprivate var isReleased: Bool { released.load(ordering: .sequentiallyConsistent) }

    public func serve(_ path: String, _ object: Object) { objects.withLock { $0[path] = object } }

    /// Body bytes written to the socket so far, over every request.
    public var bodyBytesSent: Int { sentBytes.load(ordering: .relaxed) }
    /// "METHOD path" of every request.
    public var requests: [String] { requestLog.withLock { $0 } }
    /// Connections closed by the peer before their body was complete.
    public var abandoned: Int { closedEarly.load(ordering: .relaxed) }

    public var url: String { "http://127.0.0.1:\(channel.withLock { $0?.localAddress?.port ?? 0 })" }

    public func start() async throws {
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(StreamingHandler(origin: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = ch }
    }

    public func stop() async {
        try? await channel.withLock { $0 }?.close()
    }

    fileprivate func object(_ method: String, _ uri: String) -> Object? {
        requestLog.withLock { $0.append("\(method) \(uri)") }
        return objects.withLock { $0[uri] }
    }
    fileprivate func sent(_ n: Int) { sentBytes.add(n, ordering: .relaxed) }
    fileprivate func abandonedOne() { closedEarly.add(1, ordering: .relaxed) }
}

private final class StreamingHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10)

    let origin: StreamingOrigin
    var object: StreamingOrigin.Object?
    var remaining = 0
    var isHead = false
    var context: ChannelHandlerContext?
    var writing = false
    /// When the rate allows the next chunk.
    var nextAllowed = NIODeadline.now()

    init(origin: StreamingOrigin) { self.origin = origin }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        guard let object = origin.object("\(head.method)", head.uri) else {
            var h = HTTPHeaders()
            h.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notFound, headers: h))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        var headers = HTTPHeaders(object.headers)
        headers.add(name: "Content-Length", value: String(object.size))
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        self.object = object
        isHead = head.method == .HEAD
        remaining = isHead ? 0 : object.size
        pump()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if remaining > 0 { origin.abandonedOne() }
        remaining = 0
        self.context = nil
        context.fireChannelInactive()
    }

    private func pump() {
        guard let context, object != nil else { return }
        while remaining > 0, context.channel.isWritable {
            if let hold = object?.holdAfter, let size = object?.size, size - remaining >= hold, !origin.isReleased {
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(10)) { bound.value.pump() }
                return
            }
            let rate = object?.rate ?? 0
            if rate > 0 {
                let now = NIODeadline.now()
                if now < nextAllowed {
                    let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(deadline: nextAllowed) { bound.value.pump() }
                    return
                }
            }
            let n = min(remaining, rate > 0 ? min(Self.chunk.readableBytes, max(1024, rate / 20)) : Self.chunk.readableBytes)
            remaining -= n
            if rate > 0 { nextAllowed = NIODeadline.now() + .nanoseconds(Int64(Double(n) / Double(rate) * 1e9)) }
            let promise = context.eventLoop.makePromise(of: Void.self)
            let origin = self.origin
            promise.futureResult.whenSuccess { origin.sent(n) }
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(Self.chunk.getSlice(at: 0, length: n)!))), promise: promise)
        }
        if remaining == 0, object != nil {
            object = nil
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
