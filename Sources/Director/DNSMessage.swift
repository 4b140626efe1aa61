import Topology

/// A DNS message (RFC 1035 §4) with EDNS(0) (RFC 6891) and Client Subnet (RFC 7871): parsing
/// with compression pointers, encoding with name compression. Pure.
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16 = 0
    public var isResponse = false
    public var opcode: UInt8 = 0
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    public var rcode: UInt8 = 0
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []
    /// The OPT pseudo-record, kept apart from `additional`.
    public var edns: EDNS?

    public init() {}

    public enum RCode {
        public static let noError: UInt8 = 0, formErr: UInt8 = 1, servFail: UInt8 = 2, nxDomain: UInt8 = 3, notImp: UInt8 = 4, refused: UInt8 = 5
        /// RFC 6891 §6.1.3: 16, carried as 1 in the OPT record's extended RCODE (upper 8 bits)
        /// and 0 in the header.
        public static let badVersExtended: UInt8 = 1
    }

    public enum RRType {
        public static let a: UInt16 = 1, ns: UInt16 = 2, soa: UInt16 = 6, aaaa: UInt16 = 28, opt: UInt16 = 41, any: UInt16 = 255
    }
}

public struct DNSQuestion: Sendable, Equatable {
    public var name: DNSName
    public var type: UInt16
    public var qclass: UInt16
    public init(name: DNSName, type: UInt16, qclass: UInt16 = 1) {
        self.name = name
        self.type = type
        self.qclass = qclass
    }
}

public struct DNSRecord: Sendable, Equatable {
    public var name: DNSName
    public var type: UInt16
    public var rclass: UInt16 = 1
    public var ttl: UInt32
    public var data: RData

    public init(name: DNSName, ttl: UInt32, data: RData) {
        self.name = name
        self.ttl = ttl
        self.data = data
        switch data {
        case .a: type = DNSMessage.RRType.a
        case .aaaa: type = DNSMessage.RRType.aaaa
        case .ns: type = DNSMessage.RRType.ns
        case .soa: type = DNSMessage.RRType.soa
        case .raw(let t, _): type = t
        }
    }

    public enum RData: Sendable, Equatable {
        case a(IPAddress)
        case aaaa(IPAddress)
        case ns(DNSName)
        case soa(mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32, minimum: UInt32)
        case raw(type: UInt16, bytes: [UInt8])
    }
}

/// EDNS(0) from the OPT record, and the Client Subnet option.
public struct EDNS: Sendable, Equatable {
    public var udpPayloadSize: UInt16 = 1232
    public var version: UInt8 = 0
    /// The upper 8 bits of a 12-bit RCODE (RFC 6891 §6.1.3).
    public var extendedRCode: UInt8 = 0
    public var dnssecOK = false
    public var clientSubnet: ClientSubnet?
    public init(udpPayloadSize: UInt16 = 1232, clientSubnet: ClientSubnet? = nil) {
        self.udpPayloadSize = udpPayloadSize
        self.clientSubnet = clientSubnet
    }
}

public struct ClientSubnet: Sendable, Equatable {
    public var sourcePrefix: UInt8
    public var scopePrefix: UInt8
    public var address: IPAddress
    public init(sourcePrefix: UInt8, scopePrefix: UInt8, address: IPAddress) {
        self.sourcePrefix = sourcePrefix
        self.scopePrefix = scopePrefix
        self.address = address
    }
    public var subnet: CIDR { CIDR(network: address, prefix: Int(sourcePrefix)) }
}

