import Dispatch
import Foundation

/// Waiting for the process to be told to stop: SIGINT, SIGTERM, or (for children of
/// `outpost up`) the parent going away, seen as end of file on standard input.
enum Lifecycle {
    /// Suspends until SIGINT or SIGTERM (or stdin EOF when `watchParent`); returns the reason.
    static func waitForStop(watchParent: Bool) async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if once.set() { continuation.resume(returning: sig == SIGINT ? "SIGINT" : "SIGTERM") }
                }
                source.resume()
                sources.append(source)
            }
            Retainer.keep(sources.map { $0 as AnyObject })
            if watchParent {
                Thread.detachNewThread {
                    var byte: UInt8 = 0
                    while read(0, &byte, 1) > 0 {}
                    if once.set() { continuation.resume(returning: "parent exited") }
                }
            }
        }
    }
}

final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    /// True the first time only.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}

/// Keeps signal sources alive for the life of the process.
enum Retainer {
    nonisolated(unsafe) private static var kept: [AnyObject] = []
    static func keep(_ objects: [AnyObject]) { kept += objects }
}

/// Standard error, line by line, for logs.
enum Log {
    static func line(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

/// A failure the operator must act on (bad config, port in use): printed as is, without the
/// usage text that argument mistakes get.
struct OperatorError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
