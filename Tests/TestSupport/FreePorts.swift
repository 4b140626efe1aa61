#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of `count` consecutive loopback ports that are free right now, for tests that start
/// real processes on fixed ports. Chosen below Linux's ephemeral range (32768–60999), where the
/// kernel's outgoing connections never land, and each port is checked by binding it (TCP and UDP)
/// on 127.0.0.1, so a port another test or process holds is skipped rather than failing a test
/// with "Address already in use".
public func freePortBlock(_ count: Int = 8) -> Int {
    for _ in 0..<200 {
        let base = Int.random(in: 20_000...(32_000 - count))
        if (base..<(base + count)).allSatisfy({ canBind($0, stream: true) && canBind($0, stream: false) }) {
            return base
        }
    }
    return Int.random(in: 20_000...(32_000 - count))
}

private func canBind(_ port: Int, stream: Bool) -> Bool {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, stream ? SOCK_STREAM : SOCK_DGRAM, 0)
    #endif
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port)).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}
