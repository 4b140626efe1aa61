/// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate on output; IMF-fixdate, RFC 850 and asctime on input.
/// Times are seconds since the Unix epoch as `Double`, so a caller's clock needs no Foundation.
public enum HTTPDate {
    private static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats `seconds` (since the epoch) as IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    /// Times beyond the years 1 to 9999 are written as those bounds (an HTTP-date has four
    /// year digits), so nothing from input can make formatting trap.
    public static func format(_ seconds: Double) -> String {
        let t = Int64(seconds.isNaN ? 0 : max(minimum, min(maximum, seconds.rounded(.down))))
        var days = t / 86_400
        var rem = t % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civilFromDays(days)
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        let hh = rem / 3600, mm = (rem % 3600) / 60, ss = rem % 60
        return "\(dayNames[weekday]), \(pad2(d)) \(monthNames[m - 1]) \(y) \(pad2(Int(hh))):\(pad2(Int(mm))):\(pad2(Int(ss))) GMT"
    }

    /// Parses any of the three HTTP-date forms; `nil` for anything else (RFC 9111 §4.2: an
    /// invalid date is treated as in the past by callers that need a date).
    public static func parse(_ text: some StringProtocol) -> Double? {
        let s = text.trimmingSpaces()
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT  -> [Sun, 06, Nov, 1994, 08:49:37, GMT]
        if parts.count == 6, parts[5] == "GMT", let d = Int(parts[1]), let m = month(parts[2]), let y = Int(parts[3]) {
            return assemble(year: y, month: m, day: d, time: parts[4])
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT -> [Sunday, 06-Nov-94, 08:49:37, GMT]
        if parts.count == 4, parts[3] == "GMT" {
            let dmy = parts[1].split(separator: "-").map(String.init)
            if dmy.count == 3, let d = Int(dmy[0]), let m = month(dmy[1]), var y = Int(dmy[2]) {
                if y < 100 { y += y < 70 ? 2000 : 1900 }
                return assemble(year: y, month: m, day: d, time: parts[2])
            }
        }
        // asctime: Sun Nov  6 08:49:37 1994 -> [Sun, Nov, 6, 08:49:37, 1994]
        if parts.count == 5, let m = month(parts[1]), let d = Int(parts[2]), let y = Int(parts[4]) {
            return assemble(year: y, month: m, day: d, time: parts[3])
        }
        return nil
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    public static let minimum: Double = -62_135_596_800
    public static let maximum: Double = 253_402_300_799

    private static func assemble(year: Int, month: Int, day: Int, time: String) -> Double? {
        // Each field has two digits (four for the year): a value with more is not a date
        // (RFC 9110 §5.6.7), and bounding them keeps the arithmetic below far from overflow.
        let fields = time.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, fields.allSatisfy({ $0.count == 2 }) else { return nil }
        let hms = fields.compactMap { Int($0) }
        guard hms.count == 3, (1...31).contains(day), (0...23).contains(hms[0]), (0...59).contains(hms[1]),
              (0...60).contains(hms[2]), (1900...9999).contains(year)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        // A leap second on the last day of 9999 is past the range: held at its end.
        return min(maximum, Double(days * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2])))
    }

    private static func month(_ name: String) -> Int? {
        guard name.count == 3 else { return nil }
        return monthNames.firstIndex(of: name).map { $0 + 1 }
    }

    private static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    private static func pad2(_ n: Int64) -> String { pad2(Int(n)) }

    // Howard Hinnant's days-from-civil algorithm: proleptic Gregorian calendar, no Foundation.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (HTTP's OWS).
    func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
