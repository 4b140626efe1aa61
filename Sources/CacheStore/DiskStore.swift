import Crypto
import Foundation
import HTTPCaching
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The disk tier, under the memory tier: what memory evicts is written here, and a memory miss
/// looks here before the origin. One file per key (its latest stored variant), named by the
/// SHA-256 of the key, written to a temporary file and renamed into place, and ending in the
/// SHA-256 of everything before it: a file cut short or damaged (a crash mid-write, a disk
/// error, a file planted by hand) fails the check on read and is removed, never served.
///
/// The byte budget holds at all times: room is made (least recently used first) and reserved
/// before a file is written. At start the folder is scanned (names and sizes only) on a thread
/// of its own; until the scan is done lookups still find files by name, and nothing is written.
/// Purges are bans (as Varnish's): a file stored before a matching ban is a miss; bans are
/// kept in the folder (fsynced) so they outlive a restart. Removals leave tombstones, so a
/// write queued before one cannot bring the old copy back. One process per folder (a lock).
///
/// Blocking file work: call `get`, `put`, `remove`, `purge` and `load` off the event loops.
public final class DiskStore: Sendable {
    public struct Stats: Sendable, Equatable {
        public var objects = 0
        public var bytes = 0
        public var budget = 0
        /// Lookups answered from disk.
        public var hits = 0
        public var writes = 0
        public var evictions = 0
        /// Files that failed their check when read, and were removed.
        public var corrupt = 0
        /// Whether the start-up scan is done.
        public var loaded = false
    }

    /// A purge, kept until a restart and after it.
    public struct Ban: Codable, Sendable, Equatable {
        public var time: Double
        public var site: String?
        public var paths: [String]
        public var prefixes: [String]
        public var tags: [String]
        /// Everything stored until `time` (what the tier was emptied of).
        public var all: Bool?
    }

    /// A ban as reads check it (its sets built once).
    private struct ActiveBan {
        var time: Double
        var sitePrefix: String?
        var selector: PurgeSelector
        var all: Bool
        init(_ b: Ban) {
            time = b.time
            sitePrefix = b.site.map(CacheKey.Origin.sitePrefix)
            selector = PurgeSelector(paths: Set(b.paths), prefixes: b.prefixes, tags: Set(b.tags))
            all = b.all ?? false
        }
        func matches(key: String, path: Substring, tags: [String], storedAt: Double) -> Bool {
            guard time >= storedAt else { return false }
            if all { return true }
            if let sitePrefix, !key.hasPrefix(sitePrefix) { return false }
            return selector.matches(path: path, tags: tags)
        }
    }

    private struct Entry {
        var size: Int
        var order: UInt64
    }

    private struct State {
        var index: [String: Entry] = [:]
        /// Least recently used first, with stale entries skipped (an entry's latest use is the
        /// one whose order matches the index).
        var queue: [(name: String, order: UInt64)] = []
        var head = 0
        var clock: UInt64 = 0
        var bans: [Ban] = []
        var active: [ActiveBan] = []
        /// Bumped with every change to `bans`, so that the newest list is the one saved.
        var bansVersion = 0
        /// Keys removed (an invalidation, a push over a pulled copy, a write refused): a file
        /// stored until then is a miss, whatever write lands later. Pruned as it grows.
        var tombstones: [String: Double] = [:]
        var stats = Stats()

        mutating func touch(_ name: String) {
            guard index[name] != nil else { return }
            clock += 1
            index[name]?.order = clock
            queue.append((name, clock))
            compactIfNeeded()
        }

        mutating func add(_ name: String, size: Int, order: UInt64? = nil) {
            if let old = index[name] { stats.bytes -= old.size } else { stats.objects += 1 }
            let o: UInt64
            if let order { o = order } else { clock += 1; o = clock }
            index[name] = Entry(size: size, order: o)
            stats.bytes += size
            queue.append((name, o))
            compactIfNeeded()
        }

        mutating func drop(_ name: String) {
            guard let old = index.removeValue(forKey: name) else { return }
            stats.bytes -= old.size
            stats.objects -= 1
        }

        /// The least recently used file, taken out of the index.
        mutating func victim() -> String? {
            while head < queue.count {
                let (name, order) = queue[head]
                head += 1
                if index[name]?.order == order {
                    drop(name)
                    return name
                }
            }
            return nil
        }

