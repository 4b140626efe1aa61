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

/// DNS over TCP (RFC 7766): each message has a two-byte length prefix.
struct DNSTCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

final class DNSTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let director: DirectorCore

    init(director: DirectorCore) { self.director = director }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let query = Array(unwrapInboundIn(data).readableBytesView)
        let source = context.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
        guard let answer = director.answerDNS(query, from: source, transport: .tcp) else {
            context.close(promise: nil)
            return
        }
        var out = context.channel.allocator.buffer(capacity: answer.count + 2)
        out.writeInteger(UInt16(answer.count))
        out.writeBytes(answer)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
