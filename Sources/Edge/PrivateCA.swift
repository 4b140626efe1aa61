import Crypto
import Foundation
import SwiftASN1
import X509

/// A private certificate authority for a fleet's control listeners (what `outpost lab` uses; an
/// operator without a CA of their own can do the same): one CA certificate that the CLI, the
/// director and peer edges trust (`control_ca`), and a certificate per edge naming its address.
public struct PrivateCA: Sendable {
    private let key: P256.Signing.PrivateKey
    private let certificate: Certificate
    private let subject: DistinguishedName

    public init(name: String) throws {
        key = P256.Signing.PrivateKey()
        subject = try DistinguishedName { CommonName(name) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
        certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
    }

    /// A CA kept from before (its certificate and key, PEM), to issue more certificates that the
    /// same callers trust.
    public init(certificatePEM: String, keyPEM: String) throws {
        key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        certificate = try Certificate(pemEncoded: certificatePEM)
        subject = certificate.subject
    }

    /// The CA's key, PEM: keep it private (mode 0600), or do not keep it at all.
    public var keyPEM: String { key.pemRepresentation }

    /// The CA certificate, PEM: what callers trust.
    public func certificatePEM() throws -> String { try certificate.serializeAsPEM().pemString }

    /// A server certificate and its key (PEM) for `name` and the IPv4 `address`, valid a year.
    public func issue(name: String, ipv4 address: String) throws -> (certificate: String, key: String) {
        let leafKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = [.dnsName(name)]
        let parts = address.split(separator: ".").compactMap { UInt8($0) }
        if parts.count == 4 { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(parts)))) }
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames(names)
            Critical(BasicConstraints.notCertificateAuthority)
            try ExtendedKeyUsage([.serverAuth])
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(365 * 86_400),
            issuer: subject, subject: try DistinguishedName { CommonName(name) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
    }
}
