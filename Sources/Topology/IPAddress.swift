/// An IPv4 or IPv6 address as its bytes (4 or 16, network order).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with `::`, and an IPv4 tail); an IPv4-mapped
    /// IPv6 address becomes IPv4.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if !s.contains(":") {
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var b: [UInt8] = []
            for p in parts {
                guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let v = UInt8(p) else { return nil }
                b.append(v)
            }
            bytes = b
            return
        }
        var head: [UInt16] = [], tail: [UInt16] = []
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if i == items.count - 1, item.contains("."), let v4 = IPAddress(item), v4.isIPv4 {
                    out.append(UInt16(v4.bytes[0]) << 8 | UInt16(v4.bytes[1]))
                    out.append(UInt16(v4.bytes[2]) << 8 | UInt16(v4.bytes[3]))
                } else {
                    guard !item.isEmpty, item.count <= 4, let v = UInt16(item, radix: 16) else { return nil }
                    out.append(v)
                }
            }
            return out
        }
        guard let h = groups(halves[0]) else { return nil }
        head = h
        if halves.count == 2 {
            guard let t = groups(halves[1]), head.count + t.count < 8 else { return nil }
            tail = t
        } else if head.count != 8 {
            return nil
        }
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        let b = all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            bytes = Array(b[12...])
        } else {
            bytes = b
        }
    }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // Longest run of zero groups becomes "::" (RFC 5952).
        var best = (start: -1, length: 0), i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > best.length && j - i > 1 { best = (i, j - i) }
                i = j
            } else { i += 1 }
        }
        let hex = groups.map { String($0, radix: 16) }
        if best.start < 0 { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }

    /// Who a client is for per-client limits: an IPv4 address, or the /64 of an IPv6 one (a
    /// single subscriber or host usually holds a whole /64 and can pick any address in it).
    public var clientKey: String {
        isIPv4 ? description : masked(to: 64).description + "/64"
    }

    /// The address with all but the first `prefix` bits cleared.
    public func masked(to prefix: Int) -> IPAddress {
        let prefix = max(0, min(prefix, bytes.count * 8))
        var b = bytes
        for i in 0..<b.count {
            let bitsHere = max(0, min(8, prefix - i * 8))
            b[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return IPAddress(bytes: b) ?? self
    }
}

/// A network in CIDR form, e.g. `10.1.0.0/16` or `2001:db8::/32`.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefix: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard let first = parts.first, parts.count <= 2, let address = IPAddress(first) else { return nil }
        let maxBits = address.bytes.count * 8
        var p = maxBits
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else { return nil }
            p = n
        }
        guard (0...maxBits).contains(p) else { return nil }
        network = address.masked(to: p)
        prefix = p
    }

    public init(network: IPAddress, prefix: Int) {
        let prefix = max(0, min(prefix, network.bytes.count * 8))
        self.network = network.masked(to: prefix)
        self.prefix = prefix
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.bytes.count == network.bytes.count && address.masked(to: prefix) == network
    }

    public var description: String { "\(network)/\(prefix)" }
}
