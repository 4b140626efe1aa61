import Foundation
import Topology

/// Who the client is behind trusted proxies. Pure.
enum ForwardedClient {
    /// The connection's peer, unless it is a trusted proxy: then X-Forwarded-For is read from
    /// the right (each proxy appends the address it saw) and the first address that is not a
    /// trusted proxy is the client. Addresses left of it were written by the client itself and
    /// prove nothing. A malformed entry stops the walk at the last address known to be real.
    static func address(peer: IPAddress?, xForwardedFor lines: [String], trusted: [CIDR]) -> IPAddress? {
        guard var client = peer, isTrusted(client, trusted) else { return peer }
        let hops = lines.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        for hop in hops.reversed() {
            guard let address = IPAddress(hop.trimmingCharacters(in: .whitespaces)) else { return client }
            client = address
            if !isTrusted(address, trusted) { return address }
        }
        return client
    }

    private static func isTrusted(_ a: IPAddress, _ trusted: [CIDR]) -> Bool { trusted.contains { $0.contains(a) } }
}
