import ArgumentParser
import Director
import Foundation
import Topology

struct DirectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "director",
        abstract: "Send each client to its nearest healthy edge, over DNS and HTTP."
    )

    @OptionGroup var fleet: FleetOptions
    @Flag(help: .hidden) var exitWithParent = false

    func run() async throws {
        let f = try fleet.load()
        let server = DirectorServer(fleet: f, log: { Log.line("[director] \($0)") })
        do {
            try await server.start()
        } catch {
            throw OperatorError("the director cannot listen on \(f.director.dnsListen) (DNS) or \(f.director.httpListen) (HTTP): \(error). Is another process using them?")
        }
        let up = server.core.monitor.healthy.count
        Log.line("[director] zone \(f.director.zone): DNS on \(f.director.dnsListen) (UDP+TCP), HTTP on \(f.director.httpListen.httpURL); \(up)/\(f.allEdges.count) edges healthy")
        let why = await Lifecycle.waitForStop(watchParent: exitWithParent)
        Log.line("[director] stopping (\(why))")
        await server.stop()
    }
}
