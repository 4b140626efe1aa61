import HTTPServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Topology

/// What the listener's HTTP/1 pipeline answers to bytes its parser rejects, on an `EmbeddedChannel`.
@Suite struct ProtocolErrorAnswerTests {
    func answer(to bytes: String) throws -> (status: String, text: String, open: Bool) {
        let channel = EmbeddedChannel()
        try HTTPListener.configureHTTP1(channel.pipeline.syncOperations, limits: TimeoutHandlerTests.limits, stats: ListenerStats(), handler: TimeoutHandlerTests.Answer())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(throws: HTTPParserError.self) { try channel.writeInbound(ByteBuffer(string: bytes)) }
        channel.embeddedEventLoop.run()
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        let statusLine = out.split(separator: "\r\n").first.map(String.init) ?? ""
        let text = out.components(separatedBy: "\r\n\r\n").dropFirst().joined()
        return (statusLine, text, channel.isActive)
    }

    @Test(arguments: [
        ("FOO / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501 Not Implemented", "method"),
        ("get / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 501 Not Implemented", "method"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "a", count: 90_000))\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large", "header section"),
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 400 Bad Request", "not valid HTTP/1.1"),
        ("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "not valid HTTP/1.1"),
    ])
    func parserErrorsGetTheRFCsStatusAndSayWhy(bytes: String, status: String, says: String) throws {
        let a = try answer(to: bytes)
        #expect(a.status == status)
        #expect(a.text.contains(says), "\(a.text)")
        #expect(!a.open, "a parser error closes the connection: its framing is lost")
    }

    /// The parser takes a request line saying HTTP/2.0 (or HTTP/0.9); it is answered 505 and
    /// never reaches the application.
    @Test(arguments: ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", "GET / HTTP/0.9\r\nHost: x\r\n\r\n"])
    func anotherVersionIsAnswered505(bytes: String) throws {
        let channel = EmbeddedChannel()
        let app = TimeoutHandlerTests.Answer()
        try HTTPListener.configureHTTP1(channel.pipeline.syncOperations, limits: TimeoutHandlerTests.limits, stats: ListenerStats(), handler: app)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try? channel.writeInbound(ByteBuffer(string: bytes))
        channel.embeddedEventLoop.run()
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        #expect(out.hasPrefix("HTTP/1.1 505 HTTP Version Not Supported\r\n"), "\(out.prefix(80))")
        #expect(out.contains("Only HTTP/1.0 and HTTP/1.1"))
        #expect(!channel.isActive)
    }
}
