import Crypto
import Foundation
import HTTPServer
import NIOCore
import NIOHTTP1
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import Topology
import SwiftASN1
import X509

/// The public listener over TLS, with ALPN offering `h2` and `http/1.1`. HTTP/2 streams are
/// turned into HTTP/1 request parts for the same `EdgeHandler`, so both protocols take the same
/// request path. Without a configured certificate, a self-signed one is made at start (good for
/// the local demo with `curl -k`; real deployments configure `tls_certificate` and `tls_key`).
enum TLSListener {
    static func bind(
        host: String, port: Int, group: any EventLoopGroup, identities: TLSIdentities, defaultIdentity: TLSIdentities.Identity,
        limits: ListenerLimits, stats: ListenerStats, makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> HTTPListener {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: defaultIdentity.chain.map { .certificate($0) },
                                                           privateKey: .privateKey(defaultIdentity.key))
        tls.applicationProtocols = ["h2", "http/1.1"]
        // Per handshake: the certificate of the site the client names (SNI), noted for the
        // connection's requests.
        tls.sslContextCallback = { values, promise in
            SNICapture.reading.currentValue?.record(values.serverHostname)
            promise.succeed(identities.override(serverName: values.serverHostname))
        }
        let context = try NIOSSLContext(configuration: tls)
        return try await HTTPListener.bind(host: host, port: port, group: group, limits: limits, stats: stats) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(SNICapture())
                try sync.addHandler(NIOSSLServerHandler(context: context))
                try sync.addHandler(HandshakeTimeoutHandler(seconds: limits.handshakeTimeout, stats: stats) { event in
                    guard let tls = event as? TLSUserEvent, case .handshakeCompleted = tls else { return false }
                    return true
                })
            }.flatMap {
                channel.configureHTTP2SecureUpgrade(
                    h2ChannelConfigurator: { connection in
                        // HTTP/2 multiplexes: the connection is closed when nothing at all has
                        // been read for the idle timeout (a client waiting on a response still
                        // sends WINDOW_UPDATEs and PINGs as it reads).
                        connection.eventLoop.makeCompletedFuture {
                            try connection.pipeline.syncOperations.addHandler(HandshakeTimeoutHandler(seconds: limits.headTimeout, stats: stats, counted: .head, endsOnFirstRead: true))
                            try connection.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(clamping: limits.idleTimeout)))
                            try connection.pipeline.syncOperations.addHandler(IdleCloseHandler(stats: stats))
                            try connection.pipeline.syncOperations.addHandler(HTTP2Drain())
                        }.flatMap {
                            connection.configureHTTP2Pipeline(mode: .server, inboundStreamInitializer: { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandler(AuthorityCheck())
                                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                    // Each stream has the body and send timeouts (its writability
                                    // follows HTTP/2 flow control) and is reset when one fires.
                                    try stream.pipeline.syncOperations.addHandler(HTTPTimeouts(limits: limits, stats: stats).requestHandler)
                                    try stream.pipeline.syncOperations.addHandler(RequestBodyLimit(limits))
                                    try stream.pipeline.syncOperations.addHandler(makeHandler())
                                }
                            }).map { _ in }
                        }
                    },
                    http1ChannelConfigurator: { connection in
                        connection.eventLoop.makeCompletedFuture {
                            try HTTPListener.configureHTTP1(connection.pipeline.syncOperations, limits: limits, stats: stats, handler: makeHandler())
                        }
                    }
                )
            }
        }
    }

    /// HTTP/1.1 over TLS (ALPN `http/1.1`) with one identity: the control listener.
    static func bindHTTP1(
        host: String, port: Int, group: any EventLoopGroup, identity: TLSIdentities.Identity,
        limits: ListenerLimits, stats: ListenerStats, makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> HTTPListener {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: identity.chain.map { .certificate($0) }, privateKey: .privateKey(identity.key))
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        return try await HTTPListener.bind(host: host, port: port, group: group, limits: limits, stats: stats) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(NIOSSLServerHandler(context: context))
                try sync.addHandler(HandshakeTimeoutHandler(seconds: limits.handshakeTimeout, stats: stats) { event in
                    guard let tls = event as? TLSUserEvent, case .handshakeCompleted = tls else { return false }
                    return true
                })
                try HTTPListener.configureHTTP1(sync, limits: limits, stats: stats, handler: makeHandler())
            }
        }
    }

    /// The configured certificate chain and key (PEM files), or a fresh self-signed pair.
    static func identity(certificateFile: String?, keyFile: String?, name: String, host: String) throws -> TLSIdentities.Identity {
        if let certificateFile, let keyFile {
            return try TLSIdentities.load(certificate: certificateFile, key: keyFile)
        }
        let (certificate, key) = try selfSigned(name: name, host: host)
        return TLSIdentities.Identity(chain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)),
                                      key: try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem), files: nil, stamps: [])
    }

    /// A self-signed certificate and its key, as PEM: for `name`, localhost and `host` when it
    /// is an IPv4 address, valid a year.
    static func selfSigned(name: String, host: String) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        var names: [GeneralName] = [.dnsName("localhost"), .dnsName(name)]
        if let ip = IPv4Address(host) { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip.bytes)))) }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// An HTTP/2 connection told to quiesce (the edge drains): a GOAWAY, so the client opens no
    /// new streams on it, then the connection is closed once nothing has crossed it for two
    /// seconds (its streams are done). Sits under NIO's HTTP/2 handler, on the plain bytes.
    final class HTTP2Drain: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var lastActivity = NIODeadline.now()
        private var check: RepeatedTask?
        static let quiet = TimeAmount.seconds(2)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            lastActivity = .now()
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            lastActivity = .now()
            context.write(data, promise: promise)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard event is ChannelShouldQuiesceEvent, check == nil else { return context.fireUserInboundEventTriggered(event) }
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
            context.channel.writeAndFlush(goAway, promise: nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            check = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
                let (handler, context) = bound.value
                if NIODeadline.now() - handler.lastActivity >= Self.quiet { context.close(promise: nil) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            check?.cancel()
            check = nil
            context.fireChannelInactive()
        }
    }

    /// RFC 9113 §8.3.1: a request whose `Host` names another authority than its `:authority`
    /// is malformed; the stream is reset (the codec after this keeps `Host`, which could pick
    /// another site than the one the client meant).
    final class AuthorityCheck: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias OutboundOut = HTTP2Frame.FramePayload

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .headers(let h) = unwrapInboundIn(data), !Self.consistent(h.headers) {
                context.writeAndFlush(wrapOutboundOut(.rstStream(.protocolError)), promise: nil)
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(data)
        }

        /// `Host`, when sent, names the same host and port as `:authority` (a missing port is
        /// 443's), and `:path` is origin-form (or `*`): an absolute-form path would name a third
        /// authority, which the request path would take over both.
        static func consistent(_ headers: HPACKHeaders) -> Bool {
            if let path = headers.first(name: ":path"), !(path.hasPrefix("/") || path == "*") { return false }
            guard let host = headers.first(name: "host") else { return true }
            guard let authority = headers.first(name: ":authority"), let a = HostPattern.split(authority), let b = HostPattern.split(host) else { return false }
            return a.host == b.host && (a.port ?? 443) == (b.port ?? 443)
        }
    }

    struct IPv4Address {
        let bytes: [UInt8]
        init?(_ s: String) {
            let parts = s.split(separator: ".").compactMap { UInt8($0) }
            guard parts.count == 4 else { return nil }
            bytes = parts
        }
    }
}
