import ArgumentParser
import Edge
import Foundation
import Topology

/// `outpost lab`: the whole fleet on one Linux machine as separate hosts. Each process runs in
/// its own network namespace (`op-<process>`) with one address, joined to the others by veth
/// pairs on a bridge (in the namespace `op-switch`); a real recursive resolver (unbound) sends
/// the zone to both directors with EDNS Client Subnet; one client namespace per data center
/// (`op-client-<data center>`) has an address in that data center's client network and that
/// resolver in its resolv.conf. Nothing listens on the machine's own addresses.
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The fleet as separate hosts in network namespaces, with a real resolver (root, Linux).",
        subcommands: [LabUp.self, LabDown.self, LabStatus.self, LabStop.self, LabStart.self, LabJoin.self, LabProbe.self]
    )
}

struct LabOptions: ParsableArguments {
    @Option(help: "Folder for the lab's files: configurations, certificates, logs, pushed data.") var dir = "lab"

    var path: String { URL(fileURLWithPath: dir).standardizedFileURL.path }
}

/// One host of the lab, as `lab status --json` prints it (and, for `lab` itself, what runs in it).
struct LabHost: Codable, Equatable {
    var name: String
    var netns: String
    var address: String
    var url: String?
    var role: String
    var dataCenter: String?
    /// What runs in it; nil for clients.
    var command: [String]?
    /// TCP ports that answer once it is up.
    var ports: [Int]?

    var published: LabHost { LabHost(name: name, netns: netns, address: address, url: url, role: role, dataCenter: dataCenter) }
}

struct LabState: Codable {
    var zone: String
    var resolver: String
    var hosts: [LabHost]

    static func file(_ dir: String) -> String { dir + "/state.json" }

    static func load(_ dir: String) throws -> LabState {
        guard let data = FileManager.default.contents(atPath: file(dir)) else {
            throw OperatorError("no lab in \(dir) (no state.json): start one with `outpost lab up --dir \(dir)`")
        }
        do { return try JSONDecoder().decode(LabState.self, from: data) } catch {
            throw OperatorError("\(file(dir)) is not a lab's state (\(error)); remove the folder and run `outpost lab up` again")
        }
    }

    func save(_ dir: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try e.encode(self).write(to: URL(fileURLWithPath: Self.file(dir)), options: .atomic)
    }

    func host(_ name: String) throws -> LabHost {
        guard let h = hosts.first(where: { $0.name == name }) else {
            throw OperatorError("no host '\(name)' in the lab; its hosts: \(hosts.map(\.name).joined(separator: ", "))")
        }
        return h
    }
}

/// The lab's fixed addresses: infrastructure in 10.0.0.0/24, data center N's edges in
/// 10.0.N.0/24, each client at .100 of its data center's first client network.
enum LabAddresses {
    static let resolver = "10.0.0.2"
    static let origin = "10.0.0.10"
    static let directors = ["10.0.0.53", "10.0.0.54"]
    static let infrastructure = CIDR("10.0.0.0/16")!
    static func edge(dataCenter: Int, index: Int) -> String { "10.0.\(dataCenter + 1).\(index + 1)" }

    static func client(in network: CIDR) -> String? {
        guard network.network.isIPv4, network.prefix <= 24 else { return nil }
        var bytes = network.network.bytes
        bytes[3] = 100
        return bytes.map(String.init).joined(separator: ".")
    }
}

