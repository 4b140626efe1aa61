import HTTPServer
import NIOCore
import NIOPosix
import NIOSSL

/// One health check: a fresh TCP connection, `GET <path>`, and the status line back within a
/// deadline. A refused connection fails at once (an HTTP client with a pool would retry it
/// until its deadline, which slows failover down).
enum HealthProbe {
    struct Failure: Error {
        var reason: String
    }

    static let healthTLS = try? NIOSSLContext(configuration: ControlTLS.healthCheckConfiguration)

    static func check(host: String, port: Int, path: String, tls: Bool = false, timeout: Double, group: any EventLoopGroup) async -> Result<Void, Failure> {
        let loop = group.next()
        let promise = loop.makePromise(of: Int.self)
        let deadline = loop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            promise.fail(Failure(reason: "no answer within \(Int(timeout * 1000)) ms"))
        }
        defer { deadline.cancel() }
        do {
            let channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        if tls {
                            guard let context = healthTLS else { throw Failure(reason: "TLS is unavailable in this process") }
                            try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                        }
                        try ch.pipeline.syncOperations.addHandler(StatusLineReader(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
            var request = channel.allocator.buffer(capacity: 128)
            request.writeString("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nUser-Agent: outpost-director\r\n\r\n")
            channel.writeAndFlush(request, promise: nil)
            defer { channel.close(promise: nil) }
            let status = try await promise.futureResult.get()
            return status < 500 ? .success(()) : .failure(Failure(reason: status == 503 ? "draining or unavailable (HTTP 503)" : "HTTP \(status)"))
        } catch let f as Failure {
            return .failure(f)
        } catch {
            promise.fail(error)
            let text = "\(error)"
            return .failure(Failure(reason: text.contains("refused") ? "connection refused" : text))
        }
    }

    /// Whether a TCP connection to the address is accepted within the deadline (then closed).
    static func connects(host: String, port: Int, timeout: Double, group: any EventLoopGroup) async -> Result<Void, Failure> {
        do {
            let channel = try await ClientBootstrap(group: group.next())
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .connect(host: host, port: port).get()
            channel.close(promise: nil)
            return .success(())
        } catch {
            let text = "\(error)"
            return .failure(Failure(reason: text.contains("refused") ? "connection refused" : text))
        }
    }

    /// Reads until the status line is complete, then reports its code.
    final class StatusLineReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<Int>
        var seen = ByteBuffer()

        init(promise: EventLoopPromise<Int>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            seen.writeBuffer(&chunk)
            guard let line = seen.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                if seen.readableBytes > 1024 { promise.fail(Failure(reason: "no HTTP status line")) }
                return
            }
            let text = String(decoding: seen.readableBytesView[..<line], as: UTF8.self)
            let parts = text.split(separator: " ")
            if parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) {
                promise.succeed(code)
            } else {
                promise.fail(Failure(reason: "not an HTTP answer: \(text.prefix(60))"))
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(reason: "connection closed before an answer"))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
