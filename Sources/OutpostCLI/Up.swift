import ArgumentParser
import Foundation
import Logging
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
        if let remote = f.allEdges.first(where: \.remote) {
            throw OperatorError("\(fleet.file) lists edge \(remote.name) by its addresses (it runs on another host), so `outpost up` cannot start it; list each edge's own file to run the fleet on this machine, or use `outpost lab up`")
        }
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
            try children.spawn(name: edge.name, executable: exe, arguments: ["edge", "--config", edge.file ?? "", "--fleet", fleet.file, "--exit-with-parent"])
        }
        for edge in f.allEdges {
            try await children.waitUntilListening(name: edge.name, host: edge.listen.host, port: edge.listen.port)
        }
        // The director last: its first health checks then find every edge up.
        try children.spawn(name: "director", executable: exe, arguments: ["director", "--fleet", fleet.file, "--exit-with-parent"])
        try await children.waitUntilListening(name: "director", host: f.director.httpListen.host, port: f.director.httpListen.port)
        print(Self.banner(f, origin: origin))
        fflush(nil)
        try await Lifecycle.serve(Lifecycle.Server(start: {}, stop: {
            print("\nstopping …")
            fflush(nil)
            await children.stopAll()
            print("all stopped.")
        }), logger: Logger(label: "up"), watchParent: exitWithParent)
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
        // A second site: the same edges, chosen by Host (or by name with --resolve).
        if let other = f.sites.dropFirst().first, let host = other.hosts.first(where: { !$0.isWildcard })?.description {
            tries.append(("curl -s -H 'Host: \(host)' \(url)/index.html | grep -i '<title>'", "site \(other.name): same path, its own content"))
            tries.append(("curl -s --resolve \(host):\(first.listen.port):\(first.listen.host) http://\(host):\(first.listen.port)/ | grep -i '<title>'", "the same by name"))
            tries.append(("curl -si -H 'Host: unknown.example' \(url)/ | head -1", "a host no site serves: 421"))
        }
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
        if let control = first.controlURL, let token = first.effectiveControlToken() {
            tokenLine = "\nControl API on each edge (e.g. \(control)); demo token: \(token)\n"
            tries += [
                ("outpost push origin/site/css --prefix /pushed/css --expires 1h --tag demo", "push a folder to every edge"),
                ("curl -si \(url)/pushed/css/site.css | grep -i cache-status", "served from the push, never pulled"),
            ]
            if let other = f.sites.dropFirst().first, let host = other.hosts.first(where: { !$0.isWildcard })?.description {
                tries += [
                    ("outpost push origin/docs/css --prefix /pushed --expires 1h --site \(other.name)", "push to site \(other.name) only"),
                    ("curl -s -H 'Host: \(host)' \(url)/pushed/docs.css | head -c 60; echo", "there; not on the first site"),
                ]
            }
            tries += [
                ("outpost purge --tag demo", "purge by tag on every edge"),
                ("outpost stats", "hit ratio per edge, data center and fleet"),
                ("\(f.director.httpListen.httpURL)/dashboard", "in a browser: the fleet hit ratio over time"),
            ]
        }
        let siteLines = f.sites.isEmpty ? "" : "\nSites on every edge: " + f.sites.map { site in
            "\(site.name) (\(site.hosts.prefix(3).map(\.description).joined(separator: ", "))\(site.hosts.count > 3 ? ", …" : ""))"
        }.joined(separator: "; ") + "\n"
        let width = tries.map(\.0.count).max() ?? 0
        let tryLines = tries.map { "  \($0.0.padding(toLength: width, withPad: " ", startingAt: 0))   # \($0.1)" }.joined(separator: "\n")
        return """

        Outpost is up: the origin, \(f.allEdges.count) edges in \(f.dataCenters.count) data centers, and the director.

        \(Table.render(header: ["process", "data center", "public", "control", ""], rows: rows))
        \(siteLines)\(tokenLine)
        Try:
        \(tryLines)

        Ctrl-C stops everything.
        """
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// The child processes of `outpost up`, supervised as systemd's `Restart=on-failure` would: a
/// child that dies (a crash, a signal, a non-zero exit) is started again after a back-off of
/// 1 s, 2 s, 4 s … at most 30 s, and both the exit and the restart are logged. A child that ran
/// for a minute starts its back-off from 1 s again. Each gets a pipe as standard input; closing
/// it (or this process dying) tells the child to exit, so no edge outlives the command that
/// started it.
final class ChildProcesses: @unchecked Sendable {
    final class Child: @unchecked Sendable {
        let name: String
        let executable: String
        let arguments: [String]
        var process = Process()
        var stdin = Pipe()
        var startedAt = Date()
        /// Restarts in a row without a minute of running in between.
        var failures = 0

