import Foundation
import FuzzTargets
import Testing
import TestSupport

/// Every checked-in fuzz input (the seed corpora and every crash found so far, kept as a
/// regression) goes through its harness, then a few thousand mutations of them do. The
/// harnesses trap on a failed property, so a regression fails the test run.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: repositoryRoot).appendingPathComponent("Fuzz/corpus")

    static func inputs(_ target: String) -> [[UInt8]] {
        let dir = corpus.appendingPathComponent(target)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.sorted().compactMap { FileManager.default.contents(atPath: dir.appendingPathComponent($0).path).map { Array($0) } }
    }

    @Test(arguments: FuzzTargets.names)
    func seedsAndMutations(_ target: String) async throws {
        let harness = try #require(FuzzTargets.all[target])
        let seeds = Self.inputs(target)
        #expect(seeds.count >= 3, "Fuzz/corpus/\(target) holds the seed inputs")
        for s in seeds { harness(s) }
        // Deterministic mutations (byte flips, inserts of bytes that matter to parsers, cuts,
        // splices): a cheap stand-in for the fuzzer inside every test run.
        var rng = SplitMix(seed: UInt64(target.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        let interesting: [UInt8] = Array(" ,;=:\"\\/-.0123456789*\r\n\t[]{}#%\u{0}".utf8) + [0xC0, 0xFF, 0x3F, 0x80]
        for i in 0..<3_000 {
            // CPU-bound: let other tests' tasks run on the cooperative pool meanwhile.
            if i % 50 == 0 { await Task.yield() }
            var b = seeds.isEmpty ? [] : seeds[i % seeds.count]
            for _ in 0...(rng.next() % 4) {
                switch rng.next() % 5 {
                case 0 where !b.isEmpty: b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count + 1)))
                case 2 where !b.isEmpty: b.removeSubrange(Int(rng.next() % UInt64(b.count))...)
                case 3 where !seeds.isEmpty: b += seeds[Int(rng.next() % UInt64(seeds.count))].prefix(Int(rng.next() % 64))
                default: b += Array(String(rng.next() % 100_000_000_000_000).utf8)
                }
            }
            harness(b)
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
