import NIOHTTP1

/// The request header values a stored variant was selected by (RFC 9111 §4.1).
public struct VarySelector: Sendable, Hashable {
    /// Lower-cased field names from the response's `Vary`, in order.
    public let fieldNames: [String]
    /// Normalised values of those fields in the request that produced the response.
    public let values: [String]

    public static let none = VarySelector(fieldNames: [], values: [])

    public init(fieldNames: [String], values: [String]) {
        self.fieldNames = fieldNames
        self.values = values
    }

    /// The selector for a response's `Vary` and the request it answered.
    /// `ignoring`: fields the cache itself takes care of (the edge negotiates Accept-Encoding
    /// and serves its own variants, so the origin's `Vary: Accept-Encoding` does not split it).
    public init(responseHeaders: HTTPHeaders, requestHeaders: HTTPHeaders, ignoring: Set<String> = []) {
        var names: [String] = []
        for line in responseHeaders[canonicalForm: "vary"] {
            for name in splitOutsideQuotes(line) {
                let n = name.lowercased()
                if !names.contains(n) && !ignoring.contains(n) { names.append(n) }
            }
        }
        self.init(fieldNames: names, values: names.map { Self.normalisedValue(of: $0, in: requestHeaders) })
    }

    /// Does a new request select this variant? (§4.1: same normalised values.)
    public func matches(_ requestHeaders: HTTPHeaders) -> Bool {
        guard fieldNames.count == values.count else { return false }
        for (name, value) in zip(fieldNames, values) where Self.normalisedValue(of: name, in: requestHeaders) != value {
            return false
        }
        return true
    }

    /// §4.1 allows normalising: lines are combined, whitespace around commas dropped, case kept
    /// (values can be case-sensitive).
    static func normalisedValue(of name: String, in headers: HTTPHeaders) -> String {
        headers[canonicalForm: name].map { String($0.trimmingSpaces()) }.joined(separator: ",")
    }
}
