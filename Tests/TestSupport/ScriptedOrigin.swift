import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on loopback whose answers each test writes: status, headers, body in
/// chunks with pauses or gates, or a connection that dies mid-body. It records every request it
/// receives, so tests can count what reached the origin.
public final class ScriptedOrigin: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(String, String)]
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public struct Chunk: Sendable {
        public var bytes: [UInt8]
        /// Seconds to wait before sending it.
        public var delay: Double = 0
        /// Sent only once this gate is open.
        public var gate: Gate?
        public init(_ bytes: [UInt8], delay: Double = 0, gate: Gate? = nil) {
            self.bytes = bytes
            self.delay = delay
            self.gate = gate
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var chunks: [Chunk]
        /// Seconds before the head is sent.
        public var delay: Double = 0
        /// Close the connection after the chunks instead of ending the response.
        public var dieAfterChunks = false
        /// Send Content-Length (of all chunks, or `declaredLength`); else chunked.
        public var declaredLength: Int?
        public var sendContentLength = true

        public init(status: Int = 200, headers: [(String, String)] = [], body: String = "", delay: Double = 0) {
            self.status = status
            self.headers = headers
            self.chunks = body.isEmpty ? [] : [Chunk(Array(body.utf8))]
            self.delay = delay
        }

        public init(status: Int = 200, headers: [(String, String)] = [], chunks: [Chunk], delay: Double = 0) {
            self.status = status
            self.headers = headers
            self.chunks = chunks
            self.delay = delay
        }
    }

    public final class Gate: Sendable {
        private let open = Atomic<Bool>(false)
        public init() {}
        public func release() { open.store(true, ordering: .sequentiallyConsistent) }
        public var isOpen: Bool { open.load(ordering: .sequentiallyConsistent) }
    }

    public typealias Route = @Sendable (Request) -> Response

    private let routes = Mutex<[String: Route]>([:])
    private let log = Mutex<[Request]>([])
    private let channel = Mutex<(any Channel)?>(nil)
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    public init() {}

    /// Answers requests whose path (without query) is `path`.
    public func route(_ path: String, _ respond: @escaping Route) {
        routes.withLock { $0[path] = respond }
    }

    public func start() async throws -> Int {
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                self.connections.withLock { $0[ObjectIdentifier(channel)] = channel }
                channel.closeFuture.whenComplete { [self] _ in _ = self.connections.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(origin: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = ch }
        return ch.localAddress!.port!
    }

    public var url: String { "http://127.0.0.1:\(channel.withLock { $0?.localAddress?.port ?? 0 })" }

    /// Stops listening and closes every open connection, as a dead origin would.
    public func stop() async {
        let ch = channel.withLock { $0 }
        try? await ch?.close()
        for c in connections.withLock({ Array($0.values) }) { try? await c.close() }
    }

    public var requests: [Request] { log.withLock { $0 } }
    public func requests(_ path: String) -> [Request] { requests.filter { $0.uri.split(separator: "?")[0] == path } }
    public func count(_ path: String) -> Int { requests(path).count }

    func record(_ r: Request) -> Route? {
        log.withLock { $0.append(r) }
        let path = String(r.uri.split(separator: "?", omittingEmptySubsequences: false)[0])
        return routes.withLock { $0[path] }
    }
}

final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let origin: ScriptedOrigin
    var head: HTTPRequestHead?

    init(origin: ScriptedOrigin) { self.origin = origin }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            let req = ScriptedOrigin.Request(method: "\(h.method)", uri: h.uri, headers: h.headers.map { ($0.name, $0.value) })
            let response = origin.record(req)?(req) ?? ScriptedOrigin.Response(status: 404, body: "no route for \(h.uri)\n")
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(response.delay * 1000))) {
                let (handler, context) = bound.value
                handler.send(response, context: context, isHead: h.method == .HEAD)
            }
        }
    }

    private func send(_ r: ScriptedOrigin.Response, context: ChannelHandlerContext, isHead: Bool) {
        var headers = HTTPHeaders(r.headers)
        let total = r.chunks.reduce(0) { $0 + $1.bytes.count }
        if r.sendContentLength, !headers.contains(name: "content-length") {
            headers.add(name: "Content-Length", value: String(r.declaredLength ?? total))
        }
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: r.status), headers: headers))), promise: nil)
        sendChunks(ArraySlice(isHead ? [] : r.chunks), r, context: context)
    }

    private func sendChunks(_ rest: ArraySlice<ScriptedOrigin.Chunk>, _ r: ScriptedOrigin.Response, context: ChannelHandlerContext) {
        guard let chunk = rest.first else {
            if r.dieAfterChunks {
                context.close(promise: nil)
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if let gate = chunk.gate, !gate.isOpen {
            context.eventLoop.scheduleTask(in: .milliseconds(10)) {
                let (h, c) = bound.value
                h.sendChunks(rest, r, context: c)
            }
            return
        }
        context.eventLoop.scheduleTask(in: .milliseconds(Int64(chunk.delay * 1000))) {
            let (h, c) = bound.value
            c.writeAndFlush(h.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: chunk.bytes)))), promise: nil)
            h.sendChunks(rest.dropFirst(), r, context: c)
        }
    }
}
