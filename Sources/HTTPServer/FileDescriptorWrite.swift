#if canImport(Glibc)
import Glibc
#endif

/// Writing to a file descriptor with write(2), for logs: Foundation's `FileHandle.write` traps
/// when the write fails (a full disk, a closed pipe), and a server must go on instead.
public enum FileDescriptorWrite {
    /// Writes all of `bytes`, retrying short writes and EINTR; false when the file refuses
    /// them (ENOSPC, EIO, EPIPE …).
    @discardableResult
    public static func all(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, base + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Writes all of `text`, as `all(_:_:)` writes bytes.
    @discardableResult
    public static func all(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return -1 }
                return write(fd, base + offset, b.count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
