import HTTPCaching
import NIOCore
import NIOHTTP1
import Topology

/// The request-body limit and `Expect: 100-continue` of every Outpost listener, in one place
/// (it sits right before the application's handler, on HTTP/1 connections and HTTP/2 streams):
/// - a request whose `Content-Length` is over the limit is answered 413 at once, before any of
///   its body is read, and the connection is closed;
/// - a body that grows past the limit (chunked, or longer than it said) is answered 413 as soon
///   as it does, the rest is not passed on, and the connection is closed;
/// - `Expect: 100-continue` gets its `100 Continue` once the application has seen the head and
///   not answered it at once (a refusal sent straight away never invites the body).
///
/// The application never sees a request refused for its declared length; of one refused
/// mid-body it sees the head and the parts before, but never its `.end`: a handler that acts
/// at `.end` never acts on it.
public final class RequestBodyLimit: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private let limit: Int
    /// The setting that sets the limit, named in the 413's text.
    private let setting: String
    private var received = 0
    /// The head of the request being read.
    private var current: HTTPRequestHead?
    private var refused = false
    /// A final response head was written for the current request.
    private var answered = false

    private let json: Bool

    public init(limit: Int, setting: String, json: Bool = false) {
        self.limit = max(0, limit)
        self.setting = setting
        self.json = json
    }

    public convenience init(_ limits: ListenerLimits) {
        self.init(limit: limits.maxRequestBodySize, setting: limits.maxRequestBodySizeSetting, json: limits.answersJSON)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            received = 0
            answered = false
            if refused { return }
            if let declared = head.headers.first(name: "content-length").flatMap({ Int($0.trimmingSpaces()) }), declared > limit {
                return refuse(context, head, "The request body (\(declared) bytes) is larger than this server's \(setting) (\(limit) bytes).\n")
            }
            current = head
            context.fireChannelRead(data)
            // RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored.
            if !answered, !refused, head.version.major > 1 || head.version.minor >= 1,
               head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(let chunk):
            if refused { return }
            received += chunk.readableBytes
            if received > limit, let head = current {
                return refuse(context, head, "The request body is larger than this server's \(setting) (\(limit) bytes).\n")
            }
            context.fireChannelRead(data)
        case .end:
            if refused { return }
            current = nil
            context.fireChannelRead(data)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let h) = unwrapOutboundIn(data), h.status.code >= 200 || h.status.code == 101 { answered = true }
        context.write(data, promise: promise)
    }

    /// 413 and close; nothing more of this connection reaches the application. A response the
    /// application has started is cut off by the close instead (its framing is the client's
    /// proof that it is short).
    private func refuse(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ text: String) {
        refused = true
        guard !answered else {
            context.close(promise: nil)
            return
        }
        answered = true
        // The text is ours (digits, letters, '_', '(', ')', '.', "'" and spaces): nothing to escape in JSON.
        let body = ByteBuffer(string: json ? "{\"error\":\"\(text.dropLast())\"}\n" : text)
        HTTPResponseWriter.answerAndClose(context, version: head.version, status: .payloadTooLarge,
                                          type: json ? "application/json" : "text/plain; charset=utf-8", body)
    }
}
