import NIOCore
import NIOPosix
import Topology

/// UDP side of the DNS listener: one datagram in, one out, answered on the event loop (the
/// answer is a pure function of the query and the health snapshot).
final class DNSUDPHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let director: DirectorCore

    init(director: DirectorCore) { self.director = director }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let query = Array(envelope.data.readableBytesView)
        let source = envelope.remoteAddress.ipAddress.flatMap { IPAddress($0) }
        guard let answer = director.answerDNS(query, from: source, transport: .udp) else { return }
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: answer))), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A bad datagram must never stop the listener.
    }
}

/// DNS over TCP (RFC 7766): each message has a two-byte length prefix. Queries are answered
/// in order. A client that pipelines queries without reading its answers cannot make the
/// director buffer without bound: when the socket's send buffer is full, answering stops and so
/// does reading (TCP then pushes back on the client), until the client reads again. At most one
/// unanswered message (64 KiB) and one read are held.
final class DNSTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let director: DirectorCore
    private var pending: ByteBuffer?
    private var reading = true

    init(director: DirectorCore) { self.director = director }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if pending == nil { pending = chunk } else { pending?.writeBuffer(&chunk) }
        answerPending(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { answerPending(context) }
        context.fireChannelWritabilityChanged()
    }

    private func answerPending(_ context: ChannelHandlerContext) {
        var wrote = false
        while context.channel.isWritable, var buffer = pending,
              let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) {
            buffer.moveReaderIndex(forwardBy: 2)
            let query = buffer.readBytes(length: Int(length)) ?? []
            pending = buffer.readableBytes > 0 ? buffer : nil
            let source = context.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
            guard let answer = director.answerDNS(query, from: source, transport: .tcp), answer.count <= 65_535 else {
                // Not a query: the answers already written go out first.
                context.writeAndFlush(NIOAny(ByteBuffer())).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
                return
            }
            var out = context.channel.allocator.buffer(capacity: answer.count + 2)
            out.writeInteger(UInt16(answer.count))
            out.writeBytes(answer)
            context.write(wrapOutboundOut(out), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
        // Read on only while answers leave: what is buffered is then at most what the reads
        // already under way bring (the listener reads a few times per wake-up).
        let wantMore = context.channel.isWritable
        if wantMore != reading {
            reading = wantMore
            context.channel.setOption(ChannelOptions.autoRead, value: wantMore).whenFailure { _ in }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
