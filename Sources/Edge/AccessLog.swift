import Foundation
import HTTPCaching
import Synchronization

/// One line per request, nginx's combined format plus the cache outcome and the time taken:
/// `127.0.0.1 - - [26/Nov/2026:06:20:00 +0000] "GET /a.css HTTP/1.1" 200 1470 "-" "curl/8" HIT 0.000`.
/// Lines are queued on the event loop and written by a thread of their own, in batches.
public final class AccessLog: Sendable {
    private let queue = Mutex<[String]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let handle: FileHandle
    private let running = Atomic<Bool>(true)
    private let done = DispatchSemaphore(value: 0)

    /// Opens (appending) `path`, or standard output for `-`.
    public init(path: String) throws {
        if path == "-" {
            handle = .standardOutput
        } else {
            if !FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw EdgeStartError("cannot create the access log \(path); check access_log and the folder's permissions")
                }
            }
            guard let h = FileHandle(forWritingAtPath: path) else {
                throw EdgeStartError("cannot open the access log \(path) for writing; check its permissions")
            }
            h.seekToEndOfFile()
            handle = h
        }
        Thread.detachNewThread { [self] in writer() }
    }

    func append(_ line: String) {
        queue.withLock { $0.append(line) }
        wake.signal()
    }

    private func writer() {
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(200))
            let lines = queue.withLock { q -> [String] in
                defer { q.removeAll(keepingCapacity: true) }
                return q
            }
            if !lines.isEmpty { handle.write(Data((lines.joined(separator: "\n") + "\n").utf8)) }
            if !running.load(ordering: .relaxed) && queue.withLock({ $0.isEmpty }) { break }
        }
        done.signal()
    }

    /// Writes what is queued and stops the writer.
    public func close() {
        running.store(false, ordering: .relaxed)
        wake.signal()
        done.wait()
    }

    static func line(client: String?, method: String, target: String, version: String, status: Int, bytes: Int,
                     referer: String?, userAgent: String?, outcome: Outcome, seconds: Double, now: Double) -> String {
        func quoted(_ s: String?) -> String { "\"\((s ?? "-").replacingOccurrences(of: "\"", with: "\\\""))\"" }
        return "\(client ?? "-") - - [\(clfDate(now))] \"\(method) \(target) \(version)\" \(status) \(bytes) \(quoted(referer)) \(quoted(userAgent)) \(outcome.logWord) \(String(format: "%.3f", seconds))"
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `26/Nov/2026:06:20:00 +0000`, from the HTTP date (same fields, other order).
    static func clfDate(_ t: Double) -> String {
        let p = HTTPDate.format(t).split(separator: " ")  // Thu, 26 Nov 2026 06:20:00 GMT
        return "\(p[1])/\(p[2])/\(p[3]):\(p[4]) +0000"
    }
}
