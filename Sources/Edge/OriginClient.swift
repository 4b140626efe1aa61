import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One request to the origin, as the fetch builds it.
struct OriginRequest: Sendable {
    var url: String
    var method: HTTPMethod
    var headers: HTTPHeaders
    var body: ByteBuffer?
}

/// Why an origin request ended without a complete response.
enum OriginError: Error, Sendable, Equatable {
    /// The edge cancelled it (every reader went away).
    case cancelled
    /// No answer, or no more of the body, within `origin_timeout`.
    case timeout
    /// The request could not be built (a target the origin's URL cannot take).
    case invalidRequest(String)
    /// Refused, reset, cut off, malformed: the client library's words.
    case failed(String)
}

/// What the origin tells the fetch about its response, in order: a head, body parts, then the
/// end or an error. `body` returns when the next part may be read, which is how the fetch
/// paces the origin.
protocol OriginResponseHandler: Sendable {
    func originHead(_ head: HTTPResponseHead)
    func originBody(_ part: ByteBuffer, loop: any EventLoop) -> EventLoopFuture<Void>
    func originEnd()
    func originFailed(_ error: OriginError)
}

/// An origin request under way.
protocol OriginCall: Sendable {
    /// The loop its response is heard on.
    var eventLoop: any EventLoop { get }
    func cancel()
}

/// Access to the origin. `HTTPClientOrigin` (AsyncHTTPClient) on a real edge; tests script one.
protocol OriginClient: Sendable {
    func send(_ request: OriginRequest, to handler: any OriginResponseHandler) -> any OriginCall
    func shutdown() async
}

/// The origin through AsyncHTTPClient's connection pool.
struct HTTPClientOrigin: OriginClient {
    let client: HTTPClient

    func send(_ request: OriginRequest, to handler: any OriginResponseHandler) -> any OriginCall {
        do {
            let r = try HTTPClient.Request(url: request.url, method: Self.wire(request.method), headers: request.headers, body: request.body.map { .byteBuffer($0) })
            return client.execute(request: r, delegate: Delegate(handler: handler), eventLoop: .indifferent)
        } catch {
            handler.originFailed(.invalidRequest("\(error)"))
            return NoCall(eventLoop: client.eventLoopGroup.next())
        }
    }

    func shutdown() async { try? await client.shutdown() }

    /// The method as it goes on the wire. NIO's encoder writes `.MSEARCH` as "MSEARCH"; the
    /// method is M-SEARCH (origins answer "MSEARCH" with 400 or 501).
    static func wire(_ method: HTTPMethod) -> HTTPMethod {
        method == .MSEARCH ? .RAW(value: "M-SEARCH") : method
    }

    private struct NoCall: OriginCall {
        let eventLoop: any EventLoop
        func cancel() {}
    }

    private final class Delegate: HTTPClientResponseDelegate, Sendable {
        typealias Response = Void
        let handler: any OriginResponseHandler
        init(handler: any OriginResponseHandler) { self.handler = handler }

        func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
            handler.originHead(head)
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
            handler.originBody(buffer, loop: task.eventLoop)
        }

        func didFinishRequest(task: HTTPClient.Task<Void>) throws { handler.originEnd() }

        func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
            if let e = error as? HTTPClientError {
                if e == .cancelled { return handler.originFailed(.cancelled) }
                if e == .readTimeout || e == .deadlineExceeded || e == .connectTimeout { return handler.originFailed(.timeout) }
            }
            handler.originFailed(.failed("\(error)"))
        }
    }
}

extension HTTPClient.Task: OriginCall {}
