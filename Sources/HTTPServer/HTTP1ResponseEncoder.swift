import HTTPCaching
import NIOCore
import NIOHTTP1

/// The HTTP/1 response side of every Outpost listener: `HTTPServerResponsePart`s to bytes, framed
/// as NIO's `HTTPResponseEncoder` frames them, with the header check of NIO's
/// `NIOHTTPResponseHeadersValidator`, in one handler. It replaces both so that a response can
/// also leave **pre-encoded**: a cache hit writes its status line, headers and body as bytes
/// built once per stored object (see `HTTPWire`), with no `HTTPHeaders` to build,
/// check and serialise on every hit.
///
/// The contract, per response, in the order the pipelining handler lets them through:
/// - `.head`, then `.body` parts, then `.end`: encoded here. Without `Content-Length` the body
///   is chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0); a status without
///   a body (1xx, 204, 304) loses both framing headers; a response to HEAD or CONNECT never
///   carries body bytes, whatever is written.
/// - `preEncodedHead`, then `.body` parts, then `.end`: the `.body` parts are the response's
///   bytes exactly as they go on the wire (`HTTPWire.parts`) and are sent as they are. The
///   marker is a head like any other to the handlers between (the pipelining handler counts
///   responses by their heads and ends); only this encoder reads it.
///
/// It sits right after the request decoder and sees each request head go by, to know which
/// responses answer HEAD.
public final class HTTP1ResponseEncoder: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = IOData

    private enum Framing {
        /// Between responses.
        case idle
        case contentLength
        case chunked
        /// Ends when the connection closes (HTTP/1.0 without a length).
        case untilClose
        /// No body may follow (HEAD, CONNECT, 204, 304).
        case none
        /// The response's bytes are written as they are.
        case preEncoded
        /// A head failed the check: the rest of this response is refused and the connection
        /// closes.
        case refused
        /// A body delimited by the close has ended: nothing more may be sent on this
        /// connection (it would read as part of that body).
        case closing
    }

    private var framing = Framing.idle
    /// Methods of the requests not yet answered, oldest first (a client may pipeline).
    private var methods: [HTTPMethod] = []
    private var methodsStart = 0

    public init() {}

    /// Says that the response's bytes follow as `.body` parts: a head no response has (HTTP/0.0),
    /// built once.
    public static let preEncodedHead = HTTPServerResponsePart.head(HTTPResponseHead(version: HTTPVersion(major: 0, minor: 0), status: .ok))

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            if methodsStart > 64, methodsStart * 2 > methods.count {
                methods.removeFirst(methodsStart)
                methodsStart = 0
            }
            methods.append(head.method)
        }
        context.fireChannelRead(data)
    }

    private func nextMethod() -> HTTPMethod? {
        guard methodsStart < methods.count else { return nil }
        defer { methodsStart += 1 }
        return methods[methodsStart]
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            writeHead(context, head, promise: promise)
        case .body(let body):
            switch framing {
            case .idle, .contentLength, .untilClose, .preEncoded:
                // (A body with no head before it breaks the contract: sent as it is, as NIO's
                // encoder would.)
                context.write(wrapOutboundOut(body), promise: promise)
            case .chunked:
                writeChunk(context, body, promise: promise)
            case .none:
                // Keeps the promise in order with the writes around it.
                context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
            case .refused, .closing:
                promise?.fail(InvalidResponseHead())
            }
        case .end(let trailers):
            let was = framing
            framing = was == .untilClose || was == .closing ? .closing : .idle
            switch was {
            case .chunked:
                var buffer = context.channel.allocator.buffer(capacity: 16)
                buffer.writeStaticString("0\r\n")
                if let trailers, trailers.isValidToSend { HTTPWire.write(trailers, to: &buffer) }
                buffer.writeStaticString("\r\n")
                context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            case .untilClose:
                let channel = context.channel
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                written.futureResult.cascade(to: promise)
                context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: written)
            case .refused, .closing:
                promise?.fail(InvalidResponseHead())
                context.close(promise: nil)
            case .idle, .contentLength, .none, .preEncoded:
                if let promise {
                    context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
                }
            }
        }
    }

    private func writeHead(_ context: ChannelHandlerContext, _ head: HTTPResponseHead, promise: EventLoopPromise<Void>?) {
        if framing == .closing {
            promise?.fail(InvalidResponseHead())
            return
        }
        if head.version.major == 0 {
            // `preEncodedHead`: the bytes follow.
            _ = nextMethod()
            framing = .preEncoded
            promise?.succeed()
            return
        }
        let code = head.status.code
        let informational = code >= 100 && code < 200 && code != 101
        let method = informational ? nil : nextMethod()
        guard head.headers.isValidToSend, head.status.isValidToSend else {
            // As NIO's validator: the response is refused and the error raised; the connection
            // closes at the response's end (nothing of it was sent).
            if !informational { framing = .refused }
            promise?.fail(InvalidResponseHead())
            context.fireErrorCaught(InvalidResponseHead())
            return
        }
        var headers = head.headers
        var next: Framing
        if !head.status.mayHaveResponseBody || method == .CONNECT {
            headers.remove(name: "content-length")
            headers.remove(name: "transfer-encoding")
            next = .none
        } else if headers.contains(name: "content-length") {
            headers.remove(name: "transfer-encoding")
            next = .contentLength
        } else if head.version.major == 1, head.version.minor >= 1 {
            headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            next = .chunked
        } else {
            next = .untilClose
        }
        if method == .HEAD { next = .none }
        if !informational { framing = next }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        HTTPWire.writeStatusLine(&buffer, version: head.version, status: head.status)
        HTTPWire.write(headers, to: &buffer)
        buffer.writeStaticString("\r\n")
        context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
    }

    /// A response head with a field name that is not a token, or a value or reason phrase with
    /// CR, LF or NUL: sending it could split the response.
    public struct InvalidResponseHead: Error, CustomStringConvertible {
        public var description: String { "a response head had a field that could split it (CR, LF or NUL, or a name that is not a token); it was not sent and the connection was closed" }
    }

    private func writeChunk(_ context: ChannelHandlerContext, _ body: IOData, promise: EventLoopPromise<Void>?) {
        let n = body.readableBytes
        guard n > 0 else {
            // An empty chunk would end the body: only the promise goes on.
            context.write(wrapOutboundOut(body), promise: promise)
            return
        }
        var size = context.channel.allocator.buffer(capacity: 12)
        size.writeString(String(n, radix: 16))
        size.writeStaticString("\r\n")
        context.write(wrapOutboundOut(.byteBuffer(size)), promise: nil)
        context.write(wrapOutboundOut(body), promise: nil)
        context.write(wrapOutboundOut(.byteBuffer(ByteBuffer(staticString: "\r\n"))), promise: promise)
    }
}

