/// A Dictionary Structured Field (RFC 8941 §3.2), as `CDN-Cache-Control` and Outpost's own
/// targeted field are (RFC 9213 §2.1). Parsing is all-or-nothing: a field with any syntax error
/// is `nil`, and the cache then behaves as if it were absent. Only what a cache-control
/// dictionary needs is kept: each member's bare item (parameters and inner lists are checked,
/// then dropped).
public enum StructuredDictionary {
    public enum Item: Sendable, Equatable {
        case integer(Int64)
        case boolean(Bool)
        /// A decimal, string, token or byte sequence: well-formed, not a type a directive uses.
        case other
        case innerList
    }

    /// The members in order, a later duplicate key replacing the earlier (§4.2.2); `nil` on any
    /// syntax error. Several field lines are one value joined by commas (§4.2).
    public static func parse(_ lines: [String]) -> [(key: String, item: Item)]? {
        var p = Parser(Array(lines.joined(separator: ",").utf8))
        return p.dictionary()
    }

    private struct Parser {
        /// The most members a field may have (RFC 8941 §3.2 asks for at least 1,024).
        static let maxMembers = 1024
        let b: [UInt8]
        var i = 0
        init(_ bytes: [UInt8]) { b = bytes }

        var peek: UInt8? { i < b.count ? b[i] : nil }

        mutating func skip(_ set: (UInt8) -> Bool) { while let c = peek, set(c) { i += 1 } }
        static func isSP(_ c: UInt8) -> Bool { c == 0x20 }
        static func isOWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        static func isLCAlpha(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
        static func isAlpha(_ c: UInt8) -> Bool { isLCAlpha(c) || (c >= 0x41 && c <= 0x5A) }
        static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        static func isTChar(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) || "!#$%&'*+-.^_`|~".utf8.contains(c) }

        mutating func dictionary() -> [(key: String, item: Item)]? {
            skip(Self.isSP)
            var members: [(key: String, item: Item)] = []
            var index: [String: Int] = [:]  // a repeated key's place: the last value wins, in the first place
            while peek != nil {
                guard let key = key() else { return nil }
                var item = Item.boolean(true)
                if peek == UInt8(ascii: "=") {
                    i += 1
                    if peek == UInt8(ascii: "(") {
                        guard innerList() else { return nil }
                        item = .innerList
                    } else {
                        guard let bare = bareItem() else { return nil }
                        item = bare
                    }
                }
                guard parameters() else { return nil }
                if let at = index[key] {
                    members[at].item = item
                } else {
                    // No cache directive list needs more; a field with more is not one.
                    guard members.count < Self.maxMembers else { return nil }
                    index[key] = members.count
                    members.append((key, item))
                }
                skip(Self.isOWS)
                guard let c = peek else { break }
                guard c == UInt8(ascii: ",") else { return nil }
                i += 1
                skip(Self.isOWS)
                guard peek != nil else { return nil }  // a trailing comma
            }
            return members
        }

        mutating func key() -> String? {
            guard let c = peek, Self.isLCAlpha(c) || c == UInt8(ascii: "*") else { return nil }
            let start = i
            skip { Self.isLCAlpha($0) || Self.isDigit($0) || "_-.*".utf8.contains($0) }
            return String(decoding: b[start..<i], as: UTF8.self)
        }

        mutating func parameters() -> Bool {
            while peek == UInt8(ascii: ";") {
                i += 1
                skip(Self.isSP)
                guard key() != nil else { return false }
                if peek == UInt8(ascii: "=") {
                    i += 1
                    guard bareItem() != nil else { return false }
                }
            }
            return true
        }

        mutating func innerList() -> Bool {
            i += 1  // "("
            while true {
                skip(Self.isSP)
                guard let c = peek else { return false }
                if c == UInt8(ascii: ")") {
                    i += 1
                    return parameters()
                }
                guard bareItem() != nil, parameters() else { return false }
                guard let next = peek, next == 0x20 || next == UInt8(ascii: ")") else { return false }
            }
        }

        mutating func bareItem() -> Item? {
            guard let c = peek else { return nil }
            if c == UInt8(ascii: "-") || Self.isDigit(c) { return number() }
            if c == UInt8(ascii: "\"") { return string() }
            if c == UInt8(ascii: "?") {
                i += 1
                guard let v = peek, v == UInt8(ascii: "0") || v == UInt8(ascii: "1") else { return nil }
                i += 1
                return .boolean(v == UInt8(ascii: "1"))
            }
            if c == UInt8(ascii: ":") {
                i += 1
                skip { Self.isAlpha($0) || Self.isDigit($0) || "+/=".utf8.contains($0) }
                guard peek == UInt8(ascii: ":") else { return nil }
                i += 1
                return .other
            }
            if Self.isAlpha(c) || c == UInt8(ascii: "*") {
                i += 1
                skip { Self.isTChar($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") }
                return .other
            }
            return nil
        }

        /// sf-integer (at most 15 digits) or sf-decimal (12 and 3).
        mutating func number() -> Item? {
            var negative = false
            if peek == UInt8(ascii: "-") {
                negative = true
                i += 1
            }
            let start = i
            skip(Self.isDigit)
            let whole = i - start
            guard whole >= 1 else { return nil }
            if peek == UInt8(ascii: ".") {
                i += 1
                let fracStart = i
                skip(Self.isDigit)
                guard whole <= 12, (1...3).contains(i - fracStart) else { return nil }
                return .other
            }
            guard whole <= 15 else { return nil }
            var n: Int64 = 0
            for d in b[start..<i] { n = n * 10 + Int64(d - 0x30) }
            return .integer(negative ? -n : n)
        }

        mutating func string() -> Item? {
            i += 1
            while let c = peek {
                i += 1
                switch c {
                case UInt8(ascii: "\""): return .other
                case UInt8(ascii: "\\"):
                    guard let e = peek, e == UInt8(ascii: "\"") || e == UInt8(ascii: "\\") else { return nil }
                    i += 1
                case 0x20...0x7E: continue
                default: return nil
                }
            }
            return nil
        }
    }
}
