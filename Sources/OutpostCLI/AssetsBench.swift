import ArgumentParser
import Assets
import Foundation

struct AssetsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assets-bench",
        abstract: "Minify and compress files as the edge would, and print sizes and MB/s for each minifier and codec."
    )

    @Argument(help: "HTML, CSS or JS files.") var files: [String]
    @Option(help: "Repetitions for the timings.") var repeats = 5

    func run() throws {
        var rows: [[String]] = []
        var codecRows: [[String]] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file), let kind = AssetKind(fileName: file) else {
                throw OperatorError("\(file): not a readable .html, .css or .js file")
            }
            let bytes = Array(data)
            var result = MinifyResult.unchanged(reason: "")
            let seconds = Self.time(repeats) { result = kind.minify(bytes) }
            let out = result.bytes(or: bytes)
            let note: String = if case .unchanged(let why) = result { "kept original: \(why)" } else { "" }
            rows.append([(file as NSString).lastPathComponent, kind.rawValue, "\(bytes.count)", "\(out.count)",
                         String(format: "%.3f", Double(out.count) / Double(bytes.count)), String(format: "%.0f", Double(bytes.count) / seconds / 1e6), note])
            for (coding, level) in [(ContentCoding.gzip, 6), (.br, 5), (.br, 11), (.zstd, 3)] where coding.isAvailable {
                var compressed: [UInt8] = []
                let t = Self.time(coding == .br && level == 11 ? 1 : repeats) { compressed = (try? Codec.compress(out, coding, level: level)) ?? [] }
                var back: [UInt8] = []
                let d = Self.time(repeats) { back = (try? Codec.decompress(compressed, coding)) ?? [] }
                guard back == out else { throw OperatorError("\(coding) round trip failed for \(file)") }
                codecRows.append([(file as NSString).lastPathComponent, "\(coding.rawValue)-\(level)", "\(compressed.count)",
                                  String(format: "%.3f", Double(compressed.count) / Double(out.count)),
                                  String(format: "%.1f", Double(out.count) / t / 1e6), String(format: "%.0f", Double(out.count) / d / 1e6)])
            }
        }
        print(Table.render(header: ["file", "kind", "bytes", "minified", "ratio", "MB/s", ""], rows: rows))
        print()
        print(Table.render(header: ["file", "codec", "bytes", "ratio", "compress MB/s", "decompress MB/s"], rows: codecRows))
    }

    /// Seconds per run, the best of `n` (the least disturbed by the rest of the machine).
    static func time(_ n: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, n) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return max(best, 1e-9)
    }
}
