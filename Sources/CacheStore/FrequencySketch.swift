/// A count-min sketch of how often keys were requested (TinyLFU, Einziger et al.): four rows of
/// 4-bit counters, halved every `sampleSize` increments so that old popularity fades.
struct FrequencySketch: Sendable {
    private var table: [UInt64]
    private let mask: Int
    private var additions = 0
    /// Increments between halvings: ten times the entries the cache holds (TinyLFU's W), so
    /// the sketch tells apart what is popular now, not what ever was.
    var sampleSize: Int

    init(capacity: Int) {
        var width = 64
        while width < capacity { width <<= 1 }
        table = [UInt64](repeating: 0, count: width)
        mask = width - 1
        sampleSize = 10 * capacity
    }

    /// The estimated count of `hash`, 0...15.
    func frequency(_ hash: Int) -> Int {
        var m = 15
        for i in 0..<4 {
            let (index, shift) = position(hash, i)
            m = min(m, Int((table[index] >> shift) & 0xF))
        }
        return m
    }

    mutating func increment(_ hash: Int) {
        var added = false
        for i in 0..<4 {
            let (index, shift) = position(hash, i)
            if (table[index] >> shift) & 0xF < 15 {
                table[index] += 1 << shift
                added = true
            }
        }
        if added {
            additions += 1
            if additions >= sampleSize { halve() }
        }
    }

    private func position(_ hash: Int, _ row: Int) -> (Int, UInt64) {
        var h = UInt64(bitPattern: Int64(hash)) &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
        let index = Int(h & UInt64(mask))
        // Each 64-bit word holds 16 counters; row picks a quarter of them.
        let counter = Int((h >> 40) & 3) + row * 4
        return (index, UInt64(counter * 4))
    }

    private mutating func halve() {
        for i in table.indices { table[i] = (table[i] >> 1) & 0x7777_7777_7777_7777 }
        additions /= 2
    }
}
