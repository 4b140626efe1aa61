import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Topology
import SwiftASN1
import X509

/// The certificates the TLS listener presents: each site's own (chosen by the client's SNI),
/// else the edge's. Files are read again when they change (`reload`, every few seconds, off the
/// event loops), so a renewed certificate is served without a restart; a file that does not
/// load keeps the one before it, and says so.
final class TLSIdentities: Sendable {
    struct Identity: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// The PEM files and what they were when read; nil: made at start (self-signed).
        var files: (certificate: String, key: String)?
        var stamps: [FileStamp]
    }

    /// What a file was when read: a change to either means read it again. Symbolic links are
    /// followed (a Kubernetes secret volume swaps the folder the links point into).
    struct FileStamp: Sendable, Equatable {
        var device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            seconds = Int(st.st_mtim.tv_sec)
            nanoseconds = Int(st.st_mtim.tv_nsec)
        }
    }

    private let sites: [SiteConfig]
    /// [0]: the edge's; then one per site (nil: that site uses the edge's).
    private let identities: Mutex<(edge: Identity, sites: [Identity?])>
    /// Per certificate (by its file): the stamps seen changed at the last check, waiting to be
    /// seen the same once more (both files of a renewal written), and the stamps a load last
    /// failed for (said once; tried again every check).
    private let watch = Mutex<(pending: [String: [FileStamp]], failed: [String: [FileStamp]])>(([:], [:]))
    private let reloading = Atomic<Bool>(false)

    init(edge: Identity, sites: [SiteConfig]) throws {
        self.sites = sites
        var own: [Identity?] = []
        for site in sites {
            guard let cert = site.tlsCertificate, let key = site.tlsKey else { own.append(nil); continue }
            do { own.append(try Self.load(certificate: cert, key: key)) } catch {
                throw EdgeStartError("site \(site.name): cannot load its TLS certificate \(cert) and key \(key): \(error); check the PEM files")
            }
        }
        identities = Mutex((edge, own))
    }

    static func load(certificate: String, key: String) throws -> Identity {
        let stamps = [FileStamp(certificate), FileStamp(key)].compactMap { $0 }
        let certificatePEM = try String(contentsOfFile: certificate, encoding: .utf8), keyPEM = try String(contentsOfFile: key, encoding: .utf8)
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        guard !chain.isEmpty else { throw EdgeStartError("\(certificate) holds no certificate") }
        // A key that is not the leaf certificate's would fail every handshake: refused here.
        // (The leaf is the first certificate of a chain file; a key file may carry parameters.)
        let leaf = try (PEMDocument.parseMultiple(pemString: certificatePEM).first { $0.discriminator == "CERTIFICATE" }).map { try Certificate(derEncoded: $0.derBytes) }
        let keyDocument = try PEMDocument.parseMultiple(pemString: keyPEM).first { $0.discriminator.hasSuffix("PRIVATE KEY") }
        if let leaf, let keyDocument, let k = try? Certificate.PrivateKey(pemDocument: keyDocument), k.publicKey != leaf.publicKey {
            throw EdgeStartError("the key in \(key) is not the key of the certificate in \(certificate)")
        }
        return Identity(chain: chain, key: try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem), files: (certificate, key), stamps: stamps)
    }

    /// The certificate and key for a handshake that asked for `serverName`.
    func override(serverName: String?) -> NIOSSLContextConfigurationOverride {
        let index = serverName.flatMap { SiteConfig.index(in: sites, name: $0) }
        let chosen = identities.withLock { i in index.flatMap { i.sites[$0] } ?? i.edge }
        var o = NIOSSLContextConfigurationOverride()
        o.certificateChain = chosen.chain.map { .certificate($0) }
        o.privateKey = .privateKey(chosen.key)
        return o
    }

    /// Reads again every certificate whose files changed and then stayed the same for one
    /// check. Blocking file work: call off the event loops; a call while one runs returns.
    func reload(log: (Logger.Level, String) -> Void) {
        guard reloading.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { reloading.store(false, ordering: .releasing) }
        func fresh(_ current: Identity, _ label: String) -> Identity? {
            guard let (cert, key) = current.files else { return nil }
            let now = [FileStamp(cert), FileStamp(key)].compactMap { $0 }
            let ready = watch.withLock { w -> Bool in
                guard now != current.stamps else { w.pending[cert] = nil; return false }
                defer { w.pending[cert] = now }
                return w.pending[cert] == now  // unchanged since the last check: written
            }
            guard ready else { return nil }
            do {
                let loaded = try Self.load(certificate: cert, key: key)
                watch.withLock { $0.failed[cert] = nil }
                log(.notice, "\(label): TLS certificate \(cert) changed; serving the new one")
                return loaded
            } catch {
                let first = watch.withLock { w in
                    defer { w.failed[cert] = now }
                    return w.failed[cert] != now
                }
                if first { log(.warning, "\(label): TLS certificate \(cert) or key \(key) changed but does not load (\(error)); still serving the previous one, and trying again. Fix the files") }
                return nil
            }
        }
        let current = identities.withLock { $0 }
        let edge = fresh(current.edge, "edge")
        let sites = current.sites.enumerated().map { i, s in s.flatMap { fresh($0, "site \(self.sites[i].name)") } }
        guard edge != nil || sites.contains(where: { $0 != nil }) else { return }
        identities.withLock { i in
            if let edge { i.edge = edge }
            for (n, s) in sites.enumerated() { if let s { i.sites[n] = s } }
        }
    }
}

/// First on a TLS connection's pipeline: keeps the server name (SNI) the client asked for, so
/// the request path can refuse a `Host` of another site (421). The certificate callback runs
/// inside the TLS handler's read of the ClientHello; this handler marks, for that read, which
/// connection it is on.
final class SNICapture: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let name = Mutex<String?>(nil)
    private let recorded = Atomic<Bool>(false)

    /// The connection whose bytes the TLS handler is reading on this thread now.
    static let reading = ThreadSpecificVariable<SNICapture>()

    /// The server name of the handshake; nil before it, or when the client sent none.
    var serverName: String? { name.withLock { $0 } }

    func record(_ serverName: String?) {
        name.withLock { $0 = serverName }
        recorded.store(true, ordering: .relaxed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !recorded.load(ordering: .relaxed) else { return context.fireChannelRead(data) }
        Self.reading.currentValue = self
        context.fireChannelRead(data)
        Self.reading.currentValue = nil
    }
}
