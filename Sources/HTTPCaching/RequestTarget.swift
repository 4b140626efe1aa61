import Foundation

/// An origin-form request target (RFC 9110 §7.1): the path, and the query after the first `?`.
/// The one place any server here splits a target, and decodes query parameters.
public struct RequestTarget: Sendable, Equatable {
    public var path: Substring
    /// After the `?`, without it; nil when the target has none.
    public var query: Substring?

    public init(_ target: String) {
        if let q = target.firstIndex(of: "?") {
            path = target[..<q]
            query = target[target.index(after: q)...]
        } else {
            path = Substring(target)
            query = nil
        }
    }

    /// `?` and the query, or "" (to append to another path, as a redirect does).
    public var querySuffix: String { query.map { "?" + $0 } ?? "" }

    /// The query's parameters in order, percent-decoded, `+` as a space (HTML forms); a name
    /// without `=` has the value "".
    public var parameters: [(name: String, value: String)] {
        guard let query else { return [] }
        return query.split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(kv[0])
            return (name, kv.count > 1 ? Self.decode(kv[1]) : "")
        }
    }

    /// Every value of the parameter `name`.
    public func values(_ name: String) -> [String] { parameters.filter { $0.name == name }.map(\.value) }

    private static func decode(_ s: Substring) -> String {
        let text = s.replacingOccurrences(of: "+", with: " ")
        return text.removingPercentEncoding ?? text
    }
}
