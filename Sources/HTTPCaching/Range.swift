/// A single byte range request (RFC 9110 §14). Multiple ranges are answered with the whole
/// representation, which §14.2 allows.
public enum ByteRangeOutcome: Sendable, Equatable {
    case full
    case partial(ClosedRange<Int>)
    case unsatisfiable

    public static func evaluate(rangeHeader: String?, length: Int) -> ByteRangeOutcome {
        guard let header = rangeHeader else { return .full }
        let h = header.trimmingSpaces()
        guard h.lowercased().hasPrefix("bytes=") else { return .full }
        let spec = h.dropFirst(6).trimmingSpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .full }
        let first = spec[..<dash].trimmingSpaces(), last = spec[spec.index(after: dash)...].trimmingSpaces()
        if first.isEmpty {
            // suffix-range: the last N bytes.
            guard let n = Int(last), n >= 0 else { return .full }
            guard n > 0, length > 0 else { return .unsatisfiable }
            return .partial(max(0, length - n)...(length - 1))
        }
        guard let start = Int(first), start >= 0 else { return .full }
        var end = length - 1
        if !last.isEmpty {
            guard let e = Int(last), e >= start else { return .full }
            end = min(e, length - 1)
        }
        guard start < length else { return .unsatisfiable }
        return .partial(start...end)
    }
}