/// The `ip` command, and running what the lab needs.
enum LabShell {
    static func which(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return dirs.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a program to its end with standard output and error in `output` (appended), and
    /// returns its exit status. posix_spawn and waitpid: Foundation's Process does not always
    /// see a child end when it is waited for from async code.
    static func spawn(_ exe: String, _ args: [String], output: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        guard rc == 0 else { throw OperatorError("cannot run \(exe): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    @discardableResult
    static func run(_ exe: String, _ args: [String], allowFailure: Bool = false) throws -> String {
        let output = NSTemporaryDirectory() + "/outpost-lab-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(output) }
        let status = try spawn(exe, args, output: output)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        if status != 0 && !allowFailure {
            throw OperatorError("`\(([exe] + args).joined(separator: " "))` failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return text
    }

    static func ip(_ args: [String], allowFailure: Bool = false) throws {
        guard let ip = which("ip") else { throw OperatorError("the lab needs iproute2's `ip` (apt-get install iproute2)") }
        try run(ip, args, allowFailure: allowFailure)
    }

    static let switchNamespace = "op-switch"

    /// Whether this machine lets us make namespaces (root, and a kernel that allows it).
    static func namespacesAllowed() -> String? {
        guard getuid() == 0 else { return "the lab needs root (network namespaces)" }
        guard which("ip") != nil else { return "the lab needs iproute2's `ip`" }
        let probe = "op-probe-\(getpid())"
        do {
            try ip(["netns", "add", probe])
            try ip(["netns", "del", probe])
            return nil
        } catch {
            return "this machine does not allow network namespaces (\(error))"
        }
    }

    static func createSwitch() throws {
        try ip(["netns", "add", switchNamespace])
        try ip(["-n", switchNamespace, "link", "set", "lo", "up"])
        try ip(["-n", switchNamespace, "link", "add", "br0", "type", "bridge"])
        try ip(["-n", switchNamespace, "link", "set", "br0", "up"])
    }

    /// A namespace with one address on the bridge, every destination on the link.
    static func createHost(_ h: LabHost, port: Int) throws {
        try ip(["netns", "add", h.netns])
        try ip(["-n", h.netns, "link", "set", "lo", "up"])
        let veth = "vh\(port)"
        try ip(["link", "add", veth, "netns", switchNamespace, "type", "veth", "peer", "name", "eth0", "netns", h.netns])
        try ip(["-n", switchNamespace, "link", "set", veth, "master", "br0", "up"])
        try ip(["-n", h.netns, "addr", "add", h.address + "/32", "dev", "eth0"])
        try ip(["-n", h.netns, "link", "set", "eth0", "up"])
        try ip(["-n", h.netns, "route", "add", "default", "dev", "eth0"])
    }

    static func pids(_ netns: String) -> [Int32] {
        guard let ip = which("ip"), let out = try? run(ip, ["netns", "pids", netns], allowFailure: true) else { return [] }
        return out.split(whereSeparator: \.isNewline).compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Marks every descriptor above standard error close-on-exec, so that a daemon started
    /// from here holds none of ours: a pipe that whoever ran `outpost lab` reads to its end
    /// would never end while the lab runs.
    static func closeOnExecAll() {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for fd in fds.compactMap({ Int32($0) }) where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Starts `command` in the namespace, detached (its own session), output to `log`.
    static func start(_ h: LabHost, log: String) throws {
        closeOnExecAll()
        guard let command = h.command, let ip = which("ip"), let setsid = which("setsid") else { return }
        let status = try spawn(setsid, ["-f", ip, "netns", "exec", h.netns] + command, output: log)
        guard status == 0 else { throw OperatorError("cannot start \(h.name) in \(h.netns) (exit \(status)); see \(log)") }
    }

    /// SIGTERM to everything in the namespace; SIGKILL to what is left after `grace` seconds.
    static func stop(_ netns: String, grace: Double = 5) {
        for pid in pids(netns) { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while !pids(netns).isEmpty && Date() < deadline { usleep(100_000) }
        for pid in pids(netns) { kill(pid, SIGKILL) }
    }

    static func resolvConf(_ netns: String) -> String { "/etc/netns/\(netns)/resolv.conf" }
}

/// Writes the lab's files and works out its hosts from the fleet file.
struct LabPlan {
    let fleet: FleetConfig
    let dir: String
    let exe: String
    let token: String

    var zone: String { fleet.director.zone }

    func edgeHost(_ e: EdgeConfig, address: String, dataCenter: String) -> LabHost {
        Self.edgeHost(name: e.name, address: address, dataCenter: dataCenter, dir: dir, exe: exe)
    }

    static func edgeHost(name: String, address: String, dataCenter: String, dir: String, exe: String) -> LabHost {
        LabHost(name: name, netns: "op-\(name)", address: address, url: "http://\(address):8080", role: "edge", dataCenter: dataCenter,
                command: [exe, "edge", "--config", "\(dir)/edges/\(name).toml", "--fleet", "\(dir)/fleet.toml"], ports: [8080, 9090])
    }

    func hosts() throws -> [LabHost] {
        guard let originConfig = fleet.originConfigFile else { throw OperatorError("\(fleet.file) names no origin_config; the lab's origin serves it") }
        var hosts: [LabHost] = [
            LabHost(name: "origin", netns: "op-origin", address: LabAddresses.origin, url: "http://\(LabAddresses.origin):8080", role: "origin",
                    command: [exe, "origin", "--config", URL(fileURLWithPath: originConfig).standardizedFileURL.path, "--listen", "\(LabAddresses.origin):8080"],
                    ports: [8080]),
        ]
        for (i, dc) in fleet.dataCenters.enumerated() {
            guard i < 250, dc.edges.count < 250 else { throw OperatorError("the lab takes at most 250 data centers of 250 edges") }
            for (k, e) in dc.edges.enumerated() { hosts.append(edgeHost(e, address: LabAddresses.edge(dataCenter: i, index: k), dataCenter: dc.name)) }
        }
        for (i, a) in LabAddresses.directors.enumerated() {
            hosts.append(LabHost(name: "director-\(i + 1)", netns: "op-director-\(i + 1)", address: a, url: "http://\(a):8053", role: "director",
                                 command: [exe, "director", "--fleet", "\(dir)/fleet.toml", "--dns-listen", "\(a):53", "--http-listen", "\(a):8053"],
                                 ports: [53, 8053]))
        }
        guard let unbound = LabShell.which("unbound") else { throw OperatorError("the lab's resolver is unbound: apt-get install unbound") }
        hosts.append(LabHost(name: "resolver", netns: "op-resolver", address: LabAddresses.resolver, role: "resolver",
                             command: [unbound, "-d", "-c", "\(dir)/unbound.conf"], ports: [53]))
        for dc in fleet.dataCenters {
            guard let network = dc.clientNetworks.first, let address = LabAddresses.client(in: network) else {
                throw OperatorError("data center \(dc.name) needs an IPv4 client network of /24 or wider for its lab client")
            }
            guard !LabAddresses.infrastructure.contains(IPAddress(address)!) else {
                throw OperatorError("\(dc.name)'s client network \(network) overlaps the lab's own 10.0.0.0/16")
            }
            hosts.append(LabHost(name: "client-\(dc.name)", netns: "op-client-\(dc.name)", address: address, role: "client", dataCenter: dc.name))
        }
        return hosts
    }

    func writeFiles(hosts: [LabHost]) throws {
        let fm = FileManager.default
        for sub in ["edges", "certs", "logs", "data"] { try fm.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true) }
        try write("token", token + "\n", mode: 0o600)
        let ca = try PrivateCA(name: "outpost lab CA")
        try write("certs/ca.pem", try ca.certificatePEM())
        try write("certs/ca.key", ca.keyPEM, mode: 0o600)  // for `lab join`
        let edges = hosts.filter { $0.role == "edge" }
        for e in edges { try writeEdge(e, peers: edges.filter { $0.name != e.name }, ca: ca) }
        try write("fleet.toml", fleetFile(edges: edges))
        try write("unbound.conf", unboundFile())
        for c in hosts where c.role == "client" {
            try fm.createDirectory(atPath: "/etc/netns/\(c.netns)", withIntermediateDirectories: true)
            try "nameserver \(LabAddresses.resolver)\n".write(toFile: LabShell.resolvConf(c.netns), atomically: true, encoding: .utf8)
        }
    }

    /// An edge's certificate (from the lab's CA) and its settings file.
    func writeEdge(_ e: LabHost, peers: [LabHost], ca: PrivateCA) throws {
        let (cert, key) = try ca.issue(name: e.name, ipv4: e.address)
        try write("certs/\(e.name).pem", cert)
        try write("certs/\(e.name).key", key, mode: 0o600)
        try write("edges/\(e.name).toml", edgeFile(e, peers: peers))
    }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func edgeFile(_ e: LabHost, peers: [LabHost]) -> String {
        """
        # Lab edge \(e.name): its own namespace \(e.netns), address \(e.address).
        name = "\(e.name)"
        data_center = "\(e.dataCenter ?? "")"
        listen = "\(e.address):8080"
        origin = "http://\(LabAddresses.origin):8080"
        cache_size = "64MiB"
        control_listen = "\(e.address):9090"
        control_tls = true
        tls_certificate = "../certs/\(e.name).pem"
        tls_key = "../certs/\(e.name).key"
        control_token_file = "../token"
        control_ca = "../certs/ca.pem"
        data_dir = "../data/\(e.name)"
        access_log = "../logs/\(e.name).access.log"
        push_peers = [\(peers.map { "\"https://\($0.address):9090\"" }.joined(separator: ", "))]
        push_sync_interval = 2

        """
    }

    func fleetFile(edges: [LabHost]) -> String {
        var s = """
        # The lab's fleet: every edge by its addresses only (each runs in its own namespace with
        # its own file under edges/); the control API over TLS, trusted through certs/ca.pem.
        origin = "http://\(LabAddresses.origin):8080"

        """
        for dc in fleet.dataCenters {
            let entries = edges.filter { $0.dataCenter == dc.name }.map {
                "  { name = \"\($0.name)\", public = \"http://\($0.address):8080\", control = \"https://\($0.address):9090\", control_ca = \"certs/ca.pem\", control_token_file = \"token\" }"
            }
            s += """

            [[data_centers]]
            name = "\(dc.name)"
            location = { lat = \(dc.location.lat), lon = \(dc.location.lon) }
            client_networks = [\(dc.clientNetworks.map { "\"\($0)\"" }.joined(separator: ", "))]
            edges = [
            \(entries.joined(separator: ",\n"))
            ]

            """
        }
        for (i, site) in fleet.sites.enumerated() {
            // The site's names in the zone; the first site also answers for the edges' addresses.
            var hosts = site.hosts.map(\.description).filter { $0.hasSuffix(zone) || $0.hasPrefix("*.") }
            if i == 0 { hosts += edges.map(\.address) }
            s += """

            [[sites]]
            name = "\(site.name)"
            hosts = [\(hosts.map { "\"\($0)\"" }.joined(separator: ", "))]

            """
            if let h = site.originHost { s += "origin_host = \"\(h)\"\n" }
        }
        let d = fleet.director
        s += """

        [director]
        zone = "\(zone)"
        dns_listen = "\(LabAddresses.directors[0]):53"
        http_listen = "\(LabAddresses.directors[0]):8053"
        ttl = \(d.ttl)
        check_interval = \(d.checkInterval)
        check_timeout = \(max(d.checkTimeout, 0.5))
        rise = \(d.rise)
        fall = \(d.fall)
        default_location = { lat = \(d.defaultLocation.lat), lon = \(d.defaultLocation.lon) }
        name_servers = [\(LabAddresses.directors.enumerated().map { "{ name = \"ns\($0.offset + 1)\", address = \"\($0.element)\" }" }.joined(separator: ", "))]

        """
        return s
    }

    func unboundFile() -> String {
        """
        # The lab's recursive resolver: clients ask it; it asks both directors for the zone,
        # sending each client's /24 as EDNS Client Subnet, and caches per subnet.
        server:
            interface: \(LabAddresses.resolver)
            port: 53
            access-control: 0.0.0.0/0 allow
            username: ""
            chroot: ""
            directory: "\(dir)"
            pidfile: ""
            use-syslog: no
            logfile: ""
            verbosity: 1
            do-ip6: no
            do-not-query-localhost: no
            module-config: "subnetcache iterator"
            send-client-subnet: \(LabAddresses.directors.joined(separator: "\n    send-client-subnet: "))
            client-subnet-always-forward: yes
            max-client-subnet-ipv4: 24
            domain-insecure: "\(zone)"
            # RFC 6761 names (test., invalid., …) are answered locally by default; not this one.
            local-zone: "\(zone.split(separator: ".").last.map(String.init) ?? zone)." nodefault
            infra-host-ttl: 5
            infra-cache-min-rtt: 50
            cache-min-ttl: 0
        stub-zone:
            name: "\(zone)"
            stub-addr: \(LabAddresses.directors.joined(separator: "\n    stub-addr: "))

        """
    }
}

struct LabUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Create the namespaces, start every host, return when all answer.")
    @OptionGroup var lab: LabOptions
    @OptionGroup var fleet: FleetOptions
    @Option(help: "Seconds to wait for every host to answer.") var timeout = 60.0

    func run() async throws {
        if let why = LabShell.namespacesAllowed() { throw OperatorError(why) }
        let dir = lab.path
        if let old = try? LabState.load(dir), old.hosts.contains(where: { !LabShell.pids($0.netns).isEmpty }) {
            throw OperatorError("a lab is already up in \(dir); stop it with `outpost lab down --dir \(dir)`")
        }
        LabDown.teardown(dir: dir)
        let f = try fleet.load()
        if let remote = f.allEdges.first(where: \.remote) {
            throw OperatorError("\(fleet.file) lists \(remote.name) by address; the lab builds its hosts from a fleet of edge files (edges/fleet.toml)")
        }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: 24)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        let plan = LabPlan(fleet: f, dir: dir, exe: Up.executablePath(), token: bytes.map { String(format: "%02x", $0) }.joined())
        let hosts = try plan.hosts()
        try plan.writeFiles(hosts: hosts)
        let state = LabState(zone: plan.zone, resolver: LabAddresses.resolver, hosts: hosts)
        try state.save(dir)
        do {
            try LabShell.createSwitch()
            for (i, h) in hosts.enumerated() { try LabShell.createHost(h, port: i) }
            // The origin first, the edges, then the directors (their first checks find the edges up).
            for role in ["origin", "edge", "resolver", "director"] {
                for h in hosts where h.role == role { try LabShell.start(h, log: "\(dir)/logs/\(h.name).log") }
                try LabProbe.wait(state: state, hosts: hosts.filter { $0.role == role }, timeout: timeout, dir: dir)
            }
        } catch {
            LabDown.teardown(dir: dir)
            throw error
        }
        print("The lab is up in \(dir): \(hosts.filter { $0.role == "edge" }.count) edges in \(f.dataCenters.count) data centers, two directors, unbound at \(LabAddresses.resolver).")
        for h in hosts {
            print("  \(h.netns.padding(toLength: 22, withPad: " ", startingAt: 0)) \(h.address.padding(toLength: 12, withPad: " ", startingAt: 0)) \(h.role)\(h.dataCenter.map { " (\($0))" } ?? "")")
        }
        if let c = hosts.first(where: { $0.role == "client" }) {
            print("""

            Try, as a client of \(c.dataCenter ?? ""):
              ip netns exec \(c.netns) dig +short www.\(plan.zone)
              ip netns exec \(c.netns) curl -si http://www.\(plan.zone):8080/ | grep -i cache-status
            `outpost lab status --json` lists every host; `outpost lab down` removes them all.
            """)
        }
    }
}

struct LabDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop every host and remove the namespaces.")
    @OptionGroup var lab: LabOptions

    func run() async throws {
        let dir = lab.path
        if let why = LabShell.namespacesAllowed() { throw OperatorError(why) }
        Self.teardown(dir: dir)
        print("The lab in \(dir) is down (its files stay there).")
    }

    /// Everything the lab made: its hosts' processes, its namespaces (those of the state file,
    /// and any `op-` namespace left by an interrupted run), the clients' resolv.conf.
    static func teardown(dir: String) {
        var names = Set((try? LabState.load(dir))?.hosts.map(\.netns) ?? [])
        if let ip = LabShell.which("ip"), let out = try? LabShell.run(ip, ["netns", "list"], allowFailure: true) {
            for line in out.split(whereSeparator: \.isNewline) {
                let name = String(line.split(separator: " ").first ?? "")
                if name.hasPrefix("op-") && name != LabShell.switchNamespace { names.insert(name) }
            }
        }
        for n in names { LabShell.stop(n) }
        for n in names {
            try? LabShell.ip(["netns", "del", n], allowFailure: true)
            try? FileManager.default.removeItem(atPath: "/etc/netns/\(n)")
        }
        try? LabShell.ip(["netns", "del", LabShell.switchNamespace], allowFailure: true)
    }
}

struct LabStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The lab's hosts: namespace, address, role, data center.")
    @OptionGroup var lab: LabOptions
    @Flag(help: "As JSON.") var json = false

    func run() async throws {
        let state = try LabState.load(lab.path)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let published = LabState(zone: state.zone, resolver: state.resolver, hosts: state.hosts.map(\.published))
            print(String(decoding: try e.encode(published), as: UTF8.self))
            return
        }
        let rows = state.hosts.map { h in
            [h.name, h.netns, h.address, h.role, h.dataCenter ?? "-", h.command == nil ? "-" : (LabShell.pids(h.netns).isEmpty ? "stopped" : "running")]
        }
        print("zone \(state.zone), resolver \(state.resolver)\n")
        print(Table.render(header: ["host", "namespace", "address", "role", "data center", "state"], rows: rows))
    }
}

struct LabStop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop hosts' processes (SIGTERM: edges drain), keeping their namespaces.")
    @OptionGroup var lab: LabOptions
    @Argument(help: "Host names (see lab status).") var names: [String]

    func run() async throws {
        let state = try LabState.load(lab.path)
        let hosts = try names.map { try state.host($0) }
        // At once, as a data center that loses power would.
        await withTaskGroup(of: Void.self) { group in
            for h in hosts { group.addTask { LabShell.stop(h.netns) } }
        }
        print("stopped \(names.joined(separator: ", "))")
    }
}

struct LabStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start stopped hosts again.")
    @OptionGroup var lab: LabOptions
    @Argument(help: "Host names (see lab status).") var names: [String]

    func run() async throws {
        let dir = lab.path
        let state = try LabState.load(dir)
        let hosts = try names.map { try state.host($0) }
        for h in hosts where LabShell.pids(h.netns).isEmpty { try LabShell.start(h, log: "\(dir)/logs/\(h.name).log") }
        try LabProbe.wait(state: state, hosts: hosts, timeout: 30, dir: dir)
        print("started \(names.joined(separator: ", "))")
    }
}

struct LabJoin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join", abstract: "Add a new, empty edge to a data center: it copies the pushed content from its peers.")
    @OptionGroup var lab: LabOptions
    @Argument(help: "The data center.") var dataCenter: String

