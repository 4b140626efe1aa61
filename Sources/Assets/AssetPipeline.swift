import Foundation

/// What the edge does to an object once, when it is stored: minify it if it is HTML, CSS or JS
/// (and that kind is enabled), then build compressed variants if it is compressible and big
/// enough. Never per hit. CPU-heavy: run it on a thread pool.
public struct AssetPipeline: Sendable {
    public var minify: Set<AssetKind>
    public var codings: [ContentCoding]
    /// Bodies smaller than this are left uncompressed (the headers would cost more).
    public var minimumSize: Int
    public var gzipLevel: Int
    public var brotliLevel: Int
    public var zstdLevel: Int

    public init(minify: Set<AssetKind> = Set(AssetKind.allCases), codings: [ContentCoding] = [.br, .zstd, .gzip],
                minimumSize: Int = 256, gzipLevel: Int = 6, brotliLevel: Int = 5, zstdLevel: Int = 3) {
        self.minify = minify
        self.codings = codings.filter(\.isAvailable)
        self.minimumSize = minimumSize
        self.gzipLevel = gzipLevel
        self.brotliLevel = brotliLevel
        self.zstdLevel = zstdLevel
    }

    public struct Output: Sendable {
        /// The identity body to serve (minified, or the original).
        public var body: [UInt8]
        public var minified: Bool
        /// Why minification kept the original, when it did.
        public var minifyNote: String?
        public var variants: [ContentCoding: [UInt8]]
    }

    /// Content types not worth compressing: already compressed.
    public static func isCompressibleType(_ contentType: String) -> Bool { isCompressible(contentType) }

    static func isCompressible(_ contentType: String) -> Bool {
        let t = (contentType.split(separator: ";", omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        if t.hasPrefix("text/") { return true }
        return ["application/javascript", "application/json", "application/xml", "application/wasm", "image/svg+xml",
                "application/manifest+json", "application/ld+json", "font/ttf", "font/otf", "image/x-icon"]
            .contains(t)
    }

    /// A body the origin encoded itself: decoded once, so clients that do not accept its coding
    /// get identity, and the other codings built from it; the origin's bytes stay a variant.
    /// Nil when it cannot be decoded (it is then served as it came).
    public func decodeAndProcess(_ body: [UInt8], coding: ContentCoding, contentType: String?, strongest: Bool, limit: Int) -> Output? {
        guard let identity = try? Codec.decompress(body, coding, limit: limit) else { return nil }
        var p = self
        p.minify = []  // the origin's encoded bytes must stay the same representation
        p.codings = codings.filter { $0 != coding }
        var out = p.process(identity, contentType: contentType, strongest: strongest)
        out.variants[coding] = body
        return out
    }

    /// `strongest`: pushed and immutable objects get brotli 11 (they are compressed once and
    /// served long); pulled ones the cheaper configured levels.
    public func process(_ body: [UInt8], contentType: String?, strongest: Bool) -> Output {
        var out = Output(body: body, minified: false, minifyNote: nil, variants: [:])
        guard let type = contentType else { return out }
        if let kind = AssetKind(contentType: type), minify.contains(kind) {
            switch kind.minify(body) {
            case .minified(let b) where b.count < body.count:
                out.body = b
                out.minified = true
            case .minified: break
            case .unchanged(let reason): out.minifyNote = reason
            }
        }
        guard Self.isCompressible(type), out.body.count >= minimumSize else { return out }
        for c in codings {
            let level = switch c {
            case .gzip, .deflate: strongest ? 9 : gzipLevel
            case .br: strongest ? 11 : brotliLevel
            case .zstd: strongest ? 19 : zstdLevel
            }
            if let compressed = try? Codec.compress(out.body, c, level: level), compressed.count < out.body.count {
                out.variants[c] = compressed
            }
        }
        return out
    }
}