/// A domain name as its labels, in the letter case they were written in: answers echo the
/// question's case (resolvers check it, the "0x20" defence against spoofing), while names
/// compare and hash ignoring ASCII case (RFC 4343). A label read off the wire keeps every byte:
/// each byte is one Unicode scalar (Latin-1), so writing it back gives the same bytes.
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    public var labels: [String]
    public init(labels: [String]) { self.labels = labels }
    public init(_ text: String) {
        self.init(labels: text.split(separator: ".").map(String.init))
    }
    public var description: String { labels.isEmpty ? "." : labels.joined(separator: ".") + "." }

    /// The labels with ASCII letters lower-cased, for comparing.
    public var folded: [String] { labels.map(DNSName.fold) }

    static func fold(_ label: String) -> String {
        String(String.UnicodeScalarView(label.unicodeScalars.map { (0x41...0x5A).contains($0.value) ? Unicode.Scalar($0.value + 32) ?? $0 : $0 }))
    }

    public static func == (a: DNSName, b: DNSName) -> Bool { a.folded == b.folded }
    public func hash(into h: inout Hasher) { h.combine(folded) }

    /// Whether this name is `zone` or below it.
    public func isWithin(_ zone: DNSName) -> Bool {
        labels.count >= zone.labels.count && Array(folded.suffix(zone.labels.count)) == zone.folded
    }

    /// A label's bytes as read off the wire, one scalar each.
    static func label(_ bytes: ArraySlice<UInt8>) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// A label's bytes for the wire (scalars above 0xFF, only possible in names from
    /// configuration, are written as UTF-8), at most 63.
    static func wire(_ label: String) -> [UInt8] {
        var out: [UInt8] = []
        for s in label.unicodeScalars {
            if s.value <= 0xFF { out.append(UInt8(s.value)) } else { out += Array(String(s).utf8) }
        }
        return Array(out.prefix(63))
    }
}

public enum DNSParseError: Error, Equatable {
    /// Too short for a header: drop it.
    case noHeader
    /// The header was readable (answer FORMERR with this id) but the rest was not.
    case malformed(id: UInt16, reason: String)
}

// MARK: parsing

extension DNSMessage {
    public static func parse(_ bytes: [UInt8]) throws(DNSParseError) -> DNSMessage {
        guard bytes.count >= 12 else { throw .noHeader }
        var r = Reader(bytes: bytes, offset: 0)
        var m = DNSMessage()
        do {
            m.id = try r.u16()
            let flags = try r.u16()
            m.isResponse = flags & 0x8000 != 0
            m.opcode = UInt8((flags >> 11) & 0xF)
            m.authoritative = flags & 0x0400 != 0
            m.truncated = flags & 0x0200 != 0
            m.recursionDesired = flags & 0x0100 != 0
            m.recursionAvailable = flags & 0x0080 != 0
            m.rcode = UInt8(flags & 0xF)
            let qd = try r.u16(), an = try r.u16(), ns = try r.u16(), ar = try r.u16()
            guard qd <= 16 else { throw ReadError("\(qd) questions") }
            // A query carries a question and an OPT record; a few more are tolerated, thousands
            // (each a name to decompress) are not a query.
            guard m.isResponse || Int(an) + Int(ns) + Int(ar) <= 16 else { throw ReadError("\(Int(an) + Int(ns) + Int(ar)) records besides the questions") }
            for _ in 0..<qd {
                m.questions.append(DNSQuestion(name: try r.name(), type: try r.u16(), qclass: try r.u16()))
            }
            for _ in 0..<an { m.answers.append(try r.record()) }
            for _ in 0..<ns { m.authority.append(try r.record()) }
            for _ in 0..<ar {
                let start = r.offset
                let rec = try r.record()
                if rec.type == RRType.opt {
                    guard m.edns == nil else { throw ReadError("two OPT records") }
                    r.offset = start
                    m.edns = try r.opt()
                } else {
                    m.additional.append(rec)
                }
            }
        } catch let e as ReadError {
            throw .malformed(id: m.id, reason: e.reason)
        } catch {
            throw .malformed(id: m.id, reason: "\(error)")
        }
        return m
    }

    struct ReadError: Error {
        var reason: String
        init(_ r: String) { reason = r }
    }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int

