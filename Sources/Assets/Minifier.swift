/// What a minifier made of its input: smaller bytes, or the reason it kept the original.
public enum MinifyResult: Sendable, Equatable {
    case minified([UInt8])
    /// The input could not be tokenized with certainty; serve the original bytes.
    case unchanged(reason: String)

    public func bytes(or original: [UInt8]) -> [UInt8] {
        if case .minified(let b) = self { return b }
        return original
    }
}

/// The asset kinds Outpost minifies, by Content-Type.
public enum AssetKind: String, Sendable, CaseIterable {
    case html, css, js

    public init?(contentType: String) {
        guard let first = contentType.split(separator: ";", omittingEmptySubsequences: false).first else { return nil }
        let t = first.trimmingCharacters(in: .whitespaces).lowercased()
        switch t {
        case "text/html": self = .html
        case "text/css": self = .css
        case "text/javascript", "application/javascript", "application/x-javascript", "text/ecmascript", "application/ecmascript": self = .js
        default: return nil
        }
    }

    public init?(fileName: String) {
        switch fileName.split(separator: ".").last?.lowercased() {
        case "html", "htm": self = .html
        case "css": self = .css
        case "js", "mjs", "cjs": self = .js
        default: return nil
        }
    }

    public func minify(_ input: [UInt8]) -> MinifyResult {
        switch self {
        case .html: HTMLMinifier.minify(input)
        case .css: CSSMinifier.minify(input)
        case .js: JSMinifier.minify(input)
        }
    }
}

import Foundation

enum Bytes {
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C || c == 0x0B }
    static func isNewline(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D }
    /// Letters, digits, `_`, `$`, `#`, `\` and any non-ASCII byte: parts of names and numbers.
    static func isWordish(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x24 || c == 0x23 || c == 0x5C || c >= 0x80
    }
    static func startsWith(_ s: [UInt8], _ i: Int, _ prefix: String, caseInsensitive: Bool = false) -> Bool {
        let p = Array(prefix.utf8)
        guard i + p.count <= s.count else { return false }
        for k in 0..<p.count {
            var a = s[i + k], b = p[k]
            if caseInsensitive {
                if a >= 0x41 && a <= 0x5A { a += 32 }
                if b >= 0x41 && b <= 0x5A { b += 32 }
            }
            if a != b { return false }
        }
        return true
    }
}
