/// Picks the content coding for a response (RFC 9110 §12.5.3): the client's q-values decide
/// what is acceptable, the server's preference (br, zstd, gzip) breaks ties; nil means identity.
public enum AcceptEncoding {
    public static let preference: [ContentCoding] = [.br, .zstd, .gzip, .deflate]

    public static func choose(_ header: String?, available: Set<ContentCoding>) -> ContentCoding? {
        guard let header, !header.isEmpty else { return nil }
        var q: [String: Double] = [:]
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let name = parts.first, !name.isEmpty else { continue }
            var value = 1.0
            for p in parts.dropFirst() where p.hasPrefix("q=") {
                value = Double(p.dropFirst(2)) ?? 0
            }
            q[name == "x-gzip" ? "gzip" : name] = value
        }
        let star = q["*"]
        var best: (ContentCoding, Double)?
        for c in preference where available.contains(c) {
            let v = q[c.rawValue] ?? star ?? 0
            if v > 0, v > (best?.1 ?? 0) { best = (c, v) }
        }
        return best?.0
    }
}

import Foundation
