import HTTPServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Topology

/// The listener's HTTP/1 pipeline in an `EmbeddedChannel`, its clock advanced by hand.
@Suite struct TimeoutHandlerTests {
    /// Answers every request with a 200 once its end arrives.
    final class Answer: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"]))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    static let limits = ListenerLimits(headTimeout: 10, bodyTimeout: 5, idleTimeout: 60, sendTimeout: 30)

    func channel(_ stats: ListenerStats) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try HTTPListener.configureHTTP1(channel.pipeline.syncOperations, limits: Self.limits, stats: stats, handler: Answer())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func written(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        return out
    }

    @Test func aHalfSentHeadGets408AtTheHeadTimeout() throws {
        let stats = ListenerStats()
        let channel = try channel(stats)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive, "still within the head timeout")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try written(channel).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(!channel.isActive)
        #expect(stats.timedOut(.head) == 1)
    }

    @Test func aSilentNewConnectionIsClosedAtTheHeadTimeout() throws {
        let stats = ListenerStats()
        let channel = try channel(stats)
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(try written(channel).isEmpty, "nothing was asked: nothing to answer")
        #expect(!channel.isActive)
        #expect(stats.timedOut(.head) == 1)
    }

    @Test func keepAliveConnectionsIdleOutButNotWhileAnswered() throws {
        let stats = ListenerStats()
        let channel = try channel(stats)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try written(channel).hasPrefix("HTTP/1.1 200 OK"))
        // Idle: the head timeout no longer applies, the idle one does.
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "GET /again HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try written(channel).hasPrefix("HTTP/1.1 200 OK"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive, "the idle timer restarted with the second response")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(stats.timedOut(.idle) == 1 && stats.timedOut(.head) == 0)
    }

    @Test func aStalledBodyGets408AtTheBodyTimeoutButProgressKeepsItOpen() throws {
        let stats = ListenerStats()
        let channel = try channel(stats)
        try channel.writeInbound(ByteBuffer(string: "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"))
        for _ in 0..<4 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(4))
            try channel.writeInbound(ByteBuffer(string: "c"))
        }
        #expect(channel.isActive, "each byte within 5 s of the last")
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(try written(channel).hasPrefix("HTTP/1.1 408"))
        #expect(!channel.isActive)
        #expect(stats.timedOut(.body) == 1)
    }

    @Test func aStartedNextHeadHasTheHeadTimeoutNotTheIdleOne() throws {
        let stats = ListenerStats()
        let channel = try channel(stats)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        _ = try written(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try channel.writeInbound(ByteBuffer(string: "GET /slow"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(try written(channel).hasPrefix("HTTP/1.1 408"))
        #expect(!channel.isActive)
    }
}
