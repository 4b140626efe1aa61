import ArgumentParser
import AsyncHTTPClient
import CacheStore
import Foundation
import NIOCore
import Synchronization
import Topology

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a synthetic workload through an edge (or the director) and report hit ratios and latency.",
        discussion: """
            Objects are the origin's generated ones (<target>/_bench/<id>-<size>.bin), popularity Zipf(alpha), sizes
            log-normal around the median; the same generator drives the eviction-policy simulator in the tests.
            Hit ratio here = responses whose Cache-Status says hit / all responses.
            """
    )

    @Option(help: "Edge (or director HTTP) URL.") var target = "http://127.0.1.1:8080"
    @Option(help: "Distinct objects.") var objects = 10_000
    @Option(help: "Zipf exponent.") var alpha = 0.8
    @Option(help: "Median object size (B, KiB, MiB).") var medianSize = "20KiB"
    @Option(help: "Requests to send.") var requests = 20_000
    @Option(help: "Requests in flight at once.") var concurrency = 32
    @Option(help: "Random seed (the same seed replays the same requests).") var seed: UInt64 = 42

    func validate() throws {
        guard (1...10_000_000).contains(objects) else { throw ValidationError("--objects takes 1 to 10000000") }
        guard (0...100_000_000).contains(requests) else { throw ValidationError("--requests takes 0 to 100000000") }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency takes 1 to 10000") }
        guard alpha.isFinite, (0...10).contains(alpha) else { throw ValidationError("--alpha takes 0 to 10") }
    }

    func run() async throws {
        guard let median = ByteSize.parse(medianSize), median > 0, median <= 16 << 20 else {
            throw ValidationError("--median-size '\(medianSize)' is not a size from 1 B to 16 MiB (the origin's generated objects are at most 16 MiB)")
        }
        let workload = Workload(.init(objects: objects, alpha: alpha, medianSize: Double(median), sizeSigma: 1.0, seed: seed))
        let ids = workload.requests(requests)
        let base = target.hasSuffix("/") ? String(target.dropLast()) : target
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            redirectConfiguration: .follow(max: 2, allowCycles: false), timeout: .init(connect: .seconds(3), read: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)))
        let tally = Tally()
        let start = Date()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    while true {
                        let i = tally.nextIndex()
                        guard i < ids.count else { return }
                        let id = ids[i], size = workload.sizes[id]
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        do {
                            let response = try await client.execute(HTTPClientRequest(url: "\(base)/_bench/\(id)-\(size).bin"), timeout: .seconds(30))
                            let body = try await response.body.collect(upTo: 64 << 20)
                            let status = response.headers.first(name: "cache-status") ?? ""
                            tally.add(latency: DispatchTime.now().uptimeNanoseconds - t0, bytes: body.readableBytes,
                                      hit: status.contains("; hit"), ok: response.status == .ok)
                        } catch {
                            tally.add(latency: DispatchTime.now().uptimeNanoseconds - t0, bytes: 0, hit: false, ok: false)
                        }
                    }
                }
            }
        }
        try? await client.shutdown()
        let seconds = Date().timeIntervalSince(start)
        let r = tally.result
        let lat = r.latencies.sorted()
        func p(_ q: Double) -> String { lat.isEmpty ? "-" : String(format: "%.2f ms", Double(lat[min(lat.count - 1, Int(Double(lat.count) * q))]) / 1e6) }
        print("""
            workload: \(requests) requests over \(objects) objects, Zipf(\(alpha)), median size \(ByteSize.human(median)), seed \(seed), \(concurrency) in flight
            target:   \(base)
            hit ratio        \(String(format: "%.3f", Double(r.hits) / Double(max(1, r.count))))   (responses with Cache-Status hit / all)
            byte hit ratio   \(String(format: "%.3f", Double(r.hitBytes) / Double(max(1, r.bytes))))   (body bytes of hits / all body bytes)
            origin requests  \(r.count - r.hits)   (responses that went to the origin)
            errors           \(r.errors)
            throughput       \(String(format: "%.0f", Double(r.count) / seconds)) requests/s, \(ByteSize.human(Int(Double(r.bytes) / seconds)))/s
            latency          p50 \(p(0.5))  p90 \(p(0.9))  p99 \(p(0.99))  max \(p(1.0))
            """)
        if r.errors > 0 { throw ExitCode(1) }
    }

    final class Tally: Sendable {
        struct Result {
            var count = 0, hits = 0, bytes = 0, hitBytes = 0, errors = 0
            var latencies: [UInt64] = []
        }
        private let state = Mutex(Result())
        private let next = Atomic<Int>(0)
        func nextIndex() -> Int { next.add(1, ordering: .relaxed).oldValue }
        func add(latency: UInt64, bytes: Int, hit: Bool, ok: Bool) {
            state.withLock { r in
                r.count += 1
                r.bytes += bytes
                r.latencies.append(latency)
                if hit { r.hits += 1; r.hitBytes += bytes }
                if !ok { r.errors += 1 }
            }
        }
        var result: Result { state.withLock { $0 } }
    }
}
