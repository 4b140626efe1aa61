import ArgumentParser
import Edge
import Foundation
import Logging
import NIOCore
import Origin
import Topology

struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Run one edge cache.",
        discussion: "Settings come from --config (TOML); flags override the file. Without a file, flags alone describe the edge."
    )

    @Option(help: "The edge's TOML file, e.g. edges/eu-west-1.toml.") var config: String?
    @Option(help: "Edge name (appears in Cache-Status and Via).") var name: String?
    @Option(help: "Public listener, HOST:PORT.") var listen: String?
    @Option(help: "Origin URL, e.g. http://127.0.0.1:8080.") var origin: String?
    @Option(help: "Memory cache budget, e.g. 64MiB (B, KiB, MiB, GiB).") var cacheSize: String?
    @Option(help: "Largest object stored; larger ones are streamed through.") var maxObjectSize: String?
    @Option(help: "Event loops (threads) for connections; default one per CPU core.") var eventLoops: Int?
    @Option(help: "The disk tier's folder (under the memory cache); default: memory only.") var diskCache: String?
    @Option(help: "The disk tier's budget, e.g. 1GiB.") var diskCacheSize: String?
    @Option(help: "The fleet file whose [[sites]] this edge serves (outpost up passes it).") var fleet: String?
    @Flag(help: .hidden) var exitWithParent = false

    func run() async throws {
        let edgeConfig = try resolvedConfig()
        // Before anything makes the shared event loop group.
        if let loops = edgeConfig.eventLoops { NIOSingletons.groupLoopCountSuggestion = loops }
        let logger = Logger(label: edgeConfig.name)
        let server: EdgeServer
        do { server = try EdgeServer(config: edgeConfig, logger: logger) } catch { throw OperatorError("\(error)") }
        let origins = edgeConfig.sites.isEmpty ? "origin \(edgeConfig.origin)"
            : "sites " + edgeConfig.sites.map { "\($0.name) (\($0.hosts.map(\.description).joined(separator: " ")) -> \($0.origin))" }.joined(separator: ", ")
        let service = Lifecycle.Server(start: {
            do {
                try await server.start()
            } catch {
                await server.stop()  // its origin client, before the process ends
                throw OperatorError("edge \(edgeConfig.name) cannot listen on \(edgeConfig.listen): \(error). Is another process using it?")
            }
            logger.notice("listening on \(edgeConfig.listen.httpURL), \(origins), cache \(ByteSize.format(edgeConfig.cacheSize))")
        }, stop: {
            logger.notice("stopping")
            await server.drain()
        })
        try await Lifecycle.serve(service, logger: logger, watchParent: exitWithParent) {
            server.reopenLogs()
            logger.notice("SIGUSR1: access log reopened")
        }
    }

    func resolvedConfig() throws -> EdgeConfig {
        var c: EdgeConfig
        do {
            c = try config.map { path throws(ConfigError) in try EdgeConfig.load(file: path) } ?? EdgeConfig()
        } catch {
            throw OperatorError("\(error)")
        }
        if let fleet {
            do { c.sites = try FleetConfig.load(file: fleet).sites } catch { throw OperatorError("\(error)") }
        }
        if let name { c.name = name }
        if let listen {
            guard let a = ListenAddress(listen) else { throw ValidationError("--listen '\(listen)' is not HOST:PORT") }
            c.listen = a
        }
        if let origin {
            guard let o = OriginURL(origin) else { throw ValidationError("--origin '\(origin)' is not an http:// URL with a host and no path") }
            c.origin = o
        }
        if let cacheSize {
            guard let n = ByteSize.parse(cacheSize) else { throw ValidationError("--cache-size '\(cacheSize)' is not a size; write e.g. 64MiB") }
            c.cacheSize = n
        }
        if let maxObjectSize {
            guard let n = ByteSize.parse(maxObjectSize) else { throw ValidationError("--max-object-size '\(maxObjectSize)' is not a size; write e.g. 16MiB") }
            c.maxObjectSize = n
        }
        if let eventLoops {
            guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops \(eventLoops): must be 1 to 256") }
            c.eventLoops = eventLoops
        }
        if let diskCache { c.diskCache = URL(fileURLWithPath: diskCache).standardizedFileURL.path }
        if let diskCacheSize {
            guard let n = ByteSize.parse(diskCacheSize), n >= 1 << 20 else { throw ValidationError("--disk-cache-size '\(diskCacheSize)' is not a size of 1MiB or more; write e.g. 1GiB") }
            c.diskCacheSize = n
        }
        return c
    }
}

struct OriginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "origin", abstract: "Serve a folder as the CDN's origin.")

    @Option(help: "The origin's TOML file.") var config = "origin/origin.toml"
    @Option(help: "Listener, HOST:PORT (overrides the file).") var listen: String?
    @Flag(help: "Log every request to standard error.") var verbose = false
    @Flag(help: .hidden) var exitWithParent = false

    func run() async throws {
        var c: OriginConfig
        do { c = try OriginConfig.load(file: config) } catch { throw OperatorError("\(error)") }
        if let listen {
            guard let a = ListenAddress(listen) else { throw ValidationError("--listen '\(listen)' is not HOST:PORT") }
            c.listen = a
        }
        var origin = Logger(label: "origin")
        if verbose { origin.logLevel = min(origin.logLevel, .debug) }  // every request, at debug
        let logger = origin
        let server = try OriginServer(config: c, logger: logger)
        let listen = c.listen, root = c.root
        let service = Lifecycle.Server(start: {
            do {
                try await server.start()
            } catch {
                throw OperatorError("the origin cannot listen on \(listen): \(error). Is another process using it?")
            }
            logger.notice("serving \(root) on \(listen.httpURL)")
        }, stop: {
            logger.notice("stopping")
            await server.stop()
        })
        try await Lifecycle.serve(service, logger: logger, watchParent: exitWithParent)
    }
}
