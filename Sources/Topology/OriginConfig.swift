import Foundation

/// The origin server's settings (`origin/origin.toml`).
public struct OriginConfig: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var glob: PathGlob
        public var cacheControl: String
        public init(glob: PathGlob, cacheControl: String) {
            self.glob = glob
            self.cacheControl = cacheControl
        }
    }

    public var listen: ListenAddress
    /// Folder served, absolute.
    public var root: String
    /// Cache-Control for paths no rule matches.
    public var defaultCacheControl: String
    /// First matching rule wins.
    public var rules: [Rule]
    /// Path prefix of generated objects for benchmarks (`<prefix><id>-<size>.bin`); nil (the
    /// default): off, so a public origin does not hand anyone 16 MiB objects it never stored.
    public var syntheticPrefix: String?
    /// Timeouts and connection caps of the listener.
    public var limits = ListenerLimits()
    /// Other sites this origin serves, each from its own folder, chosen by the request's
    /// `Host` (`[[hosts]]`); any other host gets `root`.
    public var hosts: [VirtualHost] = []

    /// A site of the origin's own: the hostnames that select it (lowercase, no port) and its folder.
    public struct VirtualHost: Sendable, Equatable {
        public var names: [String]
        public var root: String
        public var defaultCacheControl: String?
        public init(names: [String], root: String, defaultCacheControl: String? = nil) {
            self.names = names
            self.root = root
            self.defaultCacheControl = defaultCacheControl
        }
    }

    public init(
        listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080), root: String,
        defaultCacheControl: String = "public, max-age=60", rules: [Rule] = []
    ) {
        self.listen = listen
        self.root = root
        self.defaultCacheControl = defaultCacheControl
        self.rules = rules
    }

    public static func load(file: String) throws(ConfigError) -> OriginConfig {
        let s = try ConfigSection.load(file: file)
        try s.rejectUnknownKeys(Set(["listen", "root", "default_cache_control", "rules", "synthetic_prefix", "hosts"]).union(ListenerLimits.keys))
        let dir = (file as NSString).deletingLastPathComponent
        func folder(_ section: ConfigSection, _ setting: String) throws(ConfigError) -> String {
            let root = setting.hasPrefix("/") ? setting : (dir.isEmpty ? setting : "\(dir)/\(setting)")
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
                throw section.error("root", "'\(root)' is not a folder; point root at the folder to serve (relative to \(file))")
            }
            return URL(fileURLWithPath: root).standardizedFileURL.path
        }
        let root = try folder(s, try s.string("root") ?? "site")
        var hosts: [VirtualHost] = []
        for h in try s.sections("hosts") {
            try h.rejectUnknownKeys(["names", "root", "default_cache_control"])
            var names: [String] = []
            for n in try h.strings("names") ?? [] {
                guard let host = HostPattern.normalise(n), HostPattern(host) != nil, host == n.lowercased() else {
                    throw h.error("names", "'\(n)' is not a hostname (no port, no scheme, no wildcard)")
                }
                guard !hosts.contains(where: { $0.names.contains(host) }) else { throw h.error("names", "'\(host)' is listed by two [[hosts]]") }
                names.append(host)
            }
            guard !names.isEmpty else { throw h.error("names", "list the hostnames that select this folder: names = [\"docs.example\"]") }
            hosts.append(VirtualHost(names: names, root: try folder(h, try h.requiredString("root")), defaultCacheControl: try h.string("default_cache_control")))
        }
        var rules: [Rule] = []
        for r in try s.sections("rules") {
            try r.rejectUnknownKeys(["path", "cache_control"])
            let pattern = try r.requiredString("path")
            guard pattern.hasPrefix("/") else { throw r.error("path", "'\(pattern)' must start with '/'") }
            rules.append(Rule(glob: PathGlob(pattern), cacheControl: try r.requiredString("cache_control")))
        }
        var config = OriginConfig(
            listen: try s.listenAddress("listen") ?? ListenAddress(host: "127.0.0.1", port: 8080),
            root: root,
            defaultCacheControl: try s.string("default_cache_control") ?? "public, max-age=60",
            rules: rules
        )
        config.limits = try ListenerLimits(section: s)
        config.hosts = hosts
        if let p = try s.string("synthetic_prefix") {
            guard p.isEmpty || (p.hasPrefix("/") && p.hasSuffix("/")) else { throw s.error("synthetic_prefix", "must start and end with '/' (or be \"\" to turn it off)") }
            config.syntheticPrefix = p.isEmpty ? nil : p
        }
        return config
    }

    /// The Cache-Control for a request path (the first rule that matches, else the default).
    public func cacheControl(forPath path: String, host: VirtualHost? = nil) -> String {
        rules.first { $0.glob.matches(path) }?.cacheControl ?? host?.defaultCacheControl ?? defaultCacheControl
    }
}

/// A path pattern: `*` is any run of characters but `/`, `**` any run including `/`, `?` one
/// character but `/`, `[0-9a-f]` one character of a set. Matching runs the pattern as a set of
/// positions over the path, one character at a time: linear in the path's length whatever the
/// pattern (a backtracking matcher is exponential in the stars, and paths come from clients).
public struct PathGlob: Sendable, Equatable, CustomStringConvertible {
    enum Token: Sendable, Equatable {
        case literal(Character)
        case one
        case set([ClosedRange<Character>])
        case star
        case doubleStar
    }

    public let pattern: String
    let tokens: [Token]

    public init(_ pattern: String) {
        self.pattern = pattern
        var tokens: [Token] = []
        let p = Array(pattern)
        var i = 0
        while i < p.count {
            switch p[i] {
            case "*":
                if i + 1 < p.count, p[i + 1] == "*" {
                    tokens.append(.doubleStar)
                    i += 2
                } else {
                    tokens.append(.star)
                    i += 1
                }
            case "?":
                tokens.append(.one)
                i += 1
            case "[":
                guard let close = p[(i + 1)...].firstIndex(of: "]") else {
                    tokens.append(.literal("["))
                    i += 1
                    continue
                }
                var ranges: [ClosedRange<Character>] = []
                var j = i + 1
                while j < close {
                    if j + 2 < close, p[j + 1] == "-", p[j] <= p[j + 2] {
                        ranges.append(p[j]...p[j + 2])
                        j += 3
                    } else {
                        ranges.append(p[j]...p[j])
                        j += 1
                    }
                }
                tokens.append(.set(ranges))
                i = close + 1
            default:
                tokens.append(.literal(p[i]))
                i += 1
            }
        }
        self.tokens = tokens
    }

    public var description: String { pattern }

    public func matches(_ path: String) -> Bool {
        var active = [Bool](repeating: false, count: tokens.count + 1)
        active[0] = true
        close(&active)
        var next = [Bool](repeating: false, count: tokens.count + 1)
        for c in path {
            for i in next.indices { next[i] = false }
            var any = false
            for (i, token) in tokens.enumerated() where active[i] {
                switch token {
                case .literal(let l) where l == c: next[i + 1] = true
                case .one where c != "/": next[i + 1] = true
                case .set(let ranges) where ranges.contains(where: { $0.contains(c) }): next[i + 1] = true
                case .star where c != "/": next[i] = true
                case .doubleStar: next[i] = true
                default: continue
                }
                any = true
            }
            guard any else { return false }
            close(&next)
            swap(&active, &next)
        }
        return active[tokens.count]
    }

    /// Stars match nothing too: a position before a star also stands after it.
    private func close(_ active: inout [Bool]) {
        for (i, token) in tokens.enumerated() where active[i] {
            if token == .star || token == .doubleStar { active[i + 1] = true }
        }
    }
}
