/// Collapses whitespace in HTML text the way a browser renders it (a run becomes one space),
/// removes comments except conditional ones, keeps `<pre>` and `<textarea>` byte for byte, and
/// minifies inline `<style>` and `<script>` with the CSS and JS minifiers (each falls back to its
/// original text when it cannot be sure). Tags and attribute values are copied unchanged.
public enum HTMLMinifier {
    public static func minify(_ s: [UInt8]) -> MinifyResult {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        var pendingSpace = false

        func flush() {
            if pendingSpace { out.append(0x20) }
            pendingSpace = false
        }

        /// Copies through the end of `</name>` (case-insensitive), returning the content range.
        func rawContent(_ name: String) -> Range<Int>? {
            var k = i
            while k < s.count {
                if s[k] == UInt8(ascii: "<"), Bytes.startsWith(s, k, "</" + name, caseInsensitive: true) { return i..<k }
                k += 1
            }
            return nil
        }

        while i < s.count {
            let c = s[i]
            if Bytes.isSpace(c) { pendingSpace = true; i += 1; continue }
            if c == UInt8(ascii: "<") {
                if Bytes.startsWith(s, i, "<!--") {
                    guard let end = find(s, "-->", from: i + 4) else { return .unchanged(reason: "unterminated <!-- comment") }
                    if Bytes.startsWith(s, i, "<!--[if") || Bytes.startsWith(s, i, "<!--<![endif]") {
                        flush()
                        out += s[i..<(end + 3)]
                    }
                    i = end + 3
                    continue
                }
                // A tag: copied as is, through its closing '>' (respecting quoted attributes).
                guard let tagEnd = endOfTag(s, i) else { return .unchanged(reason: "unterminated tag") }
                flush()
                let tag = s[i...tagEnd]
                out += tag
                i = tagEnd + 1
                let name = tagName(Array(tag))
                if ["pre", "textarea", "script", "style"].contains(name) {
                    guard let content = rawContent(name) else { return .unchanged(reason: "no closing </\(name)>") }
                    let raw = Array(s[content])
                    switch name {
                    case "script" where isJavaScript(Array(tag)):
                        out += JSMinifier.minify(raw).bytes(or: raw)
                    case "style":
                        out += CSSMinifier.minify(raw).bytes(or: raw)
                    default:
                        out += raw
                    }
                    i = content.upperBound
                }
                continue
            }
            flush()
            out.append(c)
            i += 1
        }
        // Kept comments and line breaks can, on odd input, outweigh what was removed.
        return out.count <= s.count ? .minified(out) : .unchanged(reason: "minifying did not make it smaller")
    }

    static func find(_ s: [UInt8], _ needle: String, from: Int) -> Int? {
        var k = from
        while k < s.count {
            if Bytes.startsWith(s, k, needle) { return k }
            k += 1
        }
        return nil
    }

    static func endOfTag(_ s: [UInt8], _ start: Int) -> Int? {
        var k = start + 1
        var quote: UInt8?
        while k < s.count {
            let c = s[k]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
            } else if c == UInt8(ascii: ">") {
                return k
            }
            k += 1
        }
        return nil
    }

    static func tagName(_ tag: [UInt8]) -> String {
        var k = 1
        var name: [UInt8] = []
        while k < tag.count, Bytes.isWordish(tag[k]) || tag[k] == UInt8(ascii: "-") {
            name.append(tag[k] >= 0x41 && tag[k] <= 0x5A ? tag[k] + 32 : tag[k])
            k += 1
        }
        return String(decoding: name, as: UTF8.self)
    }

    /// `<script>` without a type, or with a JavaScript or module type.
    static func isJavaScript(_ tag: [UInt8]) -> Bool {
        let text = String(decoding: tag, as: UTF8.self).lowercased()
        guard let r = text.range(of: "type=") else { return true }
        let value = text[r.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
        return ["text/javascript", "module", "application/javascript"].contains { value.hasPrefix($0) }
    }
}

import Foundation
