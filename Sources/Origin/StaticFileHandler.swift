import HTTPCaching
import HTTPServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Topology

/// Answers one connection's requests from the served folder: GET and HEAD only, the file work
/// on the thread pool, the writes back on the event loop.
final class StaticFileHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: OriginServer
    private var head: HTTPRequestHead?

    init(server: OriginServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break  // GET/HEAD bodies are ignored; other methods get 405
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context: context, to: h)
        }
    }

    private func respond(context: ChannelHandlerContext, to request: HTTPRequestHead) {
        server.countRequest(request)
        guard request.method == .GET || request.method == .HEAD else {
            return writeText(context, request, .methodNotAllowed, "Method \(request.method) not allowed; this origin serves GET and HEAD.\n", extra: ["Allow": "GET, HEAD"])
        }
        if let prefix = server.config.syntheticPrefix, request.uri.hasPrefix(prefix),
           let (id, size) = Self.synthetic(request.uri.dropFirst(prefix.count)) {
            return writeSynthetic(context, request, id: id, size: size)
        }
        let resolved = SafePath.resolve(request.uri)
        guard case .segments(let segments, let directoryForm) = resolved else {
            if case .rejected(let status, let reason) = resolved {
                server.log("\(request.method) \(request.uri) rejected: \(reason)")
                writeText(context, request, HTTPResponseStatus(statusCode: status), "\(reason)\n")
            }
            return
        }
        let (site, lookup) = server.files(for: request)
        let config = server.config
        let now = server.clock()
        let allocator = context.channel.allocator
        let future = server.threadPool.runIfActive(eventLoop: context.eventLoop) { () throws -> (FileLookupResult, FileResponsePlan?, ByteBuffer?) in
            let result = lookup.find(segments, isDirectoryForm: directoryForm)
            guard case .file(let file) = result else { return (result, nil, nil) }
            let path = "/" + segments.joined(separator: "/") + (directoryForm && !segments.isEmpty ? "/" : "")
            let plan = FileResponsePlan.make(
                file: file, method: request.method, requestHeaders: request.headers,
                cacheControl: config.cacheControl(forPath: path, host: site), now: now, contentType: ContentType.forPath(file.path)
            )
            let body = try plan.bytes.map { try lookup.read(file, range: $0, allocator: allocator) }
            return (result, plan, body)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { outcome in
            let (handler, context) = loopBound.value
            switch outcome {
            case .success((.file, let plan?, let body)):
                handler.write(context, request, plan.status, plan.headers, body)
            case .success((.directoryNeedsSlash, _, _)):
                let target = RequestTarget(request.uri)
                handler.writeText(context, request, .movedPermanently, "Moved to \(target.path)/\n",
                                  extra: ["Location": "\(target.path)/\(target.querySuffix)"])
            case .success((.notFound(let why), _, _)):
                handler.server.log("\(request.method) \(request.uri) 404: \(why)")
                handler.writeText(context, request, .notFound, "Not found: \(request.uri)\n")
            case .success:
                handler.writeText(context, request, .internalServerError, "internal error\n")
            case .failure(let error):
                handler.server.log("\(request.method) \(request.uri) 500: \(error)")
                handler.writeText(context, request, .internalServerError, "Could not read the file; see the origin's log.\n")
            }
        }
    }

    /// `<id>-<size>.bin`, size at most 16 MiB.
    static func synthetic(_ name: Substring) -> (Int, Int)? {
        guard name.hasSuffix(".bin") else { return nil }
        let parts = name.dropLast(4).split(separator: "-")
        guard parts.count == 2, let id = Int(parts[0]), let size = Int(parts[1]), id >= 0, (0...(16 << 20)).contains(size) else { return nil }
        return (id, size)
    }

    /// A generated object: deterministic bytes, cacheable for an hour. For `outpost bench`.
    private func writeSynthetic(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, id: Int, size: Int) {
        let headers: HTTPHeaders = [
            "Date": DateHeader.value(at: server.clock()), "Content-Type": "application/octet-stream",
            "Content-Length": "\(size)", "Cache-Control": "public, max-age=3600", "ETag": "\"gen-\(id)-\(size)\"",
        ]
        var body = context.channel.allocator.buffer(capacity: size)
        body.writeRepeatingByte(UInt8(truncatingIfNeeded: id), count: size)
        write(context, request, .ok, headers, body)
    }

    private func writeText(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ text: String, extra: HTTPHeaders = [:]) {
        var headers = extra
        headers.add(name: "Date", value: DateHeader.value(at: server.clock()))
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        write(context, request, status, headers, context.channel.allocator.buffer(string: text))
    }

    private func write(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer?) {
        HTTPResponseWriter.write(context, request: request, status: status, headers: headers, body: body)
    }
}
