import NIOCore
import NIOHTTP1

/// Answers a request the HTTP/1.1 parser rejects with the status RFC 9110 gives for what is wrong,
/// and a line of text that says it, then lets the connection close (every parser error is fatal
/// to a connection: its framing is lost). It replaces NIO's `HTTPServerProtocolErrorHandler`,
/// which answers every parser error with a bare 400:
/// - a method token the parser does not know: 501 (§9.1: "unrecognized or not implemented");
/// - a head larger than the parser's limit: 431 (RFC 6585 §5);
/// - an HTTP version other than 1.x: 505 (§15.6.6);
/// - anything else: 400.
///
/// Like NIO's handler, it answers only when no response is under way on the connection; unlike
/// it, it closes the connection (NIO's leaves that to the application).
public final class ProtocolErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private var responseUnderway = false

    public init() {}

    /// The status and text for a parser error.
    public static func answer(for error: HTTPParserError) -> (HTTPResponseStatus, String) {
        switch error {
        case .invalidMethod:
            return (.notImplemented, "The request method is not one this server implements (methods are case-sensitive tokens such as GET).\n")
        case .headerOverflow:
            return (.requestHeaderFieldsTooLarge, "The request's header section is larger than this server accepts.\n")
        case .invalidVersion:
            return (.httpVersionNotSupported, "Only HTTP/1.0 and HTTP/1.1 are served on this connection (HTTP/2 over TLS with ALPN).\n")
        default:
            return (.badRequest, "The request is not valid HTTP/1.1 (\(error)).\n")
        }
    }

    /// The parser takes `HTTP/2.0` (and `HTTP/0.9`) in a request line; neither is HTTP/1.x
    /// framing, so such a request gets the 505 too, and the rest of it is not read.
    private var refusingVersion = false

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refusingVersion { return }
        if case .head(let head) = unwrapInboundIn(data), head.version.major != 1 {
            refusingVersion = true
            answer(context, Self.answer(for: .invalidVersion))
            return
        }
        context.fireChannelRead(data)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // Synchronously, while the decoder stops reading. The connection is closed once the
        // answer is out (or at once when a response is under way): its framing is lost.
        // A connection being closed (its request refused, the peer gone mid-request) gets no
        // answer: the parser's complaint is only that it was cut off.
        guard context.channel.isActive else {
            context.fireErrorCaught(error)
            return
        }
        guard !responseUnderway else {
            context.close(promise: nil)
            context.fireErrorCaught(error)
            return
        }
        answer(context, Self.answer(for: parserError))
        context.fireErrorCaught(error)
    }

    /// Writes the answer, then closes the connection.
    private func answer(_ context: ChannelHandlerContext, _ answer: (HTTPResponseStatus, String)) {
        let (status, text) = answer
        HTTPResponseWriter.answerAndClose(context, version: .http1_1, status: status, type: "text/plain; charset=utf-8", ByteBuffer(string: text))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code < 200 && head.status.code >= 100: break
        case .head: responseUnderway = true
        case .body: break
        case .end: responseUnderway = false
        }
        context.write(data, promise: promise)
    }
}
