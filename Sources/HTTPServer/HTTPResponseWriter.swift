import Foundation
import NIOCore
import NIOHTTP1

/// Writing one whole response the way every Outpost listener does: head (with
/// `Connection: close` when the client asked for it), the body unless the request was HEAD, end,
/// then close if the connection is not kept alive.
public enum HTTPResponseWriter {
    public static func write(
        _ context: ChannelHandlerContext, request: HTTPRequestHead, status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?
    ) {
        var headers = headers
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if let body, body.readableBytes > 0, request.method != .HEAD {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        let written = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    /// A refusal that ends the connection: `status` with `body` (`Content-Type: type`,
    /// `Connection: close`, no-store), written from `context`, then the connection closed once
    /// it is out. For answers given before or instead of the application's (parser errors,
    /// bodies over the limit).
    public static func answerAndClose(
        _ context: ChannelHandlerContext, version: HTTPVersion, status: HTTPResponseStatus, type: String, _ body: ByteBuffer
    ) {
        let headers = HTTPHeaders([
            ("Content-Type", type), ("Content-Length", String(body.readableBytes)), ("Cache-Control", "no-store"), ("Connection", "close"),
        ])
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// A JSON body (sorted keys, unescaped slashes), `no-store`.
    public static func json<T: Encodable>(
        _ context: ChannelHandlerContext, request: HTTPRequestHead, status: HTTPResponseStatus, _ value: T, extra: HTTPHeaders = [:]
    ) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        data.append(UInt8(ascii: "\n"))
        text(context, request: request, status: status, type: "application/json", ByteBuffer(bytes: data), extra: extra)
    }

    /// A body of the given type, `no-store`, with its length.
    public static func text(
        _ context: ChannelHandlerContext, request: HTTPRequestHead, status: HTTPResponseStatus, type: String, _ body: ByteBuffer,
        extra: HTTPHeaders = [:]
    ) {
        var headers = extra
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        write(context, request: request, status: status, headers: headers, body: body)
    }
}