    func run() async throws {
        let dir = lab.path
        var state = try LabState.load(dir)
        let edges = state.hosts.filter { $0.role == "edge" }
        var dcs: [String] = []
        for e in edges { if let dc = e.dataCenter, !dcs.contains(dc) { dcs.append(dc) } }
        guard let d = dcs.firstIndex(of: dataCenter) else {
            throw OperatorError("no data center '\(dataCenter)' in the lab; its data centers: \(dcs.joined(separator: ", "))")
        }
        let mine = edges.filter { $0.dataCenter == dataCenter }
        var k = mine.count
        while state.hosts.contains(where: { $0.name == "\(dataCenter)-\(k + 1)" }) { k += 1 }
        guard k < 250 else { throw OperatorError("\(dataCenter) has no address left for another edge") }
        let name = "\(dataCenter)-\(k + 1)"
        let plan: LabPlan
        do { plan = LabPlan(fleet: try FleetConfig.load(file: dir + "/fleet.toml"), dir: dir, exe: Up.executablePath(), token: "") } catch {
            throw OperatorError("\(error)")
        }
        let host = plan.edgeHost(EdgeConfig(name: name, dataCenter: dataCenter), address: LabAddresses.edge(dataCenter: d, index: k), dataCenter: dataCenter)
        let ca: PrivateCA
        do {
            ca = try PrivateCA(certificatePEM: try String(contentsOfFile: dir + "/certs/ca.pem", encoding: .utf8),
                               keyPEM: try String(contentsOfFile: dir + "/certs/ca.key", encoding: .utf8))
        } catch {
            throw OperatorError("cannot read the lab's CA in \(dir)/certs (\(error)); bring the lab up again")
        }
        try plan.writeEdge(host, peers: edges, ca: ca)
        let port = state.hosts.count + 1000  // a veth name no other host has
        try LabShell.createHost(host, port: port)
        state.hosts.append(host)
        try state.save(dir)
        try LabShell.start(host, log: "\(dir)/logs/\(host.name).log")
        try LabProbe.wait(state: state, hosts: [host], timeout: 30, dir: dir)
        print("\(name) joined \(dataCenter) at \(host.address) (namespace \(host.netns)); it copies the pushed content from \(edges.count) peers within seconds.")
        print("It is not in the directors' fleet: add it to \(dir)/fleet.toml and restart them to route clients to it.")
    }
}

