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
    /// Path prefix of generated objects for benchmarks (`<prefix><id>-<size>.bin`); nil: off.
    public var syntheticPrefix: String? = "/_bench/"

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
        try s.rejectUnknownKeys(["listen", "root", "default_cache_control", "rules", "synthetic_prefix"])
        let dir = (file as NSString).deletingLastPathComponent
        let rootSetting = try s.string("root") ?? "site"
        let root = rootSetting.hasPrefix("/") ? rootSetting : (dir.isEmpty ? rootSetting : "\(dir)/\(rootSetting)")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw s.error("root", "'\(root)' is not a folder; point root at the folder to serve (relative to \(file))")
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
            root: URL(fileURLWithPath: root).standardizedFileURL.path,
            defaultCacheControl: try s.string("default_cache_control") ?? "public, max-age=60",
            rules: rules
        )
        if let p = try s.string("synthetic_prefix") {
            guard p.isEmpty || (p.hasPrefix("/") && p.hasSuffix("/")) else { throw s.error("synthetic_prefix", "must start and end with '/' (or be \"\" to turn it off)") }
            config.syntheticPrefix = p.isEmpty ? nil : p
        }
        return config
    }

    /// The Cache-Control for a request path (the first rule that matches, else the default).
    public func cacheControl(forPath path: String) -> String {
        rules.first { $0.glob.matches(path) }?.cacheControl ?? defaultCacheControl
    }
}

/// A path pattern: `*` is any run of characters but `/`, `**` any run including `/`, `?` one
/// character but `/`, `[0-9a-f]` one character of a set.
public struct PathGlob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = Array(pattern)
    }

    public var description: String { pattern }

    public func matches(_ path: String) -> Bool {
        Self.match(tokens[...], Array(path)[...])
    }

    private static func match(_ p: ArraySlice<Character>, _ s: ArraySlice<Character>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        switch first {
        case "*":
            let doubleStar = p.dropFirst().first == "*"
            let rest = p.dropFirst(doubleStar ? 2 : 1)
            var i = s.startIndex
            while true {
                if match(rest, s[i...]) { return true }
                guard i < s.endIndex, doubleStar || s[i] != "/" else { return false }
                i += 1
            }
        case "?":
            guard let c = s.first, c != "/" else { return false }
            return match(p.dropFirst(), s.dropFirst())
        case "[":
            guard let close = p.dropFirst().firstIndex(of: "]"), let c = s.first else { return false }
            let set = Array(p[(p.startIndex + 1)..<close])
            var ok = false
            var i = 0
            while i < set.count {
                if i + 2 < set.count, set[i + 1] == "-" {
                    if set[i] <= c && c <= set[i + 2] { ok = true }
                    i += 3
                } else {
                    if set[i] == c { ok = true }
                    i += 1
                }
            }
            return ok && match(p[(close + 1)...], s.dropFirst())
        default:
            guard s.first == first else { return false }
            return match(p.dropFirst(), s.dropFirst())
        }
    }
}