        mutating func u8() throws -> UInt8 {
            guard offset < bytes.count else { throw ReadError("truncated message") }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func u16() throws -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
        mutating func u32() throws -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }
        mutating func take(_ n: Int) throws -> [UInt8] {
            guard n >= 0, offset + n <= bytes.count else { throw ReadError("truncated message") }
            defer { offset += n }
            return Array(bytes[offset..<(offset + n)])
        }

        /// A name, following compression pointers (§4.1.4) only backwards, at most 64 hops.
        mutating func name() throws -> DNSName {
            var labels: [String] = []
            var pos = offset
            var jumped = false
            var hops = 0
            var total = 0
            while true {
                guard pos < bytes.count else { throw ReadError("truncated name") }
                let len = bytes[pos]
                if len & 0xC0 == 0xC0 {
                    guard pos + 1 < bytes.count else { throw ReadError("truncated pointer") }
                    let target = Int(len & 0x3F) << 8 | Int(bytes[pos + 1])
                    guard target < pos, hops < 64 else { throw ReadError("bad compression pointer") }
                    if !jumped { offset = pos + 2 }
                    jumped = true
                    hops += 1
                    pos = target
                    continue
                }
                guard len & 0xC0 == 0 else { throw ReadError("bad label type") }
                if len == 0 {
                    if !jumped { offset = pos + 1 }
                    return DNSName(labels: labels)
                }
                let end = pos + 1 + Int(len)
                guard end <= bytes.count else { throw ReadError("truncated label") }
                total += Int(len) + 1
                guard total <= 255 else { throw ReadError("name longer than 255 bytes") }
                labels.append(DNSName.label(bytes[(pos + 1)..<end]))
                pos = end
            }
        }

        mutating func record() throws -> DNSRecord {
            let name = try name()
            let type = try u16(), cls = try u16(), ttl = try u32(), len = Int(try u16())
            guard offset + len <= bytes.count else { throw ReadError("truncated record data") }
            let dataStart = offset
            var data: DNSRecord.RData
            switch type {
            case DNSMessage.RRType.a where len == 4:
                guard let ip = IPAddress(bytes: try take(4)) else { throw ReadError("bad A record") }
                data = .a(ip)
            case DNSMessage.RRType.aaaa where len == 16:
                guard let ip = IPAddress(bytes: try take(16)) else { throw ReadError("bad AAAA record") }
                data = .aaaa(ip)
            case DNSMessage.RRType.ns: data = .ns(try self.name())
            case DNSMessage.RRType.soa:
                data = .soa(mname: try self.name(), rname: try self.name(), serial: try u32(), refresh: try u32(), retry: try u32(), expire: try u32(), minimum: try u32())
            default: data = .raw(type: type, bytes: try take(len))
            }
            guard offset == dataStart + len else { throw ReadError("record data length does not match its type") }
            var r = DNSRecord(name: name, ttl: ttl, data: data)
            r.rclass = cls
            return r
        }

        mutating func opt() throws -> EDNS {
            let name = try name()
            guard name.labels.isEmpty else { throw ReadError("OPT record not at the root name") }
            _ = try u16()
            var e = EDNS(udpPayloadSize: try u16())
            let ttl = try u32()
            e.extendedRCode = UInt8((ttl >> 24) & 0xFF)
            e.version = UInt8((ttl >> 16) & 0xFF)
            e.dnssecOK = ttl & 0x8000 != 0
            let len = Int(try u16())
            let end = offset + len
            guard end <= bytes.count else { throw ReadError("truncated OPT") }
            while offset < end {
                let code = try u16(), optLen = Int(try u16())
                guard offset + optLen <= end else { throw ReadError("truncated EDNS option") }
                let body = try take(optLen)
                guard code == 8 else { continue }  // RFC 7871 Client Subnet
                guard body.count >= 4 else { throw ReadError("short Client Subnet option") }
                let family = UInt16(body[0]) << 8 | UInt16(body[1])
                let source = body[2], scope = body[3]
                let width = family == 1 ? 4 : family == 2 ? 16 : 0
                guard width > 0, Int(source) <= width * 8, Int(scope) <= width * 8 else { throw ReadError("bad Client Subnet option") }
                let addressBytes = Array(body.dropFirst(4))
                guard addressBytes.count == (Int(source) + 7) / 8 else { throw ReadError("Client Subnet address length does not match its prefix") }
                let full = addressBytes + [UInt8](repeating: 0, count: width - addressBytes.count)
                guard let address = IPAddress(bytes: full) else { throw ReadError("bad Client Subnet address") }
                e.clientSubnet = ClientSubnet(sourcePrefix: source, scopePrefix: scope, address: address.masked(to: Int(source)))
            }
            return e
        }
    }
}

