import Foundation

/// A deliberately simple HTTP/1.1 client over a blocking POSIX socket, so tests can send bytes
/// exactly as written (hostile targets, pipelined requests, absolute-form) and see exactly what
/// came back, including a response that was cut off.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The body ended before its declared length (or chunked end): a broken response.
    public var truncated: Bool

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public func headers(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var cacheStatus: String { header("cache-status") ?? "" }
}

public enum RawHTTPError: Error, CustomStringConvertible {
    case connect(String, Int32)
    case closedBeforeHead(String)
    case timeout
    public var description: String {
        switch self {
        case .connect(let to, let e): "cannot connect to \(to): \(String(cString: strerror(e)))"
        case .closedBeforeHead(let got): "connection closed before a response head; got \(got.prefix(200).debugDescription)"
        case .timeout: "timed out"
        }
    }
}

public final class RawConnection: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []

    /// `from`: the local address to connect from (127.0.0.0/8 is all this machine's, so tests
    /// can be several clients).
    public init(host: String, port: Int, timeout: Double = 10, from: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError.connect("\(host):\(port)", errno) }
        if let from {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, from, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 { throw RawHTTPError.connect("\(host):\(port) from \(from)", errno) }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int32((timeout - Double(Int(timeout))) * 1e6).asSuseconds)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok != 0 {
            // No close here: the object is fully initialised, so deinit runs and closes it.
            // Closing twice would close whatever another thread opened under the same number.
            throw RawHTTPError.connect("\(host):\(port)", errno)
        }
    }

    deinit { close(fd) }

    /// Waits for the server to close the connection (EOF or reset); false if it is still open
    /// after `timeout` seconds. Bytes that arrive meanwhile are kept.
    public func waitForClose(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            do {
                if try !fill() { return true }
            } catch RawHTTPError.timeout {
                continue
            } catch {
                return true
            }
        }
        return false
    }

    /// What has been read so far and not consumed.
    public var received: String { String(decoding: buffer, as: UTF8.self) }

    public func send(_ text: String) {
        send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads more bytes; false on EOF or error.
    @discardableResult
    func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw RawHTTPError.timeout }
        if n <= 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// Reads and discards up to `max` bytes (what is buffered first); the count, 0 on EOF.
    /// For clients that read slowly, or count a large body without keeping it.
    public func discard(max: Int) throws -> Int {
        if !buffer.isEmpty {
            let n = Swift.min(max, buffer.count)
            buffer.removeFirst(n)
            return n
        }
        var chunk = [UInt8](repeating: 0, count: Swift.min(max, 1 << 20))
        let n = recv(fd, &chunk, chunk.count, 0)
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw RawHTTPError.timeout }
        return Swift.max(0, n)
    }

    /// Reads the response head only (the body stays unread), with the bytes after it kept.
    public func readHead() throws -> (status: Int, headers: [(String, String)]) {
        while true {
            if let end = buffer.firstRange(of: [13, 10, 13, 10]) {
                let text = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeFirst(end.upperBound)
                var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
                let status = lines.isEmpty ? 0 : Int(lines.removeFirst().split(separator: " ").dropFirst().first ?? "") ?? 0
                let headers = lines.compactMap { l -> (String, String)? in
                    guard let c = l.firstIndex(of: ":") else { return nil }
                    return (String(l[..<c]), String(l[l.index(after: c)...]).trimmingCharacters(in: .whitespaces))
                }
                return (status, headers)
            }
            guard try fill() else { throw RawHTTPError.closedBeforeHead(received) }
        }
    }

    /// Reads bytes until at least `count` are buffered (or EOF); returns them without consuming.
    public func peek(atLeast count: Int) throws -> [UInt8] {
        while buffer.count < count, try fill() {}
        return buffer
    }

    /// Reads one response. `head` for a response to HEAD (no body).
    public func readResponse(head: Bool = false) throws -> RawResponse {
        var headEnd: Int?
        while headEnd == nil {
            if let r = findCRLFCRLF(buffer) { headEnd = r; break }
            guard try fill() else { throw RawHTTPError.closedBeforeHead(String(decoding: buffer, as: UTF8.self)) }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = Int(statusLine[1]) ?? 0
        let headers: [(String, String)] = lines.compactMap { line in
            guard let c = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces))
        }
        var r = RawResponse(status: status, headers: headers, body: [], truncated: false)
        if head || status == 304 || status == 204 || (100..<200).contains(status) { return r }
        if let cl = r.header("content-length").flatMap(Int.init) {
            while buffer.count < cl, try fill() {}
            r.truncated = buffer.count < cl
            let n = min(cl, buffer.count)
            r.body = Array(buffer[0..<n])
            buffer.removeFirst(n)
        } else if r.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                var lineEnd = findCRLF(buffer)
                while lineEnd == nil, try fill() { lineEnd = findCRLF(buffer) }
                guard let le = lineEnd else { r.truncated = true; break }
                let size = Int(String(decoding: buffer[0..<le], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
                buffer.removeFirst(le + 2)
                if size == 0 {
                    while findCRLF(buffer) == nil, try fill() {}
                    if let e = findCRLF(buffer) { buffer.removeFirst(e + 2) }
                    break
                }
                while buffer.count < size + 2, try fill() {}
                if buffer.count < size + 2 {
                    r.body += buffer.prefix(size)
                    r.truncated = true
                    buffer = []
                    break
                }
                r.body += buffer[0..<size]
                buffer.removeFirst(size + 2)
            }
        } else {
            while try fill() {}
            r.body = buffer
            buffer = []
        }
        return r
    }

    private func findCRLFCRLF(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }

    private func findCRLF(_ b: [UInt8]) -> Int? {
        guard b.count >= 2 else { return nil }
        for i in 0...(b.count - 2) where b[i] == 13 && b[i + 1] == 10 { return i }
        return nil
    }
}

extension Int32 {
    var asSuseconds: suseconds_t { suseconds_t(self) }
}

public enum RawHTTP {
    /// One request on a new connection. `target` is sent byte for byte.
    public static func request(
        _ method: String = "GET", _ target: String, port: Int, host: String = "127.0.0.1", headers: [String: String] = [:],
        body: String? = nil, timeout: Double = 10, from: String? = nil
    ) throws -> RawResponse {
        let c = try RawConnection(host: host, port: port, timeout: timeout, from: from)
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(headers["Host"] ?? "\(host):\(port)")\r\n"
        for (k, v) in headers where k != "Host" { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        c.send(text)
        return try c.readResponse(head: method == "HEAD")
    }

    /// Runs a blocking request off the cooperative pool.
    public static func async(
        _ method: String = "GET", _ target: String, port: Int, host: String = "127.0.0.1", headers: [String: String] = [:], body: String? = nil
    ) async throws -> RawResponse {
        try await withCheckedThrowingContinuation { cont in
            Thread.detachNewThread {
                cont.resume(with: Result { try request(method, target, port: port, host: host, headers: headers, body: body) })
            }
        }
    }
}
