import ArgumentParser
import AsyncHTTPClient
import ControlAPI
import Foundation
import Topology

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Purge cached and pushed objects on every edge, by URL, prefix or tag.",
        discussion: "A hard purge removes; --soft marks pulled objects stale, so they revalidate but can still be served stale if the origin fails."
    )

    @Argument(help: "URLs or paths to purge.") var urls: [String] = []
    @Option(help: "Purge every path that starts with this (repeatable).") var prefix: [String] = []
    @Option(help: "Purge every object with this tag (Surrogate-Key / Cache-Tag / push tag; repeatable).") var tag: [String] = []
    @Flag(help: "Mark stale instead of removing (pulled objects only).") var soft = false
    @Option(help: "Only this site's objects (a name from [[sites]] in the fleet file).") var site: String?
    @OptionGroup var fleet: FleetOptions
    @OptionGroup var selection: EdgeSelection

    func run() async throws {
        guard !(urls.isEmpty && prefix.isEmpty && tag.isEmpty) else {
            throw ValidationError("say what to purge: URLs, --prefix or --tag")
        }
        let loaded = try fleet.load()
        try loaded.checkSite(site)
        let edges = try selection.select(loaded)
        let client = HTTPClient.shared
        let rows = await withTaskGroup(of: [String].self) { group in
            for edge in edges {
                group.addTask { [self] in
                    let start = Date()
                    switch ControlClient.make(edge, client: client, tokenFile: selection.tokenFile) {
                    case .failure(let e): return [edge.name, "-", "-", "-", "-", e.description]
                    case .success(let c):
                        do {
                            let r = try await c.purge(urls: urls, prefixes: prefix, tags: tag, soft: soft, site: site)
                            let ms = String(format: "%.0f ms", Date().timeIntervalSince(start) * 1000)
                            return [edge.name, "\(r.purged)", "\(r.pulled)", "\(r.pushed)", ms, ""]
                        } catch {
                            return [edge.name, "-", "-", "-", "-", "\(error)"]
                        }
                    }
                }
            }
            var all: [[String]] = []
            for await r in group { all.append(r) }
            return all.sorted { $0[0] < $1[0] }
        }
        print(Table.render(header: ["edge", soft ? "marked stale" : "purged", "pulled", "pushed", "time", "error"], rows: rows))
        if rows.contains(where: { !$0[5].isEmpty }) { throw ExitCode(1) }
    }
}
