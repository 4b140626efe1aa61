/// Removes comments and whitespace from CSS where it cannot matter: around `{ } ; , >` and
/// after `:`, and the last `;` of a block. A space before `:` stays: in a selector it is a
/// descendant combinator (`a :hover` is not `a:hover`). Strings, `url(…)`, custom properties' values inside
/// them and `calc()`'s spaces around `+` and `-` are kept; `/*! … */` comments are kept.
public enum CSSMinifier {
    public static func minify(_ s: [UInt8]) -> MinifyResult {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        var pendingSpace = false
        let tight = Set("{};,>".utf8)

        func flushSpace(before next: UInt8) {
            defer { pendingSpace = false }
            guard pendingSpace, let prev = out.last, prev != 0x0A else { return }
            if tight.contains(prev) || tight.contains(next) || prev == UInt8(ascii: ":") || prev == UInt8(ascii: "(") || next == UInt8(ascii: ")") { return }
            out.append(0x20)
        }

        while i < s.count {
            let c = s[i]
            if Bytes.isSpace(c) { pendingSpace = true; i += 1; continue }
            if c == UInt8(ascii: "/"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "*") {
                let start = i
                i += 2
                while i + 1 < s.count && !(s[i] == UInt8(ascii: "*") && s[i + 1] == UInt8(ascii: "/")) { i += 1 }
                guard i + 1 < s.count else { return .unchanged(reason: "unterminated /* comment */") }
                i += 2
                if s[start + 2] == UInt8(ascii: "!") {
                    flushSpace(before: UInt8(ascii: "/"))
                    out += s[start..<i]
                    out.append(0x0A)
                } else {
                    pendingSpace = true
                }
                continue
            }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                flushSpace(before: c)
                out.append(c); i += 1
                var closed = false
                while i < s.count {
                    let r = s[i]
                    out.append(r); i += 1
                    if r == 0x5C { if i < s.count { out.append(s[i]); i += 1 }; continue }
                    if r == c { closed = true; break }
                    if Bytes.isNewline(r) { break }
                }
                guard closed else { return .unchanged(reason: "unterminated string") }
                continue
            }
            if Bytes.startsWith(s, i, "url(", caseInsensitive: true) {
                flushSpace(before: c)
                var k = i + 4
                while k < s.count && Bytes.isSpace(s[k]) { k += 1 }
                if k < s.count && s[k] != UInt8(ascii: "\"") && s[k] != UInt8(ascii: "'") {
                    // Unquoted url(): everything up to ')' is the URL.
                    guard let close = s[k...].firstIndex(of: UInt8(ascii: ")")) else { return .unchanged(reason: "unterminated url(") }
                    out += s[i...close]
                    i = close + 1
                    continue
                }
                out += s[i..<(i + 4)]
                i += 4
                continue
            }
            if c == UInt8(ascii: "}"), out.last == UInt8(ascii: ";") { out.removeLast() }
            flushSpace(before: c)
            out.append(c)
            i += 1
        }
        while let l = out.last, Bytes.isSpace(l) { out.removeLast() }
        // Kept comments and line breaks can, on odd input, outweigh what was removed.
        return out.count <= s.count ? .minified(out) : .unchanged(reason: "minifying did not make it smaller")
    }
}