        /// Keeps the queue within a few times the index (accesses append to it).
        mutating func compactIfNeeded() {
            if head > 4096 && head > queue.count / 2 {
                queue.removeFirst(head)
                head = 0
            }
            if queue.count - head > 4 * index.count + 4096 {
                queue = index.map { ($0.key, $0.value.order) }.sorted { $0.order < $1.order }
                head = 0
            }
        }

        mutating func setBans(_ new: [Ban]) {
            bans = new
            active = new.map(ActiveBan.init)
            bansVersion += 1
        }

        mutating func tombstone(_ name: String, at time: Double) {
            tombstones[name] = max(time, tombstones[name] ?? time)
            if tombstones.count > 100_000 {
                let cut = time - 600
                tombstones = tombstones.filter { $0.value > cut }
            }
        }
    }

    public let directory: String
    public let budget: Int
    /// Larger files are not read (nor written): a bound on what one lookup may cost.
    public let maxFileSize: Int
    private let state: Mutex<State>
    private let loaded = Atomic<Bool>(false)
    /// One write at a time: room is made, the file written and renamed, and the index updated
    /// in order, so the files never add up to more than the budget and the index agrees.
    private let writeLock = Mutex(())
    private let bansLock = Mutex(0)
    /// Held for the life of the store: one process per folder.
    private let lockFD: Int32
    static let magic = Array("OUTPOST-DISK 01\n".utf8)
    /// More bans than this and the tier is emptied instead (each read checks every ban).
    static let maxBans = 1000

    private var objectsDir: String { directory + "/objects" }
    private var tmpDir: String { directory + "/tmp" }
    private var bansFile: String { directory + "/bans.json" }

