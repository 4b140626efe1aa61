import Foundation
import HTTPCaching
import HTTPServer
import Synchronization

/// One line per request, nginx's combined format plus the cache outcome and the time taken:
/// `127.0.0.1 - - [26/Nov/2026:06:20:00 +0000] "GET /a.css HTTP/1.1" 200 1470 "-" "curl/8" HIT 0.000`.
/// Lines are queued on the event loop and written by a thread of their own, in batches. The
/// queue is bounded: when the writer falls behind (a slow disk) or the disk fails (full), lines
/// are dropped and counted, and requests are served as before. `reopen()` (SIGUSR1, nginx's
/// convention) opens the file again by its path, for log rotation.
public final class AccessLog: Sendable {
    private struct Queue {
        var lines: [String] = []
        var dropped = 0
    }

    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)
    private let path: String
    /// The file descriptor written to; swapped by `reopen`.
    private let fd: Mutex<Int32>
    private let running = Atomic<Bool>(true)
    private let done = DispatchSemaphore(value: 0)
    private let onDrop: @Sendable (Int) -> Void
    /// Lines waiting at most; more are dropped.
    static let maxQueued = 65_536
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

    func append(_ line: String) {
        // Woken once when the queue stops being empty, not once per line.
        let wasEmpty = queue.withLock { q -> Bool in
            guard q.lines.count < Self.maxQueued else {
                q.dropped += 1
                return false
            }
            q.lines.append(line)
            return q.lines.count == 1
        }
        if wasEmpty { wake.signal() }
    }

    /// Opens the file again by its path (after a rotation moved the old one away).
    public func reopen() {
        guard path != "-", let new = Self.open(path) else { return }
        let old = fd.withLock { f -> Int32 in
            defer { f = new }
            return f
        }
        if old > 2 { Glibc.close(old) }
    }

    private func writer() {
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(200))
            let (lines, droppedInQueue) = queue.withLock { q -> ([String], Int) in
                defer {
                    q.lines.removeAll(keepingCapacity: true)
                    q.dropped = 0
                }
                return (q.lines, q.dropped)
            }
            var dropped = droppedInQueue
            if !lines.isEmpty, !write(lines.joined(separator: "\n") + "\n") { dropped += lines.count }
            if dropped > 0 { onDrop(dropped) }
            if !running.load(ordering: .relaxed) && queue.withLock({ $0.lines.isEmpty }) { break }
        }
        done.signal()
    }

    /// Writes all of `text`; false when the file refuses it (ENOSPC, EIO, …).
    private func write(_ text: String) -> Bool {
        fd.withLock { FileDescriptorWrite.all($0, text) }
    }

    /// Writes what is queued and stops the writer.
    public func close() {
        running.store(false, ordering: .relaxed)
        wake.signal()
        done.wait()
        let f = fd.withLock { $0 }
        if f > 2 { Glibc.close(f) }
    }

    static func line(client: String?, method: String, target: String, version: String, status: Int, bytes: Int,
                     referer: String?, userAgent: String?, outcome: Outcome, seconds: Double, now: Double) -> String {
        // Appended piece by piece into one reserved string: no formatter, no interpolation, the
        // date made once a second (a line is written for every hit).
        var s = ""
        s.reserveCapacity(128 + min(target.utf8.count, maxTarget) + (userAgent?.utf8.count ?? 1) + (referer?.utf8.count ?? 1))
        s += client ?? "-"
        s += " - - ["
        s += clfDate(now)
        s += "] \""
        s += escaped(method, max: 64)
        s += " "
        s += escaped(target, max: maxTarget)
        s += " "
        s += version
        s += "\" "
        s += String(status)
        s += " "
        s += String(bytes)
        s += " \""
        s += escaped(referer ?? "-", max: maxField)
        s += "\" \""
        s += escaped(userAgent ?? "-", max: maxField)
        s += "\" "
        s += outcome.logWord
        s += " "
        s += secondsText(seconds)
        return s
    }

    /// Seconds with three decimals (`0.004`), "-" when not a number.
    static func secondsText(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        let ms = Int((max(0, min(seconds, 1e9)) * 1000).rounded())
        let frac = ms % 1000
        return String(ms / 1000) + (frac < 10 ? ".00" : frac < 100 ? ".0" : ".") + String(frac)
    }

    /// Longest Referer or User-Agent written.
    static let maxField = 512

    /// A client's text as one safe log field: cut at `max` bytes (marked `...`), quotes,
    /// backslashes and control characters escaped as `\xHH` (nginx's escaping), so a line
    /// is one line and a terminal showing it runs nothing.
    static func escaped(_ s: String, max: Int) -> String {
        let bytes = s.utf8
        guard bytes.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) || bytes.count > max else { return s }
        var out = ""
        for b in bytes.prefix(max) {
            if b < 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
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

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `26/Nov/2026:06:20:00 +0000`, from the HTTP date (same fields, other order), made at
    /// most once a second.
    static func clfDate(_ t: Double) -> String {
        let whole = Int64(t.isFinite ? max(-62_135_596_800, min(t, 253_402_300_799)) : 0)
        return clfCache.withLock { c in
            if c.second != whole || c.text.isEmpty {
                let p = HTTPDate.format(Double(whole)).split(separator: " ")  // Thu, 26 Nov 2026 06:20:00 GMT
                c = (whole, p.count == 6 ? "\(p[1])/\(p[2])/\(p[3]):\(p[4]) +0000" : "-")
            }
            return c.text
        }
    }

    private static let clfCache = Mutex<(second: Int64, text: String)>((0, ""))
}
