import ArgumentParser
import AsyncHTTPClient
import CacheStore
import ControlAPI
import Edge
import Foundation
import Origin
import Synchronization
import Topology

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push a folder to the edges, with an explicit expiry. Only new and changed files are uploaded.",
        discussion: """
            Each edge's manifest is compared with DIR by SHA-256; missing or different files are uploaded in parallel.
            Running it again completes what failed. The token comes from OUTPOST_CONTROL_TOKEN, --token-file, or the
            edge's config (the demo fleet has one).
            """
    )

    @Argument(help: "The folder to push.") var directory: String
    @Option(help: "URL path the folder is pushed under.") var prefix = "/"
    @Option(help: "Expiry: a duration (90s, 15m, 12h, 7d, 2w) or a time (2026-12-31T00:00:00Z).") var expires: String
    @Option(name: .customLong("tag"), help: "Tag for purging later (repeatable).") var tags: [String] = []
    @Flag(help: "Remove pushed objects under the prefix that are no longer in the folder.") var delete = false
    @Flag(help: "Show what would change; change nothing.") var dryRun = false
    @Option(help: "Uploads in flight per edge.") var concurrency = 8
    @Option(help: "The site pushed to (a name from [[sites]] in the fleet file); default: the first one.") var site: String?
    @OptionGroup var fleet: FleetOptions
    @OptionGroup var selection: EdgeSelection

    struct LocalFile: Sendable {
        var path: String
        var file: String
        var size: Int
        var sha256: String
        var contentType: String
    }

    struct EdgeReport: Sendable {
        var edge: String
        var uploaded = 0
        var unchanged = 0
        /// Unchanged, but given the later expiry (or the new tags) without sending them again.
        var extended = 0
        var deleted = 0
        var failed = 0
        var bytes = 0
        var seconds = 0.0
        var errors: [String] = []
        var planned: [String] = []
    }

    func run() async throws {
        let normalisedPrefix = prefix.hasPrefix("/") ? (prefix.hasSuffix("/") ? prefix : prefix + "/") : "/" + prefix + "/"
        let files = try Self.scan(directory, prefix: normalisedPrefix)
        let loaded = try fleet.load()
        try loaded.checkSite(site)
        let edges = try selection.select(loaded)
        let client = HTTPClient.shared
        let progress = Progress(total: files.count * edges.count, enabled: !dryRun)
        let started = Date()
        let reports = await withTaskGroup(of: EdgeReport.self) { group in
            for edge in edges {
                group.addTask { [self] in
                    await self.push(files, to: edge, prefix: normalisedPrefix, client: client, progress: progress)
                }
            }
            var all: [EdgeReport] = []
            for await r in group { all.append(r) }
            return all.sorted { $0.edge < $1.edge }
        }
        progress.finish()
        if dryRun {
            for r in reports {
                print("\(r.edge): \(r.planned.isEmpty ? "nothing to change" : "")")
                for line in r.planned { print("  \(line)") }
            }
        }
        print(Table.render(
            header: ["edge", dryRun ? "would upload" : "uploaded", "unchanged", dryRun ? "would extend" : "extended", dryRun ? "would delete" : "deleted", "failed", "bytes", "time"],
            rows: reports.map { [$0.edge, "\($0.uploaded)", "\($0.unchanged)", "\($0.extended)", "\($0.deleted)", "\($0.failed)", ByteSize.human($0.bytes), String(format: "%.2fs", $0.seconds)] }
        ))
        print("\(files.count) files in \(directory) → \(edges.count) edges under \(normalisedPrefix)\(site.map { " of site \($0)" } ?? ""), expires \(expires), in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        let failures = reports.flatMap(\.errors)
        if !failures.isEmpty {
            Log.line("\n\(failures.count) failed:")
            for f in failures.prefix(20) { Log.line("  \(f)") }
            Log.line("Fix the cause and run the same command again: it uploads only what is still missing.")
            throw ExitCode(1)
        }
    }

    private func push(_ files: [LocalFile], to edge: EdgeConfig, prefix: String, client: HTTPClient, progress: Progress) async -> EdgeReport {
        var report = EdgeReport(edge: edge.name)
        let start = Date()
        defer { progress.advance(by: 0) }
        let control: ControlClient
        switch ControlClient.make(edge, client: client, tokenFile: selection.tokenFile) {
        case .failure(let e):
            report.failed = files.count
            report.errors = [e.description]
            progress.advance(by: files.count)
            return report
        case .success(var c):
            c.site = site
            control = c
        }
        let manifest: Manifest
        do { manifest = try await control.manifest(prefix: prefix) } catch {
            report.failed = files.count
            report.errors = ["\(error)"]
            progress.advance(by: files.count)
            return report
        }
        let remote = Dictionary(manifest.objects.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let toUpload = files.filter { remote[$0.path]?.sha256 != $0.sha256 }
        report.unchanged = files.count - toUpload.count
        progress.advance(by: report.unchanged)
        // Unchanged files whose pushed copy expires sooner than asked now, or lacks the tags:
        // their expiry is moved on without uploading them again.
        let target = PushExpiry.parse(expires, now: Date().timeIntervalSince1970) ?? 0
        let toExtend = files.filter { f in
            guard let r = remote[f.path], r.sha256 == f.sha256 else { return false }
            // Later by more than a hundredth of the lifetime asked (a rerun a minute on is no change).
            let now = Date().timeIntervalSince1970
            return target - r.expires > max(1, (target - now) / 100) || (!tags.isEmpty && Set(r.tags) != Set(tags))
        }
        let local = Set(files.map(\.path))
        let toDelete = delete ? manifest.objects.map(\.path).filter { !local.contains($0) } : []
        if dryRun {
            report.uploaded = toUpload.count
            report.deleted = toDelete.count
            report.bytes = toUpload.reduce(0) { $0 + $1.size }
            report.extended = toExtend.count
            report.planned = toUpload.map { "upload \($0.path) (\(ByteSize.format($0.size)))" } + toExtend.map { "extend \($0.path)" } + toDelete.map { "delete \($0)" }
            return report
        }
        let results = await withTaskGroup(of: (LocalFile, String?).self) { group in
            var results: [(LocalFile, String?)] = []
            var iterator = toUpload.makeIterator()
            func addNext() -> Bool {
                guard let f = iterator.next() else { return false }
                group.addTask { [expires, tags] in
                    do {
                        let data = try Data(contentsOf: URL(fileURLWithPath: f.file))
                        try await control.upload(path: f.path, data: data, sha256: f.sha256, contentType: f.contentType, expires: expires, tags: tags)
                        return (f, nil)
                    } catch {
                        return (f, "\(f.file) → \(edge.name): \(error)")
                    }
                }
                return true
            }
            for _ in 0..<max(1, concurrency) where addNext() {}
            for await r in group {
                results.append(r)
                progress.advance(by: 1, bytes: r.1 == nil ? r.0.size : 0)
                _ = addNext()
            }
            return results
        }
        for (f, error) in results {
            if let error {
                report.failed += 1
                report.errors.append(error)
            } else {
                report.uploaded += 1
                report.bytes += f.size
            }
        }
        for f in toExtend {
            do {
                try await control.extend(path: f.path, sha256: f.sha256, expires: expires, tags: tags)
                report.extended += 1
            } catch {
                report.failed += 1
                report.errors.append("extend \(f.path) on \(edge.name): \(error)")
            }
        }
        for path in toDelete {
            do {
                try await control.delete(path: path)
                report.deleted += 1
            } catch {
                report.failed += 1
                report.errors.append("delete \(path) on \(edge.name): \(error)")
            }
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Every regular, non-hidden file below `dir`, with its URL path and SHA-256.
    static func scan(_ dir: String, prefix: String) throws -> [LocalFile] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw OperatorError("\(dir) is not a folder; give the folder to push")
        }
        let root = URL(fileURLWithPath: dir).standardizedFileURL.resolvingSymlinksInPath()
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey], options: [.skipsHiddenFiles]) else {
            throw OperatorError("cannot read \(dir)")
        }
        var files: [LocalFile] = []
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let relative = url.standardizedFileURL.resolvingSymlinksInPath().path.dropFirst(root.path.count + 1)
            guard let data = try? Data(contentsOf: url) else { throw OperatorError("cannot read \(url.path)") }
            files.append(LocalFile(path: prefix + relative, file: url.path, size: data.count, sha256: SHA256Hex.of(data), contentType: ContentType.forPath(url.path)))
        }
        return files.sorted { $0.path < $1.path }
    }
}

/// One progress line on standard error, redrawn at most ten times a second.
final class Progress: Sendable {
    private struct State {
        var done = 0
        var bytes = 0
        var lastDraw = Date.distantPast
    }
    private let state = Mutex(State())
    private let total: Int
    private let enabled: Bool

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(2) != 0
    }

    func advance(by n: Int, bytes: Int = 0) {
        guard enabled else { return }
        let line: String? = state.withLock { s in
            s.done += n
            s.bytes += bytes
            guard Date().timeIntervalSince(s.lastDraw) > 0.1 || s.done == total else { return nil }
            s.lastDraw = Date()
            let width = 30
            let filled = total == 0 ? width : width * s.done / total
            return "\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(s.done)/\(total) files, \(ByteSize.format(s.bytes)) uploaded"
        }
        if let line { Log.write(2, line) }
    }

    func finish() {
        if enabled { Log.write(2, "\n") }
    }
}
