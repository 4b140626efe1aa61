import Foundation
import HTTPServer
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Topology

/// `outpost origin`: serves a folder with validators, ranges and per-path Cache-Control.
public final class OriginServer: Sendable {
    public let config: OriginConfig
    let files: FileLookup
    /// `[[hosts]]`: each one's folder, by hostname.
    let hostFiles: [(host: OriginConfig.VirtualHost, files: FileLookup)]
    let threadPool: NIOThreadPool
    let clock: @Sendable () -> Double
    private let logger: Logger
    private let listener: Mutex<HTTPListener?> = Mutex(nil)
    private let requests = Atomic<Int>(0)
    private let perPath = Mutex<[String: Int]>([:])

    /// Requests received so far (all methods, all outcomes).
    public var requestCount: Int { requests.load(ordering: .relaxed) }

    /// Requests received for one request target (as sent, query included).
    public func requestCount(for target: String) -> Int { perPath.withLock { $0[target] ?? 0 } }

    public init(
        config: OriginConfig, threadPool: NIOThreadPool = .singleton,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        logger: Logger = Logger(label: "origin", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        self.config = config
        self.files = try FileLookup(root: config.root)
        self.hostFiles = try config.hosts.map { ($0, try FileLookup(root: $0.root)) }
        self.threadPool = threadPool
        self.clock = clock
        self.logger = logger
    }

    /// Binds the listener; returns the bound port.
    @discardableResult
    public func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Int {
        let l = try await HTTPListener.bind(host: config.listen.host, port: config.listen.port, group: group, limits: config.limits) { [self] in
            StaticFileHandler(server: self)
        }
        listener.withLock { $0 = l }
        return l.port
    }

    public var port: Int { listener.withLock { $0?.port ?? 0 } }

    public func stop() async {
        let l = listener.withLock { $0 }
        await l?.close()
    }

    /// Targets counted one by one at most; later new targets count only in the total (the
    /// per-target numbers are for tests and people, and clients choose the targets).
    static let maxCountedTargets = 10_000

    func countRequest(_ head: HTTPRequestHead) {
        requests.add(1, ordering: .relaxed)
        perPath.withLock { counts in
            if let n = counts[head.uri] {
                counts[head.uri] = n + 1
            } else if counts.count < Self.maxCountedTargets {
                counts[head.uri] = 1
            }
        }
        log("\(head.method) \(head.uri)")
    }

    /// Per request: debug (`outpost origin --verbose`).
    func log(_ line: String) { logger.debug("\(line)") }

    /// The folder a request's `Host` selects: a `[[hosts]]` one, else `root`.
    func files(for request: HTTPRequestHead) -> (OriginConfig.VirtualHost?, FileLookup) {
        guard !hostFiles.isEmpty, let host = request.headers.first(name: "host").flatMap(HostPattern.normalise),
              let match = hostFiles.first(where: { $0.host.names.contains(host) }) else { return (nil, files) }
        return (match.host, match.files)
    }
}

