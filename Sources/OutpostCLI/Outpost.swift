import ArgumentParser

@main
struct Outpost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost",
        abstract: "A self-hostable CDN: origin, edge caches and the tools to run them.",
        subcommands: [Up.self, EdgeCommand.self, OriginCommand.self, Fleet.self, DirectorCommand.self, Push.self, Purge.self, Stats.self, Bench.self, Minify.self, AssetsBench.self, Lab.self]
    )

    static func main() async {
        ProcessSetup.apply()
        await main(nil)
    }
}
