import CBrotli
import CZlib
import Foundation

/// A content coding (RFC 9110 §8.4.1) Outpost can produce and read.
public enum ContentCoding: String, Sendable, CaseIterable, Codable {
    case br, zstd, gzip
    /// RFC 9110 §8.4.1.2: the zlib format (RFC 1950).
    case deflate

    /// Whether this machine can do it: zstd needs the libzstd runtime, loaded when first used
    /// (a fresh machine has the library but not its headers, so it is not linked at build time).
    public var isAvailable: Bool { self != .zstd || Zstd.shared != nil }
}

public struct CodecError: Error, CustomStringConvertible {
    public var description: String
}

/// Compression and decompression over the system's zlib, libbrotli and (when present) libzstd.
public enum Codec {
    public static func compress(_ data: [UInt8], _ coding: ContentCoding, level: Int) throws -> [UInt8] {
        switch coding {
        case .gzip: return try zlib(data, level: level, windowBits: 15 + 16)
        case .deflate: return try zlib(data, level: level, windowBits: 15)
        case .br: return try brotli(data, quality: level)
        case .zstd:
            guard let z = Zstd.shared else { throw CodecError(description: "zstd is not available: libzstd.so.1 was not found") }
            return try z.compress(data, level: level)
        }
    }

    public static func decompress(_ data: [UInt8], _ coding: ContentCoding, limit: Int = 256 << 20) throws -> [UInt8] {
        switch coding {
        case .gzip, .deflate: return try gunzip(data, limit: limit)
        case .br: return try unbrotli(data, limit: limit)
        case .zstd:
            guard let z = Zstd.shared else { throw CodecError(description: "zstd is not available: libzstd.so.1 was not found") }
            return try z.decompress(data, limit: limit)
        }
    }

    /// windowBits 15 + 16 writes a gzip wrapper (RFC 1952), 15 the zlib one (RFC 1950).
    static func zlib(_ data: [UInt8], level: Int, windowBits: Int32) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Int32(level), Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CodecError(description: "gzip: deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        var input = data
        let result: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { throw CodecError(description: "gzip: deflate returned \(result)") }
        return Array(out.prefix(Int(stream.total_out)))
    }

    /// Reads gzip or zlib (windowBits + 32: either wrapper, detected).
    static func gunzip(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CodecError(description: "gzip: inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var input = data
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        try input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            while status != Z_STREAM_END {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = UInt32(c.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return c.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw CodecError(description: "gzip: corrupt data (inflate returned \(status))") }
                out += chunk[0..<produced]
                guard out.count <= limit else { throw CodecError(description: "gzip: decoded data is larger than \(limit) bytes") }
                if produced == 0 && stream.avail_in == 0 && status != Z_STREAM_END { throw CodecError(description: "gzip: truncated data") }
            }
        }
        return out
    }

    static func brotli(_ data: [UInt8], quality: Int) throws -> [UInt8] {
        var size = BrotliEncoderMaxCompressedSize(data.count)
        if size == 0 { size = data.count + 1024 }
        var out = [UInt8](repeating: 0, count: size)
        let ok = data.withUnsafeBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                BrotliEncoderCompress(Int32(quality), BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, data.count, inBuf.baseAddress, &size, outBuf.baseAddress)
            }
        }
        guard ok == BROTLI_TRUE else { throw CodecError(description: "brotli: compression failed") }
        return Array(out.prefix(size))
    }

    static func unbrotli(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        guard let state = BrotliDecoderCreateInstance(nil, nil, nil) else { throw CodecError(description: "brotli: no decoder") }
        defer { BrotliDecoderDestroyInstance(state) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try data.withUnsafeBufferPointer { inBuf in
            var availIn = inBuf.count
            var nextIn = inBuf.baseAddress
            while true {
                var availOut = chunk.count
                let result: BrotliDecoderResult = chunk.withUnsafeMutableBufferPointer { c in
                    var nextOut = c.baseAddress
                    return BrotliDecoderDecompressStream(state, &availIn, &nextIn, &availOut, &nextOut, nil)
                }
                out += chunk[0..<(chunk.count - availOut)]
                guard out.count <= limit else { throw CodecError(description: "brotli: decoded data is larger than \(limit) bytes") }
                switch result {
                case BROTLI_DECODER_RESULT_SUCCESS: return
                case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: continue
                case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT: throw CodecError(description: "brotli: truncated data")
                default: throw CodecError(description: "brotli: corrupt data")
                }
            }
        }
        return out
    }
}

/// libzstd, found at run time (dlopen), so a machine without it still builds and runs.
final class Zstd: Sendable {
    typealias Bound = @convention(c) (Int) -> Int
    typealias Compress = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeRawPointer?, Int, Int32) -> Int
    typealias Decompress = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeRawPointer?, Int) -> Int
    typealias IsError = @convention(c) (Int) -> UInt32
    typealias FrameSize = @convention(c) (UnsafeRawPointer?, Int) -> UInt64

    let bound: Bound, compress: Compress, decompress: Decompress, isError: IsError, frameSize: FrameSize

    static let shared: Zstd? = {
        for name in ["libzstd.so.1", "libzstd.so", "libzstd.dylib"] {
            guard let h = dlopen(name, RTLD_NOW) else { continue }
            guard let b = dlsym(h, "ZSTD_compressBound"), let c = dlsym(h, "ZSTD_compress"), let d = dlsym(h, "ZSTD_decompress"),
                  let e = dlsym(h, "ZSTD_isError"), let f = dlsym(h, "ZSTD_getFrameContentSize") else { continue }
            return Zstd(bound: unsafeBitCast(b, to: Bound.self), compress: unsafeBitCast(c, to: Compress.self),
                        decompress: unsafeBitCast(d, to: Decompress.self), isError: unsafeBitCast(e, to: IsError.self),
                        frameSize: unsafeBitCast(f, to: FrameSize.self))
        }
        return nil
    }()

    init(bound: Bound, compress: Compress, decompress: Decompress, isError: IsError, frameSize: FrameSize) {
        self.bound = bound
        self.compress = compress
        self.decompress = decompress
        self.isError = isError
        self.frameSize = frameSize
    }

    func compress(_ data: [UInt8], level: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bound(data.count))
        let n = data.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in compress(o.baseAddress, o.count, i.baseAddress, i.count, Int32(level)) } }
        guard isError(n) == 0 else { throw CodecError(description: "zstd: compression failed") }
        return Array(out.prefix(n))
    }

    func decompress(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        let size = data.withUnsafeBytes { frameSize($0.baseAddress, $0.count) }
        guard size < UInt64(limit) else { throw CodecError(description: "zstd: unknown or too large content size") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = data.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in decompress(o.baseAddress, o.count, i.baseAddress, i.count) } }
        guard isError(n) == 0 else { throw CodecError(description: "zstd: corrupt data") }
        return Array(out.prefix(n))
    }
}
