import Foundation

/// Sizes written as `512B`, `64KiB`, `64MiB`, `1GiB` (binary units; a bare number is bytes).
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let s = text.filter { $0 != " " && $0 != "_" }
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let n = Double(s.dropLast(suffix.count)), n >= 0, n * Double(factor) < 9e18 else { return nil }
            return Int(n * Double(factor))
        }
        return Int(s).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// For people: `980 B`, `2.9 KiB`, `14.2 MiB`.
    public static func human(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[i])
    }

    public static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)GiB" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10)KiB" }
        return "\(bytes)B"
    }
}

/// `HOST:PORT`, with IPv6 hosts in brackets.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (0...65535).contains(p) else { return nil }
            port = p
        } else {
            guard let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]), (0...65535).contains(p),
                  !text[..<colon].isEmpty, !text[..<colon].contains(":")
            else { return nil }
            host = String(text[..<colon])
            port = p
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    /// `http://HOST:PORT`
    public var httpURL: String { "http://\(description)" }
}
