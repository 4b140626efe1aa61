import Crypto
import Foundation
import NIOCore

/// SHA-256 as lower-case hex, the form the manifest and the CLI compare.
public enum SHA256Hex {
    public static func of<D: DataProtocol>(_ bytes: D) -> String {
        hex(SHA256.hash(data: bytes))
    }

    public static func of(buffer: ByteBuffer) -> String {
        hex(buffer.withUnsafeReadableBytes { SHA256.hash(data: $0) })
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }
}
