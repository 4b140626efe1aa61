import ControlAPI
import Foundation
import HTTPCaching
import NIOCore
import NIOHTTP1
import Synchronization

/// An object placed on the edge by its owner, served until `expires` and never fetched from the
/// origin.
public struct PushedObject: Sendable {
    /// What the disk keeps beside the body and `GET /manifest` lists: one type for both.
    public typealias Meta = Manifest.Entry

    public let meta: Meta
    /// The response served for it, headers computed once at push time.
    public var response: StoredResponse

    public var path: String { meta.path }
    public var size: Int { meta.size }
    public var tags: [String] { meta.tags }
    public var expires: Double { meta.expires }
    public var pushedAt: Double { meta.pushedAt }

    public init(path: String, body: ByteBuffer, sha256: String, contentType: String, tags: [String], expires: Double, pushedAt: Double) {
        meta = Meta(path: path, size: body.readableBytes, sha256: sha256, contentType: contentType, tags: tags, expires: expires, pushedAt: pushedAt)
        let lifetime = max(0, expires - pushedAt)
        var headers: HTTPHeaders = [
            "Content-Type": contentType,
            "ETag": "\"\(sha256.prefix(32))\"",
            "Last-Modified": HTTPDate.format(pushedAt),
            "Date": HTTPDate.format(pushedAt),
            "Expires": HTTPDate.format(expires),
            "Cache-Control": "public, max-age=\(Int(saturating: min(lifetime, 2_147_483_648)))",
        ]
        if !tags.isEmpty { headers.add(name: "Surrogate-Key", value: tags.joined(separator: " ")) }
        response = StoredResponse(
            status: .ok, headers: headers, body: body,
            freshness: Freshness(lifetime: lifetime, correctedInitialAge: 0, responseTime: pushedAt), vary: .none
        )
    }
}

public enum PushLookup: Sendable {
    case live(PushedObject)
    case expired(at: Double)
    case none
}

/// Why a push or delete failed, with the HTTP status the control API answers.
public struct PushError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { message }
}

/// The push capacity one edge's sites share: every site's store counts against it.
public final class PushBudget: Sendable {
    public let capacity: Int
    /// Held weakly: the stores hold the budget.
    private struct Weak: Sendable { weak var store: PushStore? }
    private let stores = Mutex<[Weak]>([])

    public init(capacity: Int) { self.capacity = capacity }

    func register(_ store: PushStore) { stores.withLock { $0.append(Weak(store: store)) } }

    /// Bytes pushed to all the stores together.
    public var used: Int { stores.withLock { $0.compactMap(\.store) }.reduce(0) { $0 + $1.totalBytes } }
}

/// Pushed objects: durable on disk (one file per object: a header line of JSON metadata, then
/// the body; written to a temporary file, fsynced, renamed into place, directory fsynced) and
/// held in memory for serving. A crash at any moment leaves the old version or the new one,
/// never a part. Blocking: call `put`, `delete` and `open` from a thread pool, not an event loop.
public final class PushStore: Sendable {
    public let directory: String
    /// Most bytes all pushed bodies may take together (507 beyond it).
    public let capacity: Int
    private let objects = Mutex<[String: PushedObject]>([:])
    private let tombstones = Mutex<[String: Double]>([:])
    /// What `saveTombstones` last wrote; one writer at a time.
    private let savedTombstones = Mutex<[String: Double]>([:])
    /// Whether anything was ever pushed or loaded: when not, a cache hit skips the lookup.
    private let everUsed = Atomic<Bool>(false)

    public var isEmpty: Bool { !everUsed.load(ordering: .relaxed) }
    /// Serialises rename + index update so disk and memory agree on the last writer.
    private let writeLock = Mutex(())
    private static let magic = "OUTPOST-PUSH 1\n"

    private var objectsDir: String { directory + "/objects" }
    private var tmpDir: String { directory + "/tmp" }
    private var tombstonesFile: String { directory + "/tombstones.json" }

