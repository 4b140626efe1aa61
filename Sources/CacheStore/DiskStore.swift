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
/// Purges are bans (as Varnish's): a file stored before a matching ban is a miss, and removed
/// when next read; bans are kept in the folder so they outlive a restart.
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

        func matches(key: String, path: Substring, tags objectTags: [String]) -> Bool {
            if let site, !key.hasPrefix(CacheKey.Origin.sitePrefix(site)) { return false }
            return PurgeSelector(paths: Set(paths), prefixes: prefixes, tags: Set(tags)).matches(path: path, tags: objectTags)
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
        var stats = Stats()

        mutating func touch(_ name: String) {
            guard index[name] != nil else { return }
            clock += 1
            index[name]?.order = clock
            queue.append((name, clock))
            compactIfNeeded()
        }

        mutating func add(_ name: String, size: Int) {
            clock += 1
            if let old = index[name] { stats.bytes -= old.size } else { stats.objects += 1 }
            index[name] = Entry(size: size, order: clock)
            stats.bytes += size
            queue.append((name, clock))
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
    }

    public let directory: String
    public let budget: Int
    private let state: Mutex<State>
    private let loaded = Atomic<Bool>(false)
    static let magic = Array("OUTPOST-DISK 01\n".utf8)
    /// More bans than this and the whole tier is emptied instead (each read checks every ban).
    static let maxBans = 1000

    private var objectsDir: String { directory + "/objects" }
    private var tmpDir: String { directory + "/tmp" }
    private var bansFile: String { directory + "/bans.json" }

    /// Opens (creating) the folder, removes partial writes and reads the bans. Call `load`
    /// next (on a thread of its own) to take stock of the files.
    public static func open(directory: String, budget: Int) throws -> DiskStore {
        let store = DiskStore(directory: directory, budget: budget)
        let fm = FileManager.default
        for dir in [store.objectsDir, store.tmpDir] {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw DiskStoreError("cannot create the disk cache folder \(dir): \(error.localizedDescription); check disk_cache and its permissions")
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: store.tmpDir)) ?? [] { unlink(store.tmpDir + "/" + name) }
        if let data = fm.contents(atPath: store.bansFile), let bans = try? JSONDecoder().decode([Ban].self, from: data) {
            store.state.withLock { $0.bans = Array(bans.suffix(maxBans)) }
        }
        return store
    }

    private init(directory: String, budget: Int) {
        self.directory = directory
        self.budget = budget
        var s = State()
        s.stats.budget = budget
        state = Mutex(s)
    }

    public var stats: Stats { state.withLock { $0.stats } }
    public var isLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// Takes stock of the files (names and sizes, oldest first by modification time), then
    /// trims to the budget. Returns how many files and how long it took, for the log.
    @discardableResult
    public func load() -> (files: Int, seconds: Double) {
        let started = Date()
        var found: [(name: String, size: Int, modified: Int)] = []
        let fm = FileManager.default
        for dir in ((try? fm.contentsOfDirectory(atPath: objectsDir)) ?? []).sorted() where dir.utf8.count == 2 {
            let path = objectsDir + "/" + dir
            guard let d = opendir(path) else { continue }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.utf8.count == 64, name.hasPrefix(dir) else { continue }
                var st = stat()
                guard stat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                found.append((name, Int(st.st_size), Int(st.st_mtim.tv_sec)))
            }
            closedir(d)
        }
        found.sort { $0.modified < $1.modified }
        var victims: [String] = []
        state.withLock { s in
            for f in found where s.index[f.name] == nil { s.add(f.name, size: f.size) }
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

    /// The stored response for `key` that `requestHeaders` select, with when it was stored;
    /// nil when there is none, it is banned, or its file fails the check (then removed).
    public func get(_ key: CacheKey, requestHeaders: HTTPHeaders) -> StoredResponse? {
        let name = Self.name(key)
        let file = path(of: name)
        guard let bytes = Self.readFile(file, limit: budget) else {
            state.withLock { $0.drop(name) }
            return nil
        }
        guard let (header, response) = Self.decode(bytes), header.key == key.value else {
            unlink(file)
            state.withLock { s in
                s.drop(name)
                s.stats.corrupt += 1
            }
            return nil
        }
        let banned = state.withLock { s in
            s.bans.contains { $0.time >= header.storedAt && $0.matches(key: key.value, path: key.path, tags: response.tags) }
        }
        if banned {
            unlink(file)
            state.withLock { $0.drop(name) }
            return nil
        }
        guard response.vary.matches(requestHeaders) else { return nil }
        state.withLock { s in
            if s.index[name] == nil { s.add(name, size: bytes.count) } else { s.touch(name) }
            s.stats.hits += 1
        }
        return response
    }

    /// Writes `response` for `key` (replacing what is there). Not while the start-up scan
    /// runs, nor when it is larger than the whole budget; returns whether it was written.
    @discardableResult
    public func put(_ key: CacheKey, _ response: StoredResponse, now: Double) -> Bool {
        guard isLoaded else { return false }
        let bytes = Self.encode(key, response, storedAt: now)
        guard bytes.count <= budget else { return false }
        let name = Self.name(key)
        // Room is made and reserved first: the files on disk never add up to more than the budget.
        var victims: [String] = []
        state.withLock { s in
            s.drop(name)
            while s.stats.bytes + bytes.count > budget, let v = s.victim() {
                victims.append(v)
                s.stats.evictions += 1
            }
            s.add(name, size: bytes.count)
        }
        for v in victims { unlink(path(of: v)) }
        let final = path(of: name)
        let tmp = tmpDir + "/" + name + "." + UUID().uuidString
        let dir = objectsDir + "/" + name.prefix(2)
        if access(dir, F_OK) != 0 { mkdir(dir, 0o755) }
        guard Self.writeFile(tmp, bytes), rename(tmp, final) == 0 else {
            unlink(tmp)
            state.withLock { $0.drop(name) }
            return false
        }
        state.withLock { $0.stats.writes += 1 }
        return true
    }

    /// Removes what is stored for `key` (an unsafe method's invalidation, a push replacing it).
    public func remove(_ key: CacheKey) {
        let name = Self.name(key)
        state.withLock { $0.drop(name) }
        unlink(path(of: name))
    }

    /// Bans what the selector matches, stored until now. Past `maxBans` the tier is emptied.
    public func purge(_ selector: PurgeSelector, now: Double) {
        let ban = Ban(time: now, site: selector.site, paths: selector.paths.sorted(), prefixes: selector.prefixes, tags: selector.tags.sorted())
        let (bans, wipe) = state.withLock { s -> ([Ban], [String]) in
            s.bans.append(ban)
            guard s.bans.count > Self.maxBans else { return (s.bans, []) }
            let all = Array(s.index.keys)
            for n in all { s.drop(n) }
            s.bans = []
            return ([], all)
        }
        for n in wipe { unlink(path(of: n)) }
        if let data = try? JSONEncoder().encode(bans) {
            let tmp = bansFile + ".tmp"
            if Self.writeFile(tmp, Array(data)) { rename(tmp, bansFile) }
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

    static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bytes.withUnsafeBytes { buf -> Bool in
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
    }
}

/// Why the disk tier could not be opened, said for the operator.
public struct DiskStoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ message: String) { description = message }
}
