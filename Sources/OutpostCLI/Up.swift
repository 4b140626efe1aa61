import ArgumentParser
import Foundation
import Topology

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the whole local CDN: the origin and every edge of the fleet, each as its own process.",
        discussion: "Ctrl-C stops them all. Each edge runs as a child process, so one can be killed while the rest go on."
    )

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The origin's TOML file (default: origin_config from the fleet file).") var originConfig: String?
    @Flag(help: "Log every origin request.") var verbose = false
    @Flag(help: .hidden) var exitWithParent = false

    func run() async throws {
        let f = try fleet.load()
        let originFile = originConfig ?? f.originConfigFile ?? "origin/origin.toml"
        let origin: OriginConfig
        do { origin = try OriginConfig.load(file: originFile) } catch { throw OperatorError("\(error)") }
        if origin.listen.port != f.origin.port || (origin.listen.host != f.origin.host && origin.listen.host != "0.0.0.0") {
            Log.line("warning: \(fleet.file) says the origin is \(f.origin) but \(originFile) listens on \(origin.listen); the edges will use \(f.origin)")
        }
        // Something already answering on our addresses (another `outpost up`?) would make the
        // children fail while the checks below saw the other one's ports: refuse up front.
        let addresses = [("origin", origin.listen), ("director", f.director.httpListen)] + f.allEdges.map { ($0.name, $0.listen) }
            + f.allEdges.compactMap { e in e.controlListen.map { ("\(e.name) control", $0) } }
            + f.allEdges.compactMap { e in e.tlsListen.map { ("\(e.name) TLS", $0) } }
        if let (name, taken) = addresses.first(where: { TCPProbe.accepts(host: $0.1.host, port: $0.1.port) }) {
            throw OperatorError("\(taken) (for \(name)) is already in use: is another `outpost up` running? Stop it, or change the address in \(fleet.file)")
        }
        let exe = Self.executablePath()
        let children = ChildProcesses()
        var originArgs = ["origin", "--config", originFile, "--exit-with-parent"]
        if verbose { originArgs.append("--verbose") }
        try children.spawn(name: "origin", executable: exe, arguments: originArgs)
        try await children.waitUntilListening(name: "origin", host: origin.listen.host, port: origin.listen.port)
        for edge in f.allEdges {
            try children.spawn(name: edge.name, executable: exe, arguments: ["edge", "--config", edge.file ?? "", "--exit-with-parent"])
        }
        for edge in f.allEdges {
            try await children.waitUntilListening(name: edge.name, host: edge.listen.host, port: edge.listen.port)
        }
        // The director last: its first health checks then find every edge up.
        try children.spawn(name: "director", executable: exe, arguments: ["director", "--fleet", fleet.file, "--exit-with-parent"])
        try await children.waitUntilListening(name: "director", host: f.director.httpListen.host, port: f.director.httpListen.port)
        print(Self.banner(f, origin: origin))
        fflush(nil)
        let why = await Lifecycle.waitForStop(watchParent: exitWithParent)
        print("\nstopping (\(why)) …")
        await children.stopAll()
        print("all stopped.")
    }

    static func banner(_ f: FleetConfig, origin: OriginConfig) -> String {
        var rows: [[String]] = [
            ["origin", "-", origin.listen.httpURL, "", "serves \(origin.root)"],
            ["director", "-", f.director.httpListen.httpURL, "dns \(f.director.dnsListen)", "zone \(f.director.zone)"],
        ]
        for dc in f.dataCenters {
            for e in dc.edges {
                let tls = e.tlsListen.map { ", https://\($0)" } ?? ""
                rows.append([e.name, dc.name, e.listen.httpURL + tls, e.controlListen?.httpURL ?? "-", "cache \(ByteSize.format(e.cacheSize)), pushes in \(e.dataDirectory)"])
            }
        }
        let first = f.allEdges[0]
        let url = first.listen.httpURL
        let tlsTry: [(String, String)] = first.tlsListen.map { [("curl -sk --http2 -D - -o /dev/null https://\($0)/index.html | grep -iE '^HTTP|cache-status'", "HTTP/2 over TLS (self-signed)")] } ?? []
        var tries: [(String, String)] = [
            ("curl -si \(url)/index.html | grep -iE '^(HTTP|cache-status|age)'", "first: fwd=miss"),
            ("curl -si \(url)/index.html | grep -iE '^(HTTP|cache-status|age)'", "again: hit, with Age"),
            ("curl -s -r 0-99 \(url)/media/roastery-tour.bin | wc -c", "a Range from the cache"),
            ("outpost fleet --json", "the fleet, for scripts"),
        ] + tlsTry
        let d = f.director
        for dc in f.dataCenters {
            if let net = dc.clientNetworks.first {
                let client = net.network.isIPv4 ? CIDR(network: net.network, prefix: 24) : net
                tries.append(("dig @\(d.dnsListen.host) -p \(d.dnsListen.port) \(d.zone) A +subnet=\(client) +short", "a client in \(dc.name)"))
            }
        }
        if let net = f.dataCenters.first?.clientNetworks.first {
            tries.append(("curl -s '\(d.httpListen.httpURL)/route?client=\(net.network)'", "the routing decision, as JSON"))
            tries.append(("curl -si \(d.httpListen.httpURL)/index.html | grep -i location", "HTTP: a 302 to the nearest edge"))
        }
        tries.append(("\(d.httpListen.httpURL)/status", "in a browser: health of every edge"))
        var tokenLine = ""
        if let control = first.controlListen, let token = first.effectiveControlToken() {
            tokenLine = "\nControl API on each edge (e.g. \(control.httpURL)); demo token: \(token)\n"
            tries += [
                ("outpost push origin/site/css --prefix /pushed/css --expires 1h --tag demo", "push a folder to every edge"),
                ("curl -si \(url)/pushed/css/site.css | grep -i cache-status", "served from the push, never pulled"),
                ("outpost purge --tag demo", "purge by tag on every edge"),
                ("outpost stats", "hit ratio per edge, data center and fleet"),
                ("\(f.director.httpListen.httpURL)/dashboard", "in a browser: the fleet hit ratio over time"),
            ]
        }
        let width = tries.map(\.0.count).max() ?? 0
        let tryLines = tries.map { "  \($0.0.padding(toLength: width, withPad: " ", startingAt: 0))   # \($0.1)" }.joined(separator: "\n")
        return """

        Outpost is up: the origin, \(f.allEdges.count) edges in \(f.dataCenters.count) data centers, and the director.

        \(Table.render(header: ["process", "data center", "public", "control", ""], rows: rows))
        \(tokenLine)
        Try:
        \(tryLines)

        Ctrl-C stops everything.
        """
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// The child processes of `outpost up`. Each gets a pipe as standard input; closing it (or this
/// process dying) tells the child to exit, so no edge outlives the command that started it.
final class ChildProcesses: @unchecked Sendable {
    private var children: [(name: String, process: Process, stdin: Pipe)] = []
    private let lock = NSLock()
    private var stopping = false

    func spawn(name: String, executable: String, arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let stdin = Pipe()
        p.standardInput = stdin
        p.terminationHandler = { [weak self] proc in
            guard let self else { return }
            self.lock.lock()
            let quiet = self.stopping
            self.lock.unlock()
            if !quiet { Log.line("! \(name) exited (status \(proc.terminationStatus)); the others go on. Restart it with: outpost \(arguments.dropLast().joined(separator: " "))") }
        }
        do { try p.run() } catch {
            throw OperatorError("could not start \(name) (\(executable) \(arguments.joined(separator: " "))): \(error)")
        }
        lock.lock()
        children.append((name, p, stdin))
        lock.unlock()
    }

    func waitUntilListening(name: String, host: String, port: Int, timeout: Double = 15) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if TCPProbe.accepts(host: host, port: port) { return }
            if let child = lock.withLock({ children.first { $0.name == name } }), !child.process.isRunning {
                await stopAll()
                throw OperatorError("\(name) exited before listening on \(host):\(port); see its error above")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stopAll()
        throw OperatorError("\(name) did not listen on \(host):\(port) within \(Int(timeout)) s")
    }

    func stopAll() async {
        let all = lock.withLock {
            stopping = true
            return children
        }
        for c in all where c.process.isRunning { kill(c.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while all.contains(where: { $0.process.isRunning }), Date() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for c in all where c.process.isRunning {
            Log.line("! \(c.name) did not stop within 5 s; killing it")
            kill(c.process.processIdentifier, SIGKILL)
        }
    }
}

/// Is something accepting TCP connections at host:port? (IPv4 literal hosts.)
enum TCPProbe {
    static func accepts(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "0.0.0.0" ? "127.0.0.1" : host, &addr.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