        init(name: String, executable: String, arguments: [String]) {
            self.name = name
            self.executable = executable
            self.arguments = arguments
        }
    }

    private var children: [Child] = []
    private let lock = NSLock()
    private var stopping = false

    /// The back-off before restart number `n` (1, 2, …): 1 s doubling, at most 30 s.
    static func backoff(restart n: Int) -> Double { min(30, Double(1 << min(max(n - 1, 0), 5))) }

    func spawn(name: String, executable: String, arguments: [String]) throws {
        let child = Child(name: name, executable: executable, arguments: arguments)
        try start(child)
        lock.withLock { children.append(child) }
    }

    private func start(_ child: Child) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: child.executable)
        p.arguments = child.arguments
        let stdin = Pipe()
        p.standardInput = stdin
        p.terminationHandler = { [weak self] proc in self?.exited(child, proc) }
        // Set before it runs: a child that dies at once must see this run's start time.
        lock.withLock { child.startedAt = Date() }
        do { try p.run() } catch {
            throw OperatorError("could not start \(child.name) (\(child.executable) \(child.arguments.joined(separator: " "))): \(error)")
        }
        let stopped = lock.withLock {
            child.process = p
            child.stdin = stdin
            return stopping
        }
        // stopAll ran while this one was starting: it is not in its list, so stop it here.
        if stopped { kill(p.processIdentifier, SIGTERM) }
    }

    private func exited(_ child: Child, _ proc: Process) {
        let how = proc.terminationReason == .uncaughtSignal ? "was killed by signal \(proc.terminationStatus)" : "exited with status \(proc.terminationStatus)"
        let (quiet, delay, n): (Bool, Double, Int) = lock.withLock {
            if stopping { return (true, 0, 0) }
            if Date().timeIntervalSince(child.startedAt) >= 60 { child.failures = 0 }
            child.failures += 1
            return (false, Self.backoff(restart: child.failures), child.failures)
        }
        guard !quiet else { return }
        if proc.terminationReason == .exit && proc.terminationStatus == 0 {
            Log.line("! \(child.name) (pid \(proc.processIdentifier)) exited cleanly; not restarting it")
            return
        }
        Log.line("! \(child.name) (pid \(proc.processIdentifier)) \(how); restarting it in \(Int(delay)) s (restart \(n) in a row)")
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self, !self.lock.withLock({ self.stopping }) else { return }
            do {
                try self.start(child)
                Log.line("! \(child.name) restarted (pid \(self.lock.withLock { child.process.processIdentifier }))")
            } catch {
                Log.line("! \(child.name) could not be restarted: \(error)")
            }
        }
    }

    func waitUntilListening(name: String, host: String, port: Int, timeout: Double = 15) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if TCPProbe.accepts(host: host, port: port) { return }
            if lock.withLock({ children.first { $0.name == name }.map { !$0.process.isRunning && $0.failures > 0 } ?? false }) {
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
            return children.map(\.process)
        }
        for p in all where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while all.contains(where: { $0.isRunning }), Date() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (p, c) in zip(all, lock.withLock({ children })) where p.isRunning {
            Log.line("! \(c.name) did not stop within 5 s; killing it")
            kill(p.processIdentifier, SIGKILL)
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
