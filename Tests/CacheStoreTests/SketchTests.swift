import Testing
@testable import CacheStore

@Suite struct FrequencySketchTests {
    @Test func countsAndAges() {
        var s = FrequencySketch(capacity: 1024)
        for _ in 0..<5 { s.increment(42) }
        s.increment(7)
        #expect(s.frequency(42) == 5)
        #expect(s.frequency(7) == 1)
        #expect(s.frequency(99) == 0)
        for i in 0..<20_000 { s.increment(1_000 + i) }  // past the sample size: counts halve
        #expect(s.frequency(42) <= 2)
    }
}
