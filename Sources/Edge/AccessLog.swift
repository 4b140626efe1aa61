import Foundation
import HTTPCaching
import HTTPServer
import NIOCore
import Synchronization

/// One line per request, nginx's combined format plus the cache outcome and the time taken:
/// `127.0.0.1 - - [26/Nov/2026:06:20:00 +0000] "GET /a.css HTTP/1.1" 200 1470 "-" "curl/8" HIT 0.000`,
/// then the site on an edge with `[[sites]]`.
/// Each event loop appends its lines as bytes to a buffer of its own (a lock nobody else takes
/// but the writer, a few times a second); a thread of its own writes the buffers out, at
/// least every 100 ms, in one write each. A buffer holds at most `maxPending` bytes: when the
/// writer falls behind (a slow disk) or the disk fails (full), lines are dropped and counted,
/// and requests are served as before. `reopen()` (SIGUSR1, nginx's convention) opens the file
/// again by its path, for log rotation.
public final class AccessLog: Sendable {
    fileprivate struct Pending {
        var bytes = ByteBuffer()
        var dropped = 0
        /// The date text of `second`, made once a second per loop.
        var second: Int64 = .min
        var date = ""
        /// The writer was woken for this buffer's size.
        var signalled = false
    }

    /// One event loop's lines.
    final class Shard: Sendable {
        fileprivate let pending = Mutex(Pending())
    }

    private let shards: Mutex<[ObjectIdentifier: Shard]> = Mutex([:])
    private let wake = DispatchSemaphore(value: 0)
    private let path: String
    /// The file descriptor written to; swapped by `reopen`.
    private let fd: Mutex<Int32>
    private let running = Atomic<Bool>(true)
    private let done = DispatchSemaphore(value: 0)
    private let onDrop: @Sendable (Int) -> Void
    /// Bytes waiting per event loop at most; lines beyond are dropped.
    static let maxPending = 8 << 20
    /// A loop's buffer this full wakes the writer before its next round.
    static let wakeAt = 256 << 10
    /// Longest request target written; longer ones are cut (clients choose them).
    static let maxTarget = 2_048

    /// Opens (appending) `path`, or standard output for `-`. `onDrop` hears how many lines
    /// could not be written.
    public init(path: String, onDrop: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        self.path = path
        self.onDrop = onDrop
        if path == "-" {
            fd = Mutex(1)
        } else {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard let opened = Self.open(path) else {
                throw EdgeStartError("cannot open the access log \(path) for appending (\(String(cString: strerror(errno)))); check access_log and the folder's permissions")
            }
            fd = Mutex(opened)
        }
        Thread.detachNewThread { [self] in writer() }
    }

    private static func open(_ path: String) -> Int32? {
        let f = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        return f >= 0 ? f : nil
    }

    /// The buffer of the event loop `loop` (asked once per connection).
    func shard(for loop: any EventLoop) -> Shard {
        shards.withLock { s in
            let id = ObjectIdentifier(loop)
            if let shard = s[id] { return shard }
            let shard = Shard()
            s[id] = shard
            return shard
        }
    }

    /// Appends one request's line to `shard`.
    func append(to shard: Shard, client: String?, method: String, target: String, version: String, status: Int, bytes: Int,
                referer: String?, userAgent: String?, outcome: Outcome, seconds: Double, now: Double, site: String? = nil) {
        let wakeWriter = shard.pending.withLock { p -> Bool in
            guard p.bytes.readableBytes < Self.maxPending, running.load(ordering: .relaxed) else {
                p.dropped += 1
                return false
            }
            let whole = Self.second(now)
            if whole != p.second {
                p.second = whole
                p.date = Self.clfDate(Double(whole))
            }
            Self.write(into: &p.bytes, client: client, method: method, target: target, version: version, status: status, bytes: bytes,
                       referer: referer, userAgent: userAgent, outcome: outcome, seconds: seconds, date: p.date, site: site)
            p.bytes.writeStaticString("\n")
            guard !p.signalled, p.bytes.readableBytes >= Self.wakeAt else { return false }
            p.signalled = true
            return true
        }
        if wakeWriter { wake.signal() }
    }

    /// Opens the file again by its path (after a rotation moved the old one away).
    public func reopen() {
        guard path != "-", running.load(ordering: .sequentiallyConsistent), let new = Self.open(path) else { return }
        let old = fd.withLock { f -> Int32 in
            defer { f = new }
            return f
        }
        if old > 2 { Glibc.close(old) }
    }