// MARK: encoding

extension DNSMessage {
    public func encode() -> [UInt8] {
        var w = Writer()
        w.u16(id)
        var flags: UInt16 = 0
        if isResponse { flags |= 0x8000 }
        flags |= UInt16(opcode & 0xF) << 11
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        flags |= UInt16(rcode & 0xF)
        w.u16(flags)
        w.u16(UInt16(clamping: questions.count))
        w.u16(UInt16(clamping: answers.count))
        w.u16(UInt16(clamping: authority.count))
        w.u16(UInt16(clamping: additional.count + (edns == nil ? 0 : 1)))
        for q in questions {
            w.name(q.name)
            w.u16(q.type)
            w.u16(q.qclass)
        }
        for r in answers + authority + additional { w.record(r) }
        if let e = edns { w.opt(e) }
        return w.bytes
    }

    struct Writer {
        var bytes: [UInt8] = []
        var names: [[String]: Int] = [:]

        mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }

        /// Writes a name, pointing at an earlier copy of its longest known suffix.
        mutating func name(_ n: DNSName) {
            var labels = n.labels[...]
            while !labels.isEmpty {
                if let at = names[Array(labels)] {
                    u16(0xC000 | UInt16(at))
                    return
                }
                if bytes.count < 0x3FFF { names[Array(labels)] = bytes.count }
                guard let first = labels.first else { break }
                let label = DNSName.wire(first)
                bytes.append(UInt8(label.count))
                bytes += label
                labels = labels.dropFirst()
            }
            bytes.append(0)
        }

        mutating func record(_ r: DNSRecord) {
            name(r.name)
            u16(r.type)
            u16(r.rclass)
            u32(r.ttl)
            let lengthAt = bytes.count
            u16(0)
            switch r.data {
            case .a(let ip), .aaaa(let ip): bytes += ip.bytes
            case .ns(let n): name(n)
            case let .soa(mname, rname, serial, refresh, retry, expire, minimum):
                name(mname)
                name(rname)
                for v in [serial, refresh, retry, expire, minimum] { u32(v) }
            case .raw(_, let b): bytes += b
            }
            let len = min(bytes.count - lengthAt - 2, 0xFFFF)
            bytes[lengthAt] = UInt8(truncatingIfNeeded: len >> 8)
            bytes[lengthAt + 1] = UInt8(truncatingIfNeeded: len)
        }

        mutating func opt(_ e: EDNS) {
            bytes.append(0)
            u16(DNSMessage.RRType.opt)
            u16(e.udpPayloadSize)
            u32(UInt32(e.extendedRCode) << 24 | UInt32(e.version) << 16 | (e.dnssecOK ? 0x8000 : 0))
            var options: [UInt8] = []
            if let cs = e.clientSubnet {
                let family: UInt16 = cs.address.isIPv4 ? 1 : 2
                let addr = Array(cs.address.masked(to: Int(cs.sourcePrefix)).bytes.prefix((Int(cs.sourcePrefix) + 7) / 8))
                let len = 4 + addr.count
                options += [0, 8, UInt8(len >> 8), UInt8(len & 0xFF), UInt8(family >> 8), UInt8(family & 0xFF), cs.sourcePrefix, cs.scopePrefix] + addr
            }
            u16(UInt16(options.count))
            bytes += options
        }
    }
}
