import Dispatch
import Foundation
import HTTPServer
import Logging
import ServiceLifecycle
import UnixSignals

/// How a server process lives (swift-service-lifecycle): started, then serving until SIGINT or
/// SIGTERM (or, for children of `outpost up`, the parent going away: end of file on standard
/// input), then stopped; SIGUSR1 on the way asks for the logs to be reopened.
enum Lifecycle {
    /// One server: `start` (a failure ends the process with its error), serve, `stop`.
    struct Server: Service {
        let start: @Sendable () async throws -> Void
        let stop: @Sendable () async -> Void
        func run() async throws {
            try await start()
            try? await gracefulShutdown()
            await stop()
        }
    }

    /// Returns when the parent process is gone, or the group shuts down.
    struct ParentWatch: Service {
        func run() async throws {
            await cancelWhenGracefulShutdown {
                let stream = AsyncStream<Void> { continuation in
                    Thread.detachNewThread {
                        var byte: UInt8 = 0
                        // Only end of file (or a real error) means the parent is gone: a signal
                        // (SIGCHLD when a supervised child exits) interrupts read with EINTR.
                        while true {
                            let n = read(0, &byte, 1)
                            if n > 0 || (n < 0 && errno == EINTR) { continue }
                            break
                        }
                        continuation.finish()
                    }
                }
                for await _ in stream {}
            }
        }
    }

    /// Calls `handler` on every SIGUSR1 until the group shuts down.
    struct OnSIGUSR1: Service {
        let handler: @Sendable () -> Void
        func run() async throws {
            await cancelWhenGracefulShutdown {
                for await _ in await UnixSignalsSequence(trapping: .sigusr1) { handler() }
            }
        }
    }

    /// Runs a server process to its end. `logger` names the process in the lifecycle's own lines.
    static func serve(_ server: Server, logger: Logger, watchParent: Bool, onSIGUSR1: (@Sendable () -> Void)? = nil) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: logger.label),
        ]
        if let onSIGUSR1 { services.append(.init(service: OnSIGUSR1(handler: onSIGUSR1), successTerminationBehavior: .ignore, serviceName: "SIGUSR1")) }
        // Last, so it is the first told to stop (the group stops services in reverse order): the
        // parent going away while the others stop is then no surprise to the group.
        if watchParent { services.append(.init(service: ParentWatch(), successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "parent watch")) }
        // The lifecycle's own messages only when asked for (OUTPOST_LOG_LEVEL=debug or trace).
        var quiet = logger
        if logger.logLevel > .debug { quiet.logLevel = max(logger.logLevel, .notice) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
    }
}

/// swift-log's handler for every `outpost` process: a line per event on standard error,
/// `[label] message` (the label is the process: an edge's name, `origin`, `director`), with
/// `warning:`/`error:` in front of the message at those levels and above. The level comes from
/// OUTPOST_LOG_LEVEL (trace, debug, info, notice, warning, error, critical; default info).
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, level: Logger.Level = LineLogHandler.levelFromEnvironment()) {
        self.label = label
        self.logLevel = level
    }

    static func levelFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Logger.Level {
        environment["OUTPOST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let extra = all.isEmpty ? "" : " (" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
        Log.line(Self.format(label: label, event.level, "\(event.message)") + extra)
    }

    static func format(label: String, _ level: Logger.Level, _ message: String) -> String {
        let mark = level >= .error ? "error: " : level == .warning ? "warning: " : ""
        return "[\(label)] \(mark)\(message)"
    }
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
        LoggingSystem.bootstrap { LineLogHandler(label: $0) }
        // A closed pipe under standard output or error must be an error to ignore, not a signal
        // that ends the process.
        signal(SIGPIPE, SIG_IGN)
        // SIGUSR1 (reopen the logs) must never end a process, even before its handler is up.
        signal(SIGUSR1, SIG_IGN)
        // Servers hold a descriptor per connection: take the hard limit, as nginx's
        // worker_rlimit_nofile would.
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}

/// A failure the operator must act on (bad config, port in use): printed as is, without the
/// usage text that argument mistakes get.
struct OperatorError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
