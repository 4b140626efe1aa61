extension Int {
    /// `value` rounded toward zero, clamped to ±2^53 (whole seconds or bytes never come near);
    /// NaN is 0. `Int(someDouble)` traps on NaN, infinity and values beyond Int's range, and
    /// times and sizes here come from input.
    public init(saturating value: Double) {
        guard !value.isNaN else {
            self = 0
            return
        }
        self = Int(Swift.max(-9_007_199_254_740_992, Swift.min(9_007_199_254_740_992, value)))
    }
}

extension Int {
    /// `self + other`, held at `Int.max`/`Int.min` instead of trapping: for sums of counts
    /// read from elsewhere (another process's stats JSON), which nothing bounds.
    public func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    public func subtractingSaturating(_ other: Int) -> Int {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}
