import Foundation
/// The control API's wire types: what an edge's control listener sends, and what the CLI and
/// the director read. One definition of each, shared by all three, so they cannot drift apart.

/// The hit ratios' definitions, as the edge, `outpost stats` and the dashboard state them.
public enum HitRatio {
    public static let definition = "hit ratio = requests answered without an origin request of their own (hit, stale, pushed, collapsed) / all requests but passes"
    public static let byteDefinition = "byte hit ratio = body bytes not fetched from the origin (those and revalidated) / all body bytes but passes"
    /// Both, as one sentence.
    public static let both = definition + "; " + byteDefinition
}

/// `GET /stats`: an edge's counters now.
public struct StatsSnapshot: Sendable, Codable {
    public struct Counts: Sendable, Codable, Equatable {
        public var requests = 0
        public var bytes = 0
        public init(requests: Int = 0, bytes: Int = 0) {
            self.requests = requests
            self.bytes = bytes
        }
    }

    /// The numerators and denominators of the two ratios, so that totals over several edges are
    /// sums (what `outpost stats` and the director's dashboard add up).
    public struct RatioCounts: Sendable, Codable, Equatable {
        /// Requests and body bytes but passes.
        public var requests: Int
        public var bytes: Int
        /// Requests answered without an origin request of their own.
        public var hits: Int
        /// Body bytes not fetched from the origin.
        public var savedBytes: Int
        public init(requests: Int, bytes: Int, hits: Int, savedBytes: Int) {
            self.requests = requests
            self.bytes = bytes
            self.hits = hits
            self.savedBytes = savedBytes
        }
    }

    public struct Store: Sendable, Codable {
        public var objects: Int
        public var bytes: Int
        public var budget: Int
        public var evictions: Int
        public var rejected: Int
        /// Lookups the memory tier answered.
        public var hits: Int?
        public init(objects: Int, bytes: Int, budget: Int, evictions: Int, rejected: Int, hits: Int? = nil) {
            self.objects = objects
            self.bytes = bytes
            self.budget = budget
            self.evictions = evictions
            self.rejected = rejected
            self.hits = hits
        }
    }

    /// The disk tier, when the edge has one.
    public struct Disk: Sendable, Codable, Equatable {
        public var objects: Int
        public var bytes: Int
        public var budget: Int
        /// Lookups the disk tier answered (memory misses found on disk).
        public var hits: Int
        public var writes: Int
        public var evictions: Int
        /// Files that failed their checksum when read, and were removed.
        public var corrupt: Int
        /// Writes dropped because the disk was behind.
        public var dropped: Int
        /// Whether the start-up scan of the folder is done.
        public var loaded: Bool
        public init(objects: Int, bytes: Int, budget: Int, hits: Int, writes: Int, evictions: Int, corrupt: Int, dropped: Int, loaded: Bool) {
            self.objects = objects
            self.bytes = bytes
            self.budget = budget
            self.hits = hits
            self.writes = writes
            self.evictions = evictions
            self.corrupt = corrupt
            self.dropped = dropped
            self.loaded = loaded
        }
    }

    /// One site's share of the edge's requests (an edge with `[[sites]]`).
    public struct Site: Sendable, Codable {
        public var outcomes: [String: Counts]
        public var ratios: RatioCounts
        /// This site's live pushed objects (count and bytes).
        public var pushed: Counts?
        public init(outcomes: [String: Counts], ratios: RatioCounts, pushed: Counts? = nil) {
            self.outcomes = outcomes
            self.ratios = ratios
            self.pushed = pushed
        }
    }

    public var edge: String
    public var dataCenter: String
    public var time: Double
    public var outcomes: [String: Counts]
    /// By site name, when the edge has `[[sites]]`; their sums are the edge's.
    public var sites: [String: Site]?
    public var origin: Counts
    public var store: Store
    public var disk: Disk?
    public var pushed: Counts
    public var ratios: RatioCounts
    public var hitRatio: Double
    public var byteHitRatio: Double
    public var definition: String

    public init(
        edge: String, dataCenter: String, time: Double, outcomes: [String: Counts], origin: Counts, store: Store, pushed: Counts,
        ratios: RatioCounts, hitRatio: Double, byteHitRatio: Double, definition: String = HitRatio.both
    ) {
        self.edge = edge
        self.dataCenter = dataCenter
        self.time = time
        self.outcomes = outcomes
        self.origin = origin
        self.store = store
        self.pushed = pushed
        self.ratios = ratios
        self.hitRatio = hitRatio
        self.byteHitRatio = byteHitRatio
        self.definition = definition
    }
}

/// `GET /manifest`: the pushed objects an edge holds.
public struct Manifest: Sendable, Codable {
    public struct Entry: Sendable, Codable, Equatable {
        public var path: String
        public var size: Int
        public var sha256: String
        public var contentType: String
        public var tags: [String]
        /// Seconds since the epoch.
        public var expires: Double
        public var pushedAt: Double
        public init(path: String, size: Int, sha256: String, contentType: String, tags: [String], expires: Double, pushedAt: Double) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.contentType = contentType
            self.tags = tags
            self.expires = expires
            self.pushedAt = pushedAt
        }
    }

    public var edge: String
    /// The site these objects are pushed to; nil: the edge has no `[[sites]]`.
    public var site: String?
    public var objects: [Entry]
    public init(edge: String, site: String? = nil, objects: [Entry]) {
        self.edge = edge
        self.site = site
        self.objects = objects
    }
}

/// `POST /purge`: what was purged.
public struct PurgeResult: Sendable, Codable {
    public var purged: Int
    /// Pulled (cached) objects among them, and pushed ones.
    public var pulled: Int
    public var pushed: Int
    public var soft: Bool
    public init(purged: Int, pulled: Int, pushed: Int, soft: Bool) {
        self.purged = purged
        self.pulled = pulled
        self.pushed = pushed
        self.soft = soft
    }
}

/// Percent-encoding of control API targets, for every caller (the CLI, peer edges).
public enum ControlTarget {
    /// A pushed object's path as a URL path (`?`, `#`, `%` and `;` encoded).
    public static func encodePath(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }

    /// A query value (`&`, `=`, `+`, `?` and `#` encoded).
    public static func encodeQuery(_ s: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