/// Hidden: run inside a lab namespace, waits until every HOST:PORT accepts a TCP connection.
struct LabProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "probe", abstract: "Wait until addresses accept connections.", shouldDisplay: false)
    @Option var timeout = 30.0
    @Argument var addresses: [String]

    func run() async throws {
        let targets = addresses.compactMap(ListenAddress.init)
        let deadline = Date().addingTimeInterval(timeout)
        var waiting = targets
        while !waiting.isEmpty {
            waiting = waiting.filter { !TCPProbe.accepts(host: $0.host, port: $0.port) }
            if waiting.isEmpty { break }
            guard Date() < deadline else { throw OperatorError("no answer within \(timeout) s from \(waiting.map(\.description).joined(separator: ", "))") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs the probe from the first client's namespace for `hosts`' ports.
    static func wait(state: LabState, hosts: [LabHost], timeout: Double, dir: String) throws {
        let targets = hosts.flatMap { h in (h.ports ?? []).map { "\(h.address):\($0)" } }
        guard !targets.isEmpty, let client = state.hosts.first(where: { $0.role == "client" }), let ip = LabShell.which("ip") else { return }
        do {
            try LabShell.run(ip, ["netns", "exec", client.netns, Up.executablePath(), "lab", "probe", "--timeout", String(timeout)] + targets)
        } catch {
            throw OperatorError("\(error); see the logs in \(dir)/logs/")
        }
    }
}
