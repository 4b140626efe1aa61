import Dispatch
import Foundation
import HTTPServer

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
                    // Only end of file (or a real error) means the parent is gone: a signal
                    // (SIGCHLD when a supervised child exits) interrupts read with EINTR.
                    while true {
                        let n = read(0, &byte, 1)
                        if n > 0 || (n < 0 && errno == EINTR) { continue }
                        break
                    }
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

/// Standard error, line by line, for logs. Written with write(2) and errors ignored: a full disk
/// or a closed pipe under standard error must not stop a server (Foundation's FileHandle traps).
enum Log {
    static func line(_ s: String) { write(2, s + "\n") }

    static func write(_ fd: Int32, _ s: String) { FileDescriptorWrite.all(fd, s) }
}

/// Process-wide settings every `outpost` command starts with.
enum ProcessSetup {
    static func apply() {
        // A closed pipe under standard output or error must be an error to ignore, not a signal
        // that ends the process.
        signal(SIGPIPE, SIG_IGN)
        // Servers hold a descriptor per connection: take the hard limit, as nginx's
        // worker_rlimit_nofile would.
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Calls `handler` on every SIGUSR1 (log reopening).
    static func onSIGUSR1(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
        Retainer.keep([source as AnyObject])
    }
}

/// A failure the operator must act on (bad config, port in use): printed as is, without the
/// usage text that argument mistakes get.
struct OperatorError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
