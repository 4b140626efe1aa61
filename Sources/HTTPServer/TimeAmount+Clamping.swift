import NIOCore

extension TimeAmount {
    /// Seconds as a time amount, saturating instead of trapping on absurd values (a setting of
    /// 1e300 seconds means "never", not a crash).
    public static func seconds(clamping seconds: Double) -> TimeAmount {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return seconds >= 9.2e9 ? .nanoseconds(.max) : .nanoseconds(Int64(seconds * 1e9))
    }
}
