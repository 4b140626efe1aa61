import NIOSSL

/// How callers of an edge's control API over TLS (the CLI, the director, peer edges) trust it:
/// the certificate, or the CA, in the PEM file named by `control_ca`, else the system's roots.
/// The host of the control URL is checked against the certificate (addresses too: a
/// self-signed edge certificate names its IPv4 address). The bearer token is never sent to a
/// server that fails this.
public enum ControlTLS {
    public static func clientConfiguration(caFile: String?) throws -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        if let caFile { c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        return c
    }

    /// What a health check uses: it sends no secret and reads only a status line, so it takes
    /// any certificate (an expired one must not take the edge out of DNS).
    public static let healthCheckConfiguration: TLSConfiguration = {
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        return c
    }()
}
