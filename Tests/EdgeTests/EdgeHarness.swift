import Edge
import Foundation
import NIOPosix
import Origin
import TestSupport
import Topology

/// A real edge on loopback in front of a scripted origin (or the real one).
struct EdgeHarness {
    let edge: EdgeServer
    let port: Int

    static func start(
        origin: String, name: String = "test-edge", cacheSize: Int = 8 << 20, maxObjectSize: Int = 1 << 20,
        originTimeout: Double = 5, maxRequestBodySize: Int = 1 << 20, originConnectTimeout: Double = 0.5,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        configure: (inout EdgeConfig) -> Void = { _ in }
    ) async throws -> EdgeHarness {
        var config = EdgeConfig(
            name: name, listen: ListenAddress(host: "127.0.0.1", port: 0), origin: OriginURL(origin)!,
            cacheSize: cacheSize, maxObjectSize: maxObjectSize, maxRequestBodySize: maxRequestBodySize, originTimeout: originTimeout,
            originConnectTimeout: originConnectTimeout
        )
        configure(&config)
        let edge = try EdgeServer(config: config, clock: clock)
        let port = try await edge.start()
        return EdgeHarness(edge: edge, port: port)
    }

    func get(_ target: String, headers: [String: String] = [:]) async throws -> RawResponse {
        try await RawHTTP.async("GET", target, port: port, headers: headers)
    }

    func request(_ method: String, _ target: String, headers: [String: String] = [:], body: String? = nil) async throws -> RawResponse {
        try await RawHTTP.async(method, target, port: port, headers: headers, body: body)
    }

    func stop() async { await edge.stop() }
}

/// Waits until `condition` holds (polling), for effects that happen in the background.
func eventually(timeout: Double = 5, _ condition: () -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
