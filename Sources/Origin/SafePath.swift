/// Turns a request target into path segments under the served root, or says why not. Pure: the
/// symlink check, which needs the disk, is done by `FileLookup` after this.
public enum SafePath: Equatable, Sendable {
    /// Segments below the root (empty for the root itself); `isDirectoryForm` when it ended in `/`.
    case segments([String], isDirectoryForm: Bool)
    case rejected(status: Int, reason: String)

    public static func resolve(_ target: String) -> SafePath {
        var path = Substring(target)
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        guard path.hasPrefix("/") else { return .rejected(status: 400, reason: "request target must start with '/'") }
        var segments: [String] = []
        let raw = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, part) in raw.enumerated() {
            guard let decoded = percentDecode(part) else {
                return .rejected(status: 400, reason: "bad percent-encoding in path")
            }
            // An encoded '/' or '\' would let one segment act as two after decoding.
            if decoded.contains("/") || decoded.contains("\\") {
                return .rejected(status: 400, reason: "encoded slash or backslash in path")
            }
            if decoded.contains("\0") { return .rejected(status: 400, reason: "NUL in path") }
            if decoded == ".." { return .rejected(status: 400, reason: "'..' in path") }
            if decoded == "." || (decoded.isEmpty && i < raw.count - 1) { continue }
            if decoded.isEmpty { continue }
            // Hidden files (.git, .env, .htpasswd) are never served; .well-known is the exception.
            if decoded.hasPrefix("."), decoded != ".well-known" {
                return .rejected(status: 404, reason: "hidden files are not served")
            }
            segments.append(decoded)
        }
        return .segments(segments, isDirectoryForm: path.hasSuffix("/"))
    }

    static func percentDecode(_ s: Substring) -> String? {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, let h = hexValue(it.popFirst()!), let l = hexValue(it.popFirst()!) else { return nil }
                out.append(h << 4 | l)
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
