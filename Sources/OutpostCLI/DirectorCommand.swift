import ArgumentParser
import Director
import Foundation
import Logging
import Topology

struct DirectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "director",
        abstract: "Send each client to its nearest healthy edge, over DNS and HTTP."
    )

    @OptionGroup var fleet: FleetOptions
    @Option(help: "DNS address (HOST:PORT) instead of the fleet file's dns_listen: a second director of the same fleet.") var dnsListen: String?
    @Option(help: "HTTP address (HOST:PORT) instead of the fleet file's http_listen.") var httpListen: String?
    @Flag(help: .hidden) var exitWithParent = false

    func run() async throws {
        var loaded = try fleet.load()
        if let text = dnsListen {
            guard let a = ListenAddress(text) else { throw OperatorError("--dns-listen '\(text)' is not HOST:PORT") }
            loaded.director.dnsListen = a
        }
        if let text = httpListen {
            guard let a = ListenAddress(text) else { throw OperatorError("--http-listen '\(text)' is not HOST:PORT") }
            loaded.director.httpListen = a
        }
        let f = loaded
        let logger = Logger(label: "director")
        let server = DirectorServer(fleet: f, logger: logger)
        let service = Lifecycle.Server(start: {
            do {
                try await server.start()
            } catch {
                await server.stop()  // its health-check client, before the process ends
                throw OperatorError("the director cannot listen on \(f.director.dnsListen) (DNS) or \(f.director.httpListen) (HTTP): \(error). Is another process using them?")
            }
            let up = server.core.monitor.healthy.count
            logger.notice("zone \(f.director.zone): DNS on \(f.director.dnsListen) (UDP+TCP), HTTP on \(f.director.httpListen.httpURL); \(up)/\(f.allEdges.count) edges healthy")
        }, stop: {
            logger.notice("stopping")
            await server.stop()
        })
        try await Lifecycle.serve(service, logger: logger, watchParent: exitWithParent)
    }
}
