import NIOHTTP1

/// Header handling a proxy must do (RFC 9110 §7.6.1) and a cache must do on 304 (RFC 9111 §3.2).
public enum HeaderRules {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// The headers without hop-by-hop fields, including those named in `Connection`.
    public static func removingHopByHop(_ headers: HTTPHeaders) -> HTTPHeaders {
        var named = hopByHop
        for line in headers[canonicalForm: "connection"] {
            for token in splitOutsideQuotes(line) { named.insert(token.lowercased()) }
        }
        var out = HTTPHeaders()
        for (name, value) in headers where !named.contains(name.lowercased()) {
            out.add(name: name, value: value)
        }
        return out
    }

    /// Headers a 304 must not change in the stored response (§3.2): they describe the stored
    /// bytes, which the 304 did not send.
    static let keptOn304: Set<String> = ["content-length", "content-encoding", "content-range", "transfer-encoding"]

    /// The stored headers updated with a 304's (§4.3.4): every field the 304 carries replaces the
    /// stored one of the same name, except those in `keptOn304` and hop-by-hop fields.
    public static func updating(stored: HTTPHeaders, with notModified: HTTPHeaders) -> HTTPHeaders {
        let fresh = removingHopByHop(notModified)
        let replaced = Set(fresh.map { $0.name.lowercased() }).subtracting(keptOn304)
        var out = HTTPHeaders()
        for (name, value) in stored where !replaced.contains(name.lowercased()) {
            out.add(name: name, value: value)
        }
        for (name, value) in fresh where replaced.contains(name.lowercased()) {
            out.add(name: name, value: value)
        }
        return out
    }
}
