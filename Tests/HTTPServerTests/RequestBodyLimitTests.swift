import HTTPServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Topology

/// The listeners' request-body limit and 100-continue, on an `EmbeddedChannel` behind NIO's real
/// decoder and pipelining handler.
@Suite struct RequestBodyLimitTests {
    /// Records what reaches the application; answers 200 at `.end`, or 401 at the head when
    /// `refuseAtHead`.
    final class App: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var seen: [String] = []
        var bodyBytes = 0
        let refuseAtHead: Bool
        init(refuseAtHead: Bool = false) { self.refuseAtHead = refuseAtHead }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                seen.append("head")
                if refuseAtHead {
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .unauthorized, headers: ["Content-Length": "0", "Connection": "close"]))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            case .body(let b):
                bodyBytes += b.readableBytes
            case .end:
                seen.append("end")
                guard !refuseAtHead else { return }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"]))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    func run(_ bytes: [String], limit: Int = 10, json: Bool = false, app: App = App()) throws -> (out: String, open: Bool, app: App) {
        var limits = TimeoutHandlerTests.limits
        limits.maxRequestBodySize = limit
        limits.maxRequestBodySizeSetting = "max_test_size"
        limits.answersJSON = json
        let channel = EmbeddedChannel()
        try HTTPListener.configureHTTP1(channel.pipeline.syncOperations, limits: limits, stats: ListenerStats(), handler: app)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var out = ""
        for piece in bytes {
            _ = try? channel.writeInbound(ByteBuffer(string: piece))
            channel.embeddedEventLoop.run()
            while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        }
        return (out, channel.isActive, app)
    }

    @Test func aDeclaredLengthOverTheLimitIsRefusedBeforeItsBody() throws {
        let r = try run(["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"])
        #expect(r.out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(r.out)")
        #expect(!r.out.contains("100 Continue"), "the body is never invited")
        #expect(r.out.contains("(11 bytes) is larger than this server's max_test_size (10 bytes)"))
        #expect(r.app.seen.isEmpty)
        #expect(!r.open)
    }

    @Test func aBodyThatGrowsPastTheLimitIsRefusedAsItDoes() throws {
        let r = try run(["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "8\r\n12345678\r\n", "8\r\n12345678\r\n", "0\r\n\r\n"])
        #expect(r.out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(r.out)")
        #expect(r.out.contains("max_test_size (10 bytes)"))
        #expect(r.app.seen == ["head"], "the application never sees the end of a refused request")
        #expect(r.app.bodyBytes == 8)
        #expect(!r.open)
    }

    @Test func aBodyWithinTheLimitIsInvitedAndServed() throws {
        let r = try run(["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", "0123456789"])
        #expect(r.out == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(r.app.seen == ["head", "end"] && r.app.bodyBytes == 10)
        #expect(r.open)
    }

    @Test func aRequestRefusedAtItsHeadIsNotInvited() throws {
        let r = try run(["PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"], app: App(refuseAtHead: true))
        #expect(r.out.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(r.out)")
        #expect(!r.out.contains("100 Continue"))
    }

    @Test func aJSONListenerSaysItInJSON() throws {
        let r = try run(["PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n"], json: true)
        #expect(r.out.contains("Content-Type: application/json\r\n"))
        #expect(r.out.hasSuffix("{\"error\":\"The request body (99 bytes) is larger than this server's max_test_size (10 bytes).\"}\n"), "\(r.out)")
    }

    /// RFC 9110 §10.1.1: an HTTP/1.0 client's 100-continue is ignored.
    @Test func anHTTP10ClientIsNotSentContinue() throws {
        let r = try run(["POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "ab"])
        #expect(!r.out.contains("100 Continue"), "\(r.out)")
        #expect(r.app.seen == ["head", "end"])
    }
}
