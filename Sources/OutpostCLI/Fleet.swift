import ArgumentParser
import Foundation
import Topology

/// The fleet as scripts and the other commands read it.
struct FleetDescription: Codable, Equatable {
    struct Origin: Codable, Equatable { var url: String }
    struct Location: Codable, Equatable {
        var lat: Double
        var lon: Double
    }
    struct Edge: Codable, Equatable {
        var name: String
        var publicURL: String
        var controlURL: String?
        var config: String
    }
    struct DataCenter: Codable, Equatable {
        var name: String
        var location: Location
        var clientNetworks: [String]
        var edges: [Edge]
    }
    struct Director: Codable, Equatable {
        var zone: String
        var dns: String
        var http: String
    }
    struct Site: Codable, Equatable {
        var name: String
        var hosts: [String]
        var origin: String
        var originHost: String?
    }
    var origin: Origin
    /// `[[sites]]`; empty: one site, `origin`, whatever the host.
    var sites: [Site]
    var dataCenters: [DataCenter]
    var director: Director

    init(_ fleet: FleetConfig) {
        origin = Origin(url: fleet.origin.description)
        sites = fleet.sites.map { Site(name: $0.name, hosts: $0.hosts.map(\.description), origin: $0.origin.description, originHost: $0.originHost) }
        director = Director(zone: fleet.director.zone, dns: fleet.director.dnsListen.description, http: fleet.director.httpListen.httpURL)
        dataCenters = fleet.dataCenters.map { dc in
            DataCenter(
                name: dc.name, location: Location(lat: dc.location.lat, lon: dc.location.lon), clientNetworks: dc.clientNetworks.map(\.description),
                edges: dc.edges.map { Edge(name: $0.name, publicURL: $0.listen.httpURL, controlURL: $0.controlURL, config: $0.file ?? "") }
            )
        }
    }
}

struct FleetOptions: ParsableArguments {
    @Option(name: .customLong("fleet"), help: "The fleet file.") var file = "edges/fleet.toml"

    func load() throws -> FleetConfig {
        do { return try FleetConfig.load(file: file) } catch { throw OperatorError("\(error)") }
    }
}

struct Fleet: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the configured fleet: origin, data centers, edges.")

    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Print JSON for scripts.") var json = false

    func run() throws {
        let f = try fleet.load()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(FleetDescription(f)), as: UTF8.self))
            return
        }
        print("origin    \(f.origin)")
        for site in f.sites {
            print("site      \(site.name): \(site.hosts.map(\.description).joined(separator: ", ")) -> \(site.origin)\(site.originHost.map { " (Host: \($0))" } ?? "")")
        }
        print("director  \(f.director.zone): DNS \(f.director.dnsListen), HTTP \(f.director.httpListen.httpURL)")
        print(Table.render(
            header: ["data center", "location", "edge", "public URL", "config"],
            rows: f.dataCenters.flatMap { dc in
                dc.edges.map { [dc.name, "\(dc.location.lat), \(dc.location.lon)", $0.name, $0.listen.httpURL, $0.file ?? ""] }
            }
        ))
    }
}

/// Plain-text tables with aligned columns.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
    }
}

extension FleetConfig {
    /// Refuses a `--site` the fleet file does not declare, naming the ones it does.
    func checkSite(_ name: String?) throws {
        guard let name, !sites.contains(where: { $0.name == name }) else { return }
        throw ValidationError("no site '\(name)' in \(file); its sites: \(sites.isEmpty ? "none ([[sites]] is not set)" : sites.map(\.name).joined(separator: ", "))")
    }
}