    private func writer() {
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(100))
            // Read before the drain: a close seen here still gets this last drain.
            let stopping = !running.load(ordering: .sequentiallyConsistent)
            let all = shards.withLock { Array($0.values) }
            var dropped = 0
            for shard in all {
                let (bytes, lost) = shard.pending.withLock { p -> (ByteBuffer, Int) in
                    defer {
                        p.bytes = ByteBuffer()
                        p.dropped = 0
                        p.signalled = false
                    }
                    return (p.bytes, p.dropped)
                }
                dropped += lost
                if bytes.readableBytes > 0, !write(bytes) {
                    dropped += bytes.readableBytesView.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                }
            }
            if dropped > 0 { onDrop(dropped) }
            if stopping { break }
        }
        done.signal()
    }

    /// Writes all of `bytes`; false when the file refuses them (ENOSPC, EIO, …).
    private func write(_ bytes: ByteBuffer) -> Bool {
        fd.withLock { f in
            bytes.withUnsafeReadableBytes { FileDescriptorWrite.all(f, $0) }
        }
    }

    /// Writes what is waiting and stops the writer.
    public func close() {
        // Once: a second close must not wait for a writer that has gone.
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        wake.signal()
        done.wait()
        let f = fd.withLock { f -> Int32 in
            defer { f = -1 }
            return f
        }
        if f > 2 { Glibc.close(f) }
    }

    /// One line, without its newline (tests; the log appends with `append`).
    static func line(client: String?, method: String, target: String, version: String, status: Int, bytes: Int,
                     referer: String?, userAgent: String?, outcome: Outcome, seconds: Double, now: Double, site: String? = nil) -> String {
        var b = ByteBuffer()
        write(into: &b, client: client, method: method, target: target, version: version, status: status, bytes: bytes, referer: referer,
              userAgent: userAgent, outcome: outcome, seconds: seconds, date: clfDate(now), site: site)
        return String(buffer: b)
    }

    /// Appended piece by piece as bytes: no formatter, no interpolation, no string per line.
    static func write(into b: inout ByteBuffer, client: String?, method: String, target: String, version: String, status: Int, bytes: Int,
                      referer: String?, userAgent: String?, outcome: Outcome, seconds: Double, date: String, site: String? = nil) {
        b.writeString(client ?? "-")
        b.writeStaticString(" - - [")
        b.writeString(date)
        b.writeStaticString("] \"")
        writeEscaped(&b, method, max: 64)
        b.writeStaticString(" ")
        writeEscaped(&b, target, max: maxTarget)
        b.writeStaticString(" ")
        b.writeString(version)
        b.writeStaticString("\" ")
        writeInteger(&b, status)
        b.writeStaticString(" ")
        writeInteger(&b, bytes)
        b.writeStaticString(" \"")
        writeEscaped(&b, referer ?? "-", max: maxField)
        b.writeStaticString("\" \"")
        writeEscaped(&b, userAgent ?? "-", max: maxField)
        b.writeStaticString("\" ")
        b.writeString(outcome.logWord)
        b.writeStaticString(" ")
        b.writeString(secondsText(seconds))
        // With `[[sites]]`, the site last (a name of [a-z0-9_-]; none for a 421).
        if let site {
            b.writeStaticString(" ")
            b.writeString(site)
        }
    }

    private static func writeInteger(_ b: inout ByteBuffer, _ n: Int) {
        if n >= 0, n < 10 {
            b.writeInteger(UInt8(ascii: "0") + UInt8(n))
        } else {
            b.writeString(String(n))
        }
    }

    /// `text` as `escaped` gives it, without making a string when nothing needs escaping.
    private static func writeEscaped(_ b: inout ByteBuffer, _ text: String, max: Int) {
        let bytes = text.utf8
        if bytes.count <= max, !bytes.contains(where: needsEscape) {
            b.writeString(text)
        } else {
            b.writeString(escaped(text, max: max))
        }
    }

    private static func needsEscape(_ c: UInt8) -> Bool { c < 0x20 || c == 0x7F || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") }

    /// Seconds with three decimals (`0.004`), "-" when not a number.
    static func secondsText(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        let ms = Int((max(0, min(seconds, 1e9)) * 1000).rounded())
        let frac = ms % 1000
        return String(ms / 1000) + (frac < 10 ? ".00" : frac < 100 ? ".0" : ".") + String(frac)
    }

    private static func second(_ t: Double) -> Int64 {
        Int64(t.isFinite ? max(-62_135_596_800, min(t, 253_402_300_799)) : 0)
    }

    /// Longest Referer or User-Agent written.
    static let maxField = 512

    /// A client's text as one safe log field: cut at `max` bytes (marked `...`), quotes,
    /// backslashes and control characters escaped as `\xHH` (nginx's escaping), so a line
    /// is one line and a terminal showing it runs nothing.
    static func escaped(_ s: String, max: Int) -> String {
        let bytes = s.utf8
        guard bytes.contains(where: needsEscape) || bytes.count > max else { return s }
        var out = ""
        for b in bytes.prefix(max) {
            if needsEscape(b) {
                let hex = String(b, radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(b))
            }
        }
        // Bytes above 0x7F were appended one by one; read the cut text back as UTF-8.
        let text = String(decoding: out.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }, as: UTF8.self)
        return bytes.count > max ? text + "..." : text
    }

    /// `26/Nov/2026:06:20:00 +0000`, from the HTTP date (same fields, other order).
    static func clfDate(_ t: Double) -> String {
        let p = HTTPDate.format(Double(second(t))).split(separator: " ")  // Thu, 26 Nov 2026 06:20:00 GMT
        guard p.count == 6 else { return "-" }
        return "\(p[1])/\(p[2])/\(p[3]):\(p[4]) +0000"
    }
}