    /// Opens (creating) the folder, takes its lock (one edge per folder), removes partial
    /// writes and reads the bans. Call `load` next (on a thread of its own).
    public static func open(directory: String, budget: Int, maxFileSize: Int = 1 << 30) throws -> DiskStore {
        let fm = FileManager.default
        for dir in [directory + "/objects", directory + "/tmp"] {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw DiskStoreError("cannot create the disk cache folder \(dir): \(error.localizedDescription); check disk_cache and its permissions")
            }
        }
        let fd = Glibc.open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if fd >= 0 { close(fd) }
            throw DiskStoreError("the disk cache folder \(directory) is in use by another process (its lock file is held); give each edge its own disk_cache")
        }
        let store = DiskStore(directory: directory, budget: budget, maxFileSize: maxFileSize, lockFD: fd)
        for name in (try? fm.contentsOfDirectory(atPath: store.tmpDir)) ?? [] { unlink(store.tmpDir + "/" + name) }
        if let data = fm.contents(atPath: store.bansFile) {
            if let bans = try? JSONDecoder().decode([Ban].self, from: data) {
                store.state.withLock { $0.setBans(Array(bans.suffix(maxBans))) }
            } else {
                // Bans that cannot be read could let purged objects back: everything stored so
                // far is banned instead.
                store.state.withLock { $0.setBans([Ban(time: Date().timeIntervalSince1970, paths: [], prefixes: [], tags: [], all: true)]) }
                store.saveBans()
            }
        }
        return store
    }

    private init(directory: String, budget: Int, maxFileSize: Int, lockFD: Int32) {
        self.directory = directory
        self.budget = budget
        self.maxFileSize = min(maxFileSize, budget)
        self.lockFD = lockFD
        var s = State()
        s.stats.budget = budget
        state = Mutex(s)
    }

    deinit { close(lockFD) }

    public var stats: Stats { state.withLock { $0.stats } }
    public var isLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// Takes stock of the files (names and sizes, oldest first by modification time, and older
    /// than anything used meanwhile), then trims to the budget. Returns how many files and how
    /// long it took, for the log.
    @discardableResult
    public func load() -> (files: Int, seconds: Double) {
        let started = Date()
        var found: [(name: String, size: Int, modified: Int)] = []
        let fm = FileManager.default
        for dir in ((try? fm.contentsOfDirectory(atPath: objectsDir)) ?? []).sorted() where dir.utf8.count == 2 {
            let path = objectsDir + "/" + dir
            guard let d = opendir(path) else { continue }
            let fd = dirfd(d)
            while let e = readdir(d) {
                // Names of 64 bytes only (the rest: ".", "..", strays), stat-ed by the folder's descriptor.
                var st = stat()
                let ok = withUnsafeBytes(of: e.pointee.d_name) { raw -> Bool in
                    guard raw.count > 64, raw[64] == 0, raw[63] != 0 else { return false }
                    return raw.withMemoryRebound(to: CChar.self) { chars in chars.baseAddress.map { fstatat(fd, $0, &st, 0) == 0 } ?? false }
                }
                guard ok, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(64), as: UTF8.self) }
                guard name.hasPrefix(dir) else { continue }
                found.append((name, Int(st.st_size), Int(st.st_mtim.tv_sec)))
            }
            closedir(d)
        }
        found.sort { $0.modified < $1.modified }
        var victims: [String] = []
        state.withLock { s in
            // Files read while the scan ran are the most recently used: the scanned ones go
            // before them in the queue.
            var order: UInt64 = 0
            let before = s.queue
            s.queue = []
            s.head = 0
            for f in found where s.index[f.name] == nil {
                s.add(f.name, size: f.size, order: order)
                order += 1
            }
            for (name, o) in before where s.index[name]?.order == o {
                s.clock += 1
                s.index[name]?.order = order + s.clock
                s.queue.append((name, order + s.clock))
            }
            s.clock += order
            while s.stats.bytes > budget, let v = s.victim() {
                victims.append(v)
                s.stats.evictions += 1
            }
            s.stats.loaded = true
        }
        for v in victims { unlink(path(of: v)) }
        loaded.store(true, ordering: .releasing)
        return (found.count, Date().timeIntervalSince(started))
    }

    static func name(_ key: CacheKey) -> String { SHA256Hex.of(Array(key.value.utf8)) }
    private func path(of name: String) -> String { objectsDir + "/" + name.prefix(2) + "/" + name }

    /// A key's file name (the SHA-256 of the key), worked out once per lookup.
    public struct Name: Sendable {
        let value: String
        public init(_ key: CacheKey) { value = DiskStore.name(key) }
    }

    /// Whether a lookup could find the file: before the scan is done, maybe; after it, only
    /// what the index holds (cheap: call it before going off the event loop for `get`).
    public func mayHave(_ name: Name) -> Bool {
        guard isLoaded else { return true }
        return state.withLock { $0.index[name.value] != nil }
    }

    /// The stored response for `key` that `requestHeaders` select; nil when there is none, it
    /// is banned or removed, or its file fails the check (then removed).
    public func get(_ key: CacheKey, requestHeaders: HTTPHeaders, name known: Name? = nil) -> StoredResponse? {
        let name = known?.value ?? Self.name(key)
        let file = path(of: name)
        guard let bytes = Self.readFile(file, limit: maxFileSize) else {
            if access(file, F_OK) != 0 { state.withLock { $0.drop(name) } }
            return nil
        }
        guard let (header, response) = Self.decode(bytes), header.key == key.value else {
            writeLock.withLock { _ in
                // Unless a write replaced it meanwhile: then it is that write's.
                if let again = Self.readFile(file, limit: maxFileSize), Self.decode(again) != nil { return }
                unlink(file)
                state.withLock { s in
                    s.drop(name)
                    s.stats.corrupt += 1
                }
            }
            return nil
        }
        if isDead(name, key, response, storedAt: header.storedAt) {
            // Banned or removed: the file goes, unless a write replaced it meanwhile.
            writeLock.withLock { _ in
                if let again = Self.readFile(file, limit: maxFileSize).flatMap(Self.decode), isDead(name, key, again.1, storedAt: again.0.storedAt) {
                    unlink(file)
                    state.withLock { $0.drop(name) }
                }
            }
            return nil
        }
        let usable = state.withLock { s -> Bool in
            guard response.vary.matches(requestHeaders) else { return false }
            if s.index[name] == nil {
                // Found by name before the scan took stock of it; after the scan, a file the
                // index does not know is not this store's to serve.
                guard !s.stats.loaded else { return false }
                s.add(name, size: bytes.count)
            } else {
                s.touch(name)
            }
            s.stats.hits += 1
            return true
        }
        return usable ? response : nil
    }

    /// Whether a file stored at `storedAt` is banned or removed since.
    private func isDead(_ name: String, _ key: CacheKey, _ r: StoredResponse, storedAt: Double) -> Bool {
        state.withLock { s in
            if let removed = s.tombstones[name], removed >= storedAt { return true }
            return s.active.contains { $0.matches(key: key.value, path: key.path, tags: r.tags, storedAt: storedAt) }
        }
    }

    /// Writes `response` for `key` (replacing what is there), stored at `storedAt` (when the
    /// origin answered: a purge after that bans it). Not while the start-up scan runs, nor
    /// when it is too large; then the key is removed instead, so that no older copy stays.
    @discardableResult
    public func put(_ key: CacheKey, _ response: StoredResponse, storedAt: Double) -> Bool {
        let name = Self.name(key)
        let bytes = Self.encode(key, response, storedAt: storedAt)
        guard isLoaded, bytes.count <= maxFileSize else {
            remove(key, at: storedAt)
            return false
        }
        return writeLock.withLock { _ -> Bool in
            if isDead(name, key, response, storedAt: storedAt) { return false }
            // Room first (the file being replaced counts until it is), then the write.
            var victims: [String] = []
            state.withLock { s in
                let replaced = s.index[name]?.size ?? 0
                while s.stats.bytes - replaced + bytes.count > budget, let v = s.victim() {
                    victims.append(v)
                    s.stats.evictions += 1
                }
            }
            for v in victims where v != name { unlink(path(of: v)) }
            let final = path(of: name)
            let tmp = tmpDir + "/" + name
            let dir = objectsDir + "/" + name.prefix(2)
            if access(dir, F_OK) != 0 { mkdir(dir, 0o755) }
            guard Self.writeFile(tmp, bytes) else {
                unlink(tmp)
                return false
            }
            return state.withLock { s -> Bool in
                guard rename(tmp, final) == 0 else {
                    unlink(tmp)
                    return false
                }
                s.add(name, size: bytes.count)
                s.stats.writes += 1
                return true
            }
        }
    }

    /// Makes what is stored for `key` until `at` a miss, without touching the disk (on an event
    /// loop; the file goes when evicted, or with `remove`).
    public func forget(_ key: CacheKey, at time: Double) {
        let name = Self.name(key)
        state.withLock { $0.tombstone(name, at: time) }
    }

    /// Removes what is stored for `key` (an invalidation, a push over it): a file stored
    /// until `at` is never served, whatever write lands after.
    public func remove(_ key: CacheKey, at time: Double) {
        let name = Self.name(key)
        state.withLock { s in
            s.drop(name)
            s.tombstone(name, at: time)
        }
        unlink(path(of: name))
    }

    /// Bans what the selector matches, stored until now, at once (reads check it from this
    /// call on); `saveBans` keeps the list on disk. Past `maxBans`, everything until now is
    /// banned instead.
    public func ban(_ selector: PurgeSelector, now: Double) {
        let ban = Ban(time: now, site: selector.site, paths: selector.paths.sorted(), prefixes: selector.prefixes, tags: selector.tags.sorted())
        state.withLock { s in
            var bans = s.bans + [ban]
            if bans.count > Self.maxBans { bans = [Ban(time: now, paths: [], prefixes: [], tags: [], all: true)] }
            s.setBans(bans)
        }
    }

    /// Writes the newest ban list durably (a temporary file, fsynced, renamed; the folder
    /// fsynced). Blocking.
    public func saveBans() {
        bansLock.withLock { saved in
            let (bans, version) = state.withLock { ($0.bans, $0.bansVersion) }
            guard version > saved, let data = try? JSONEncoder().encode(bans) else { return }
            let tmp = bansFile + ".tmp"
            guard Self.writeFile(tmp, Array(data), sync: true), rename(tmp, bansFile) == 0 else { return }
            let dirFD = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirFD >= 0 {
                fsync(dirFD)
                close(dirFD)
            }
            saved = version
        }
    }

    // MARK: the file format

    /// What a file says of its object, before the body.
    struct Header: Codable {
        var key: String
        var storedAt: Double
        var status: Int
        var headers: [[String]]
        var lifetime: Double
        var correctedInitialAge: Double
        var responseTime: Double
        var staleWhileRevalidate: Double
        var staleIfError: Double
        var requiresValidation: Bool
        var mayServeStale: Bool
        var varyNames: [String]
        var varyValues: [String]
        var transformed: Bool
        var bodyLength: Int
        /// Each compressed variant's coding and length, in the order their bytes follow.
        var variants: [Variant]
        struct Variant: Codable {
            var coding: String
            var length: Int
        }
    }

    /// The bytes a response takes on disk (its file).
    public static func encodedSize(_ key: CacheKey, _ r: StoredResponse) -> Int { encode(key, r, storedAt: 0).count }

    /// magic, header length (4 bytes, big-endian), header (JSON), body, variants, SHA-256.
    static func encode(_ key: CacheKey, _ r: StoredResponse, storedAt: Double) -> [UInt8] {
        let variants = r.variants.sorted { $0.key < $1.key }
        let f = r.freshness
        let header = Header(
            key: key.value, storedAt: storedAt, status: Int(r.status.code), headers: r.headers.map { [$0.name, $0.value] },
            lifetime: f.lifetime, correctedInitialAge: f.correctedInitialAge, responseTime: f.responseTime,
            staleWhileRevalidate: f.staleWhileRevalidate, staleIfError: f.staleIfError, requiresValidation: f.requiresValidation,
            mayServeStale: f.mayServeStale, varyNames: r.vary.fieldNames, varyValues: r.vary.values, transformed: r.transformed,
            bodyLength: r.body.readableBytes, variants: variants.map { Header.Variant(coding: $0.key, length: $0.value.readableBytes) })
        let json = (try? JSONEncoder().encode(header)).map(Array.init) ?? []
        var out = magic
        out.reserveCapacity(magic.count + 4 + json.count + r.body.readableBytes + variants.reduce(0) { $0 + $1.value.readableBytes } + 32)
        let n = UInt32(clamping: json.count)
        out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        out += json
        out += r.body.readableBytesView
        for v in variants { out += v.value.readableBytesView }
        out += SHA256.hash(data: out)
        return out
    }

    /// The header and response a file's bytes hold; nil unless every length adds up and the
    /// checksum matches.
    static func decode(_ bytes: [UInt8]) -> (Header, StoredResponse)? {
        let fixed = magic.count + 4
        guard bytes.count >= fixed + 32, bytes.starts(with: magic) else { return nil }
        let digestStart = bytes.count - 32
        guard Array(SHA256.hash(data: bytes[..<digestStart])) == Array(bytes[digestStart...]) else { return nil }
        let n = Int(bytes[magic.count]) << 24 | Int(bytes[magic.count + 1]) << 16 | Int(bytes[magic.count + 2]) << 8 | Int(bytes[magic.count + 3])
        guard n <= digestStart - fixed, let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[fixed..<(fixed + n)])) else { return nil }
        var offset = fixed + n
        func take(_ length: Int) -> ByteBuffer? {
            guard length >= 0, length <= digestStart - offset else { return nil }
            defer { offset += length }
            return ByteBuffer(bytes: bytes[offset..<(offset + length)])
        }
        guard let body = take(header.bodyLength), (100...999).contains(header.status),
              header.varyNames.count == header.varyValues.count, header.headers.allSatisfy({ $0.count == 2 }) else { return nil }
        var variants: [String: ByteBuffer] = [:]
        for v in header.variants {
            guard let b = take(v.length) else { return nil }
            variants[v.coding] = b
        }
        guard offset == digestStart else { return nil }
        let freshness = Freshness(
            lifetime: header.lifetime, correctedInitialAge: header.correctedInitialAge, responseTime: header.responseTime,
            staleWhileRevalidate: header.staleWhileRevalidate, staleIfError: header.staleIfError,
            requiresValidation: header.requiresValidation, mayServeStale: header.mayServeStale)
        var r = StoredResponse(status: HTTPResponseStatus(statusCode: header.status), headers: HTTPHeaders(header.headers.map { ($0[0], $0[1]) }),
                               body: body, freshness: freshness, vary: VarySelector(fieldNames: header.varyNames, values: header.varyValues))
        r.variants = variants
        r.transformed = header.transformed
        return (header, r)
    }

    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 0, Int(st.st_size) <= limit else { return nil }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        let ok = bytes.withUnsafeMutableBytes { buf -> Bool in
            guard let base = buf.baseAddress else { return size == 0 }
            while done < size {
                let n = read(fd, base + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        return ok ? bytes : nil
    }

    static func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool = false) -> Bool {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { buf -> Bool in
            guard let base = buf.baseAddress else { return buf.isEmpty }
            var done = 0
            while done < buf.count {
                let n = write(fd, base + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        return written && (!sync || fsync(fd) == 0)
    }
}

/// Why the disk tier could not be opened, said for the operator.
public struct DiskStoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ message: String) { description = message }
}
