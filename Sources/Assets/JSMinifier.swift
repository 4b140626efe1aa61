/// Removes comments and whitespace from JavaScript without changing what it means: strings,
/// template literals (with nested `${}`), regular expression literals and `/*! … */` licence
/// comments are kept byte for byte; a line break is kept wherever automatic semicolon insertion
/// could depend on it; names are never changed. Input it cannot tokenize with certainty (an
/// unterminated string, comment, template or regex) is returned unchanged with the reason.
public enum JSMinifier {
    public static func minify(_ s: [UInt8]) -> MinifyResult {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        /// Whether a `/` here starts a regex (after an operator or keyword) or divides.
        var regexAllowed = true
        var pendingSpace = false, pendingNewline = false
        /// For each open `{`: whether it closes a template literal's `${`.
        var braces: [Bool] = []
        let regexKeywords: Set<String> = ["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield", "await"]

        func emitGap(before next: UInt8) {
            defer { pendingSpace = false; pendingNewline = false }
            guard let prev = out.last, prev != 0x0A else { return }
            if pendingNewline {
                // A newline matters only where ASI could use it: not after a token that needs
                // a right-hand side (an operator, but not postfix ++/--), not before one that
                // cannot start a statement.
                if "{;,([".utf8.contains(prev) || "}),;]".utf8.contains(next) { return }
                let postfix = (prev == UInt8(ascii: "+") || prev == UInt8(ascii: "-")) && out.count >= 2 && out[out.count - 2] == prev
                if !postfix && "=+-*%&|^!~?:<>.".utf8.contains(prev) && !(prev == UInt8(ascii: "/")) { return }
                if ".?:=*%&|^<>".utf8.contains(next) { return }
                out.append(0x0A)
            } else if pendingSpace {
                let needed = (Bytes.isWordish(prev) && Bytes.isWordish(next))
                    || (prev == UInt8(ascii: "+") && next == UInt8(ascii: "+")) || (prev == UInt8(ascii: "-") && next == UInt8(ascii: "-"))
                    || (prev == UInt8(ascii: "<") && next == UInt8(ascii: "!"))
                    || (prev == UInt8(ascii: "/") && next == UInt8(ascii: "/"))
                    || (Bytes.isWordish(prev) && next == UInt8(ascii: ".") && lastTokenIsNumber())
                if needed { out.append(0x20) }
            }
        }

        func lastTokenIsNumber() -> Bool {
            var k = out.count - 1
            while k >= 0 && Bytes.isWordish(out[k]) { k -= 1 }
            return k + 1 < out.count && out[k + 1] >= 0x30 && out[k + 1] <= 0x39
        }

        /// Copies a quoted string starting at s[i]; false if it is unterminated.
        func copyString(_ quote: UInt8) -> Bool {
            out.append(s[i]); i += 1
            while i < s.count {
                let c = s[i]
                out.append(c); i += 1
                if c == 0x5C { if i < s.count { out.append(s[i]); i += 1 }; continue }
                if c == quote { return true }
                if Bytes.isNewline(c) { return false }
            }
            return false
        }

        /// Copies template text from s[i] (just after ` or }) to the closing ` or a `${`.
        /// Returns "end", "expr" or nil when unterminated.
        func copyTemplateText() -> String? {
            while i < s.count {
                let c = s[i]
                out.append(c); i += 1
                if c == 0x5C { if i < s.count { out.append(s[i]); i += 1 }; continue }
                if c == UInt8(ascii: "`") { return "end" }
                if c == UInt8(ascii: "$"), i < s.count, s[i] == UInt8(ascii: "{") { out.append(s[i]); i += 1; return "expr" }
            }
            return nil
        }

        while i < s.count {
            let c = s[i]
            if Bytes.isSpace(c) {
                if Bytes.isNewline(c) { pendingNewline = true } else { pendingSpace = true }
                i += 1
                continue
            }
            if c == UInt8(ascii: "/"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "/") {
                while i < s.count && !Bytes.isNewline(s[i]) { i += 1 }
                continue
            }
            if c == UInt8(ascii: "/"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "*") {
                let start = i
                i += 2
                var closed = false
                var sawNewline = false
                while i + 1 < s.count {
                    if s[i] == UInt8(ascii: "*") && s[i + 1] == UInt8(ascii: "/") { closed = true; break }
                    if Bytes.isNewline(s[i]) { sawNewline = true }
                    i += 1
                }
                guard closed else { return .unchanged(reason: "unterminated /* comment */") }
                i += 2
                if s[start + 2] == UInt8(ascii: "!") {
                    // Licence comments stay, on lines of their own.
                    if !out.isEmpty && out.last != 0x0A { out.append(0x0A) }
                    out += s[start..<i]
                    out.append(0x0A)
                    pendingSpace = false; pendingNewline = false
                } else if sawNewline { pendingNewline = true } else { pendingSpace = true }
                continue
            }
            emitGap(before: c)
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                guard copyString(c) else { return .unchanged(reason: "unterminated string") }
                regexAllowed = false
                continue
            }
            // A template literal starts at ` and resumes at the } that closes one of its ${.
            let resumesTemplate = c == UInt8(ascii: "}") && braces.last == true
            if c == UInt8(ascii: "`") || resumesTemplate {
                if resumesTemplate { braces.removeLast() }
                out.append(c); i += 1
                switch copyTemplateText() {
                case "end": regexAllowed = false
                case "expr": braces.append(true); regexAllowed = true
                default: return .unchanged(reason: "unterminated template literal")
                }
                continue
            }
            if c == UInt8(ascii: "/") && regexAllowed {
                out.append(c); i += 1
                var inClass = false, closed = false
                while i < s.count {
                    let r = s[i]
                    if Bytes.isNewline(r) { return .unchanged(reason: "unterminated regular expression") }
                    out.append(r); i += 1
                    if r == 0x5C { if i < s.count { out.append(s[i]); i += 1 }; continue }
                    if r == UInt8(ascii: "[") { inClass = true } else if r == UInt8(ascii: "]") { inClass = false } else if r == UInt8(ascii: "/") && !inClass { closed = true; break }
                }
                guard closed else { return .unchanged(reason: "unterminated regular expression") }
                while i < s.count && Bytes.isWordish(s[i]) { out.append(s[i]); i += 1 }  // flags
                regexAllowed = false
                continue
            }
            if Bytes.isWordish(c) {
                let start = i
                while i < s.count && (Bytes.isWordish(s[i]) || (s[i] == UInt8(ascii: ".") && s[start] >= 0x30 && s[start] <= 0x39)) {
                    // Exponents: 1e-5, 2E+3.
                    if (s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E")), s[start] >= 0x30, s[start] <= 0x39, i + 1 < s.count,
                       s[i + 1] == UInt8(ascii: "-") || s[i + 1] == UInt8(ascii: "+") {
                        i += 2
                        continue
                    }
                    i += 1
                }
                let word = String(decoding: s[start..<i], as: UTF8.self)
                out += s[start..<i]
                regexAllowed = regexKeywords.contains(word)
                continue
            }
            // Punctuators. A `;` right before `}` is never needed (ASI ends a statement at `}`).
            if c == UInt8(ascii: "}"), out.last == UInt8(ascii: ";") { out.removeLast() }
            out.append(c); i += 1
            if c == UInt8(ascii: "{") { braces.append(false) }
            if c == UInt8(ascii: "}") { _ = braces.popLast() }
            regexAllowed = !(c == UInt8(ascii: ")") || c == UInt8(ascii: "]"))
        }
        guard braces.allSatisfy({ !$0 }) else { return .unchanged(reason: "unterminated template expression") }
        while out.last == 0x0A { out.removeLast() }
        // Kept comments and line breaks can, on odd input, outweigh what was removed.
        return out.count <= s.count ? .minified(out) : .unchanged(reason: "minifying did not make it smaller")
    }
}
