import HTTPCaching
import HTTPServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The listeners' response encoder on an `EmbeddedChannel` behind NIO's real request decoder and
/// pipelining handler: framing as NIO's encoder frames, header checks as NIO's validator checks,
/// and pre-encoded responses sent byte for byte.
@Suite struct HTTP1ResponseEncoderTests {
    /// Answers each request with what `respond` writes.
    final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let respond: (HTTPRequestHead) -> [HTTPServerResponsePart]
        private var head: HTTPRequestHead?
        init(_ respond: @escaping (HTTPRequestHead) -> [HTTPServerResponsePart]) { self.respond = respond }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let head else { return }
                for part in respond(head) { context.write(wrapOutboundOut(part), promise: nil) }
                context.flush()
            }
        }
    }

    func run(_ requests: String, _ respond: @escaping (HTTPRequestHead) -> [HTTPServerResponsePart]) throws -> (out: String, open: Bool) {
        let channel = EmbeddedChannel()
        try HTTPListener.configureHTTP1(channel.pipeline.syncOperations, limits: TimeoutHandlerTests.limits, stats: ListenerStats(),
                                        handler: Responder(respond))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try? channel.writeInbound(ByteBuffer(string: requests))
        channel.embeddedEventLoop.run()
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        return (out, channel.isActive)
    }

    static func whole(_ headers: HTTPHeaders, _ body: String, status: HTTPResponseStatus = .ok, version: HTTPVersion = .http1_1) -> [HTTPServerResponsePart] {
        [.head(HTTPResponseHead(version: version, status: status, headers: headers)), .body(.byteBuffer(ByteBuffer(string: body))), .end(nil)]
    }

    @Test func aLengthIsSentAsItIs() throws {
        let r = try run("GET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in Self.whole(["Content-Length": "2"], "ok") }
        #expect(r.out == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(r.open)
    }

    @Test func noLengthIsChunkedOnHTTP11() throws {
        let r = try run("GET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in Self.whole(["X": "y"], "hello") }
        #expect(r.out == "HTTP/1.1 200 OK\r\nX: y\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    }

    @Test func noLengthOnHTTP10EndsByClosing() throws {
        let r = try run("GET / HTTP/1.0\r\nHost: x\r\n\r\n") { h in Self.whole(["X": "y"], "hello", version: h.version) }
        #expect(r.out == "HTTP/1.0 200 OK\r\nX: y\r\n\r\nhello")
        #expect(!r.open, "the close is what ends the body")
    }

    @Test func aHeadResponseNeverCarriesABody() throws {
        // Pipelined: HEAD then GET; the encoder pairs each response with its request.
        let r = try run("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in Self.whole(["Content-Length": "5"], "hello") }
        #expect(r.out == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test(arguments: [HTTPResponseStatus.noContent, .notModified])
    func aStatusWithoutABodyLosesItsFraming(status: HTTPResponseStatus) throws {
        let r = try run("GET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in Self.whole(["Content-Length": "5", "ETag": "\"a\""], "hello", status: status) }
        #expect(r.out == "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nETag: \"a\"\r\n\r\n")
    }

    /// What NIO's validator refuses: a response with a field that could split the head.
    @Test(arguments: [("X-Evil", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("X", "nul\u{0}"), ("X", "vt\u{0B}ff\u{0C}"), ("X", "del\u{7F}")])
    func aFieldThatCouldSplitTheHeadIsNeverSent(name: String, value: String) throws {
        let r = try run("GET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in Self.whole([name: value, "Content-Length": "2"], "ok") }
        #expect(r.out.isEmpty, "sent: \(r.out.debugDescription)")
        #expect(!r.open)
    }

    @Test func aPreEncodedResponseIsSentByteForByte() throws {
        let head = try #require(HTTPWire.head(status: .ok, headers: ["Content-Type": "text/plain", "Content-Length": "5"]))
        var tail = ByteBuffer()
        HTTPWire.writeField("Age", "3", to: &tail)
        tail.writeString("\r\n")
        let (bytes, rest) = HTTPWire.parts(head: head, tail: tail, body: ByteBuffer(string: "hello"))
        #expect(rest == nil, "a small body is copied into the one buffer")
        let wire = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nAge: 3\r\n\r\nhello"
        // Twice, pipelined: the pipelining handler counts pre-encoded responses like others.
        let r = try run("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") { _ in
            [HTTP1ResponseEncoder.preEncodedHead, .body(.byteBuffer(bytes)), .end(nil)]
        }
        #expect(r.out == wire + wire)
        #expect(r.open)
    }

    @Test func aLargeBodyLeavesFromStorageAfterTheHead() throws {
        let head = try #require(HTTPWire.head(status: .ok, headers: ["Content-Length": "10000"]))
        let body = ByteBuffer(repeating: UInt8(ascii: "a"), count: 10_000)
        let (first, rest) = HTTPWire.parts(head: head, tail: ByteBuffer(string: "\r\n"), body: body)
        #expect(rest == body)
        #expect(String(buffer: first) == "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
    }

    @Test func aHeadThatCannotBeSentHasNoWireForm() {
        #expect(HTTPWire.head(status: .ok, headers: ["X": "a\nb"]) == nil)
        #expect(HTTPWire.head(status: .custom(code: 200, reasonPhrase: "OK\r\nX: y"), headers: [:]) == nil)
    }

    /// A body that ends with the close (HTTP/1.0, no length) is the last thing the connection
    /// carries: a pipelined request's answer is not sent inside it.
    @Test func nothingFollowsABodyThatEndsWithTheClose() throws {
        let r = try run("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n") { h in
            h.uri == "/a" ? Self.whole(["X": "y"], "first", version: h.version) : Self.whole(["Content-Length": "6"], "second")
        }
        #expect(r.out == "HTTP/1.0 200 OK\r\nX: y\r\n\r\nfirst", "\(r.out.debugDescription)")
        #expect(!r.open)
    }
}