    /// Opens (creating) the data folder, removes partial uploads and expired objects, and loads
    /// the rest. Returns the store and what it did, for the log.
    public static func open(directory: String, capacity: Int, now: Double, budget: PushBudget? = nil) throws(PushError) -> (PushStore, String) {
        let store = PushStore(directory: directory, capacity: capacity, budget: budget)
        budget?.register(store)
        let fm = FileManager.default
        for dir in [store.objectsDir, store.tmpDir] {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw PushError(500, "cannot create the push data folder \(dir): \(error.localizedDescription); check data_dir and its permissions")
            }
        }
        var partial = 0, expired = 0, broken = 0
        for name in (try? fm.contentsOfDirectory(atPath: store.tmpDir)) ?? [] {
            try? fm.removeItem(atPath: store.tmpDir + "/" + name)
            partial += 1
        }
        var loaded: [String: PushedObject] = [:]
        for name in (try? fm.contentsOfDirectory(atPath: store.objectsDir)) ?? [] where name.hasSuffix(".obj") {
            let file = store.objectsDir + "/" + name
            guard let object = Self.read(file) else {
                try? fm.removeItem(atPath: file)
                broken += 1
                continue
            }
            if object.expires <= now {
                try? fm.removeItem(atPath: file)
                expired += 1
                // Its path answers 404 ("expired") for a day, as if there had been no restart.
                if object.expires > now - tombstoneSeconds { store.tombstones.withLock { $0[object.path] = object.expires } }
                continue
            }
            loaded[object.path] = object
        }
        store.objects.withLock { $0 = loaded }
        // Paths whose files a sweep removed before the restart (a bounded file; times from it
        // are input: in the last day, not in the future).
        if let size = (try? fm.attributesOfItem(atPath: store.tombstonesFile))?[.size] as? Int, size <= 16 << 20,
           let data = fm.contents(atPath: store.tombstonesFile), let saved = try? JSONDecoder().decode([String: Double].self, from: data) {
            store.tombstones.withLock { t in
                for (path, at) in saved where at.isFinite && at > now - tombstoneSeconds && at <= now && loaded[path] == nil { t[path] = max(t[path] ?? at, at) }
            }
        }
        store.saveTombstones()
        if !loaded.isEmpty || store.tombstones.withLock({ !$0.isEmpty }) { store.everUsed.store(true, ordering: .relaxed) }
        let bytes = loaded.values.reduce(0) { $0 + $1.size }
        return (store, "pushed objects: \(loaded.count) loaded (\(bytes) bytes), \(expired) expired removed, \(partial) partial uploads removed, \(broken) unreadable removed")
    }

    private init(directory: String, capacity: Int, budget: PushBudget?) {
        self.directory = directory
        self.capacity = capacity
        self.budget = budget
    }

    /// The edge-wide limit this store shares with its sibling sites' stores, if any.
    private let budget: PushBudget?

    /// What is pushed at `path` now. An expired object's body is dropped at once; its path is
    /// remembered (until a restart) so it answers 404 rather than being pulled.
    public func lookup(_ path: String, now: Double) -> PushLookup {
        objects.withLock { o in
            if let obj = o[path] {
                if obj.expires > now { return .live(obj) }
                o[path] = nil
                tombstones.withLock { $0[path] = obj.expires }
                return .expired(at: obj.expires)
            }
            return tombstones.withLock { $0[path] }.map { .expired(at: $0) } ?? .none
        }
    }

    /// Replaces the served response of a stored object (same push), e.g. with its variants.
    public func replaceResponse(_ object: PushedObject) {
        objects.withLock { if $0[object.path]?.pushedAt == object.pushedAt { $0[object.path] = object } }
    }

    /// Replaces every loaded object's response by what `transform` makes of it (the edge
    /// builds compressed variants this way after a restart).
    public func transformAll(_ transform: (StoredResponse) -> StoredResponse) {
        let all = objects.withLock { Array($0.values) }
        for var o in all {
            o.response = transform(o.response)
            let updated = o
            objects.withLock { if $0[updated.path]?.pushedAt == updated.pushedAt { $0[updated.path] = updated } }
        }
    }

    public var totalBytes: Int { objects.withLock { $0.values.reduce(0) { $0 + $1.size } } }

    /// Writes the object durably, then makes it visible. Returns after the data and the rename
    /// are on disk.
    /// `ifStill`: write only if what is stored at the path still has this SHA-256 (a PATCH of
    /// the expiry must not bring back an older body over a PUT or DELETE that came between).
    public func put(_ object: PushedObject, ifStill sha256: String? = nil) throws(PushError) {
        let existing = objects.withLock { $0[object.path]?.size ?? 0 }
        if totalBytes - existing + object.size > capacity {
            throw PushError(507, "the push capacity (\(capacity) bytes) is full; delete or purge pushed objects, or raise push_capacity")
        }
        if let budget, budget.used - existing + object.size > budget.capacity {
            throw PushError(507, "the edge's push capacity (\(budget.capacity) bytes, shared by all its sites) is full; delete or purge pushed objects, or raise the edge's push_capacity")
        }
        let tmp = tmpDir + "/" + UUID().uuidString
        let final = objectsDir + "/" + Self.fileName(object.path)
        var header = Data(Self.magic.utf8)
        do { header.append(try JSONEncoder().encode(object.meta)) } catch { throw PushError(500, "cannot encode metadata: \(error)") }
        header.append(UInt8(ascii: "\n"))
        do {
            try Self.writeDurably(tmp, header: header, body: object.response.body)
        } catch {
            unlink(tmp)
            throw error
        }
        try writeLock.withLock { _ throws(PushError) in
            if let sha256, objects.withLock({ $0[object.path]?.meta.sha256 }) != sha256 {
                unlink(tmp)
                throw PushError(409, "\(object.path) changed while its expiry was being moved; push it again")
            }
            guard rename(tmp, final) == 0 else {
                let e = errno
                unlink(tmp)
                throw PushError(500, "cannot move the upload into place (\(String(cString: strerror(e)))) in \(objectsDir)")
            }
            try Self.fsyncDirectory(objectsDir)
            objects.withLock { $0[object.path] = object }
            tombstones.withLock { $0[object.path] = nil }
            everUsed.store(true, ordering: .relaxed)
        }
    }

    /// The object at `path` as it was pushed (its body from disk, before any minifying): for a
    /// push that only changes the expiry. nil when nothing live is pushed there.
    public func stored(_ path: String, now: Double) -> PushedObject? {
        guard let live = objects.withLock({ $0[path] }), live.expires > now else { return nil }
        return Self.read(objectsDir + "/" + Self.fileName(path))
    }

    /// Removes the object at `path` from disk and memory; false if there was none.
    @discardableResult
    public func delete(_ path: String) throws(PushError) -> Bool {
        try writeLock.withLock { _ throws(PushError) -> Bool in
            guard objects.withLock({ $0.removeValue(forKey: path) }) != nil else { return false }
            let file = objectsDir + "/" + Self.fileName(path)
            if unlink(file) != 0 && errno != ENOENT {
                throw PushError(500, "cannot delete \(file): \(String(cString: strerror(errno)))")
            }
            try Self.fsyncDirectory(objectsDir)
            return true
        }
    }

    /// Live objects whose path starts with `prefix`, sorted by path.
    public func manifest(prefix: String = "/", now: Double) -> [PushedObject.Meta] {
        objects.withLock { o in o.values.filter { $0.path.hasPrefix(prefix) && $0.expires > now }.map(\.meta).sorted { $0.path < $1.path } }
    }

    /// Paths matching a purge.
    public func paths(matching selector: PurgeSelector) -> [String] {
        objects.withLock { o in o.values.filter { selector.matches(path: $0.path, tags: $0.tags) }.map(\.path) }
    }

    /// Deletes expired objects' files; returns how many.
    @discardableResult
    public func sweepExpired(now: Double) -> Int {
        let fm = FileManager.default
        var removed = 0
        for name in (try? fm.contentsOfDirectory(atPath: objectsDir)) ?? [] where name.hasSuffix(".obj") {
            let file = objectsDir + "/" + name
            guard let meta = Self.readMeta(file), meta.expires <= now else { continue }
            writeLock.withLock { _ in
                // Re-check under the lock: a new push may have replaced it meanwhile.
                if let current = Self.readMeta(file), current.expires <= now {
                    unlink(file)
                    objects.withLock { o in
                        if let live = o[meta.path], live.expires <= now {
                            o[meta.path] = nil
                            tombstones.withLock { $0[meta.path] = live.expires }
                        }
                    }
                    removed += 1
                }
            }
        }
        // Tombstones say "expired at T" for a while (a day), then the path is simply unknown:
        // without this the map grows with every distinct path ever pushed.
        tombstones.withLock { t in t = t.filter { $0.value > now - Self.tombstoneSeconds } }
        saveTombstones()
        return removed
    }

    /// The tombstones, on disk when they changed since last saved (a temporary file, fsynced,
    /// renamed, the folder fsynced), so expired paths still answer 404 after a restart.
    func saveTombstones() {
        savedTombstones.withLock { saved in
            let now = tombstones.withLock { $0 }
            guard now != saved, let data = try? JSONEncoder().encode(now) else { return }
            let tmp = tmpDir + "/tombstones." + UUID().uuidString
            do {
                try Self.writeDurably(tmp, header: data, body: ByteBuffer())
                guard rename(tmp, tombstonesFile) == 0 else { unlink(tmp); return }
                try Self.fsyncDirectory(directory)
                saved = now
            } catch {
                unlink(tmp)
            }
        }
    }

    /// How long an expired push is remembered as such (its 404 names the expiry).
    static let tombstoneSeconds = 86_400.0

    // MARK: disk format

    static func fileName(_ path: String) -> String {
        // A hash keeps any URL path a single safe file name.
        SHA256Hex.of(Array(path.utf8)) + ".obj"
    }

    private static func writeDurably(_ file: String, header: Data, body: ByteBuffer) throws(PushError) {
        let fd = Glibc.open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw diskError("create", file) }
        defer { close(fd) }
        /// Writes everything; returns 0 or the errno that stopped it.
        func writeAll(_ ptr: UnsafeRawBufferPointer) -> Int32 {
            var off = 0
            while off < ptr.count {
                let n = Glibc.write(fd, ptr.baseAddress! + off, ptr.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                off += n
            }
            return 0
        }
        var failure = header.withUnsafeBytes { writeAll($0) }
        if failure == 0 { failure = body.withUnsafeReadableBytes { writeAll($0) } }
        if failure != 0 {
            errno = failure
            throw diskError("write", file)
        }
        guard fsync(fd) == 0 else { throw diskError("fsync", file) }
    }

    private static func diskError(_ op: String, _ file: String) -> PushError {
        let e = errno
        if e == ENOSPC || e == EDQUOT {
            return PushError(507, "the edge's disk is full (\(op) \(file)); nothing was stored. Free space in data_dir and push again")
        }
        return PushError(500, "cannot \(op) \(file): \(String(cString: strerror(e)))")
    }

    private static func fsyncDirectory(_ dir: String) throws(PushError) {
        let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw diskError("open", dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw diskError("fsync", dir) }
    }

    static func readMeta(_ file: String) -> PushedObject.Meta? {
        guard let h = FileHandle(forReadingAtPath: file) else { return nil }
        defer { try? h.close() }
        guard let head = try? h.read(upToCount: 64 * 1024), let (meta, _) = parseHeader(head) else { return nil }
        return meta
    }

    static func read(_ file: String) -> PushedObject? {
        guard let data = FileManager.default.contents(atPath: file), let (meta, offset) = parseHeader(data) else { return nil }
        // Metadata on disk is input too: times must be real dates, sizes non-negative.
        guard meta.expires.isFinite, meta.pushedAt.isFinite, meta.expires <= HTTPDate.maximum, meta.pushedAt >= HTTPDate.minimum,
              meta.pushedAt <= meta.expires, meta.size >= 0 else { return nil }
        guard data.count - offset == meta.size else { return nil }  // truncated: never serve a part
        let body = ByteBuffer(bytes: data[offset...])
        guard SHA256Hex.of(Array(data[offset...])) == meta.sha256 else { return nil }
        return PushedObject(path: meta.path, body: body, sha256: meta.sha256, contentType: meta.contentType, tags: meta.tags,
                            expires: meta.expires, pushedAt: meta.pushedAt)
    }

    private static func parseHeader(_ data: Data) -> (PushedObject.Meta, Int)? {
        let magic = Data(Self.magic.utf8)
        guard data.count > magic.count, data.prefix(magic.count) == magic,
              let nl = data[magic.count...].firstIndex(of: UInt8(ascii: "\n")),
              let meta = try? JSONDecoder().decode(PushedObject.Meta.self, from: data[magic.count..<nl])
        else { return nil }
        return (meta, nl + 1 - data.startIndex)
    }
}

/// What a purge applies to: exact paths, a path prefix, or tags.
public struct PurgeSelector: Sendable, Equatable {
    public var paths: Set<String> = []
    public var prefixes: [String] = []
    public var tags: Set<String> = []
    /// Only this site's keys, on an edge with several sites; nil: every key.
    public var site: String?

    public init(paths: Set<String> = [], prefixes: [String] = [], tags: Set<String> = [], site: String? = nil) {
        self.paths = paths
        self.prefixes = prefixes
        self.tags = tags
        self.site = site
    }

    public var isEmpty: Bool { paths.isEmpty && prefixes.isEmpty && tags.isEmpty }

    public func matches(path: some StringProtocol, tags objectTags: [String]) -> Bool {
        paths.contains(String(path)) || prefixes.contains { path.hasPrefix($0) } || objectTags.contains { tags.contains($0) }
    }
}
