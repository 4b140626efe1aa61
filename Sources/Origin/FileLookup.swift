import Foundation
import NIOCore

/// A file found under the root, with what the response needs to know about it.
struct FoundFile: Sendable {
    var path: String
    var size: Int
    var modified: Double
    /// Strong validator from size, modification time and inode (as nginx builds its ETags):
    /// it changes whenever the file's bytes can have changed.
    var etag: String
}

enum FileLookupResult: Sendable {
    case file(FoundFile)
    case directoryNeedsSlash
    case notFound(String)
}

/// The disk side of serving a file: resolves segments under the root, refuses anything whose
/// real path leaves the root (a symlink pointing outside), and reads byte ranges. Blocking:
/// callers run it on a thread pool.
struct FileLookup: Sendable {
    /// The root's real path, resolved once at start.
    let root: String

    init(root: String) throws {
        guard let real = realpath(root, nil) else {
            throw OriginError.rootMissing(root, String(cString: strerror(errno)))
        }
        self.root = String(cString: real)
        free(real)
    }

    func find(_ segments: [String], isDirectoryForm: Bool) -> FileLookupResult {
        var candidate = ([root] + segments).joined(separator: "/")
        guard let real = Self.realPath(candidate) else { return .notFound("no such file") }
        guard real == root || real.hasPrefix(root + "/") else { return .notFound("resolves outside the root (symlink)") }
        var st = stat()
        guard stat(real, &st) == 0 else { return .notFound("cannot stat") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard isDirectoryForm || segments.isEmpty else { return .directoryNeedsSlash }
            candidate = real + "/index.html"
            guard let index = Self.realPath(candidate), index.hasPrefix(root + "/") else { return .notFound("no index.html in folder") }
            guard stat(index, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .notFound("no index.html in folder") }
            return .file(Self.found(index, st))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .notFound("not a regular file") }
        if isDirectoryForm { return .notFound("not a folder") }
        return .file(Self.found(real, st))
    }

    /// Reads `range` of the file into one buffer.
    func read(_ file: FoundFile, range: ClosedRange<Int>?, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        // O_NONBLOCK: a FIFO swapped in for the file must not hold a thread in open().
        let fd = open(file.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw OriginError.read(file.path, String(cString: strerror(errno))) }
        defer { close(fd) }
        // What was opened is checked, not what was looked up: the path may now be a folder.
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw OriginError.read(file.path, "no longer a regular file") }
        let start = range?.lowerBound ?? 0
        let count = range.map { $0.count } ?? file.size
        var buffer = allocator.buffer(capacity: count)
        var done = 0
        while done < count {
            var failure: Int32 = 0
            // The closure's result moves the writer index: never negative (that traps).
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { ptr -> Int in
                let r = pread(fd, ptr.baseAddress, count - done, off_t(start + done))
                if r < 0 { failure = errno }
                return max(r, 0)
            }
            if failure == EINTR { continue }
            if failure != 0 { throw OriginError.read(file.path, String(cString: strerror(failure))) }
            if n == 0 { throw OriginError.read(file.path, "file shrank while being read") }
            done += n
        }
        return buffer
    }

    private static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    private static func found(_ path: String, _ st: stat) -> FoundFile {
        let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        let etag = "\"\(String(st.st_size, radix: 16))-\(String(st.st_mtim.tv_sec, radix: 16))\(String(st.st_mtim.tv_nsec, radix: 16))-\(String(st.st_ino, radix: 16))\""
        return FoundFile(path: path, size: Int(st.st_size), modified: mtime, etag: etag)
    }
}

public enum OriginError: Error, CustomStringConvertible {
    case rootMissing(String, String)
    case read(String, String)

    public var description: String {
        switch self {
        case .rootMissing(let root, let why): "origin root '\(root)' cannot be used: \(why); check `root` in the origin config"
        case .read(let path, let why): "cannot read \(path): \(why)"
        }
    }
}
