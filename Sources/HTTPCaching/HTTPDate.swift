#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Parses any of the three HTTP-date forms, exactly as RFC 9110 §5.6.7 spells them (their
    /// spaces, commas and digit counts), with names in any case; `nil` for anything else (RFC
    /// 9111 §5.3: an invalid `Expires` means already expired, so a lenient parser would keep
    /// what the origin meant to expire):
    /// - IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`
    /// - RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`
    /// - asctime `Sun Nov  6 08:49:37 1994`
    public static func parse(_ text: some StringProtocol) -> Double? {
        let b = Array(text.trimmingSpaces().utf8)
        // IMF-fixdate: 29 bytes.
        if b.count == 29, b[3] == UInt8(ascii: ","), b[4] == space, b[7] == space, b[11] == space, b[16] == space, b[25] == space,
           name(b[0..<3], dayNames) != nil, lower(b[26..<29]) == "gmt",
           let d = digits(b[5..<7]), let m = name(b[8..<11], monthNames), let y = digits(b[12..<16]) {
            return assemble(year: y, month: m, day: d, time: b[17..<25])
        }
        // RFC 850: a full day name, then `, DD-Mon-YY HH:MM:SS GMT` (24 bytes).
        if let comma = b.firstIndex(of: UInt8(ascii: ",")), b.count - comma == 24, fullDayNames.contains(lower(b[0..<comma])) {
            let r = Array(b[comma...])
            if r[1] == space, r[4] == dash, r[8] == dash, r[11] == space, r[20] == space, lower(r[21..<24]) == "gmt",
               let d = digits(r[2..<4]), let m = name(r[5..<8], monthNames), let yy = digits(r[9..<11]) {
                // §5.6.7: a two-digit year that would be more than 50 years ahead is in the past
                // century.
                let year = currentYear - currentYear % 100 + yy
                return assemble(year: year > currentYear + 50 ? year - 100 : year, month: m, day: d, time: r[12..<20])
            }
        }
        // asctime: 24 bytes, the day padded with a space.
        if b.count == 24, b[3] == space, b[7] == space, b[10] == space, b[19] == space, name(b[0..<3], dayNames) != nil,
           let m = name(b[4..<7], monthNames), let y = digits(b[20..<24]) {
            let day = b[8] == space ? digits(b[9..<10]) : digits(b[8..<10])
            if let day { return assemble(year: y, month: m, day: day, time: b[11..<19]) }
        }
        return nil
    }

    /// This year, read from the clock once (the RFC 850 pivot moves a year a year).
    private static let currentYear: Int = {
        var t = time(nil)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return 2026 }
        return Int(parts.tm_year) + 1900
    }()
    private static let space = UInt8(ascii: " ")
    private static let dash = UInt8(ascii: "-")
    private static let fullDayNames: Set<String> = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

    /// ASCII digits only (no sign, no spaces), as a number.
    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 4 else { return nil }
        var n = 0
        for c in bytes {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(c - UInt8(ascii: "0"))
        }
        return n
    }

    private static func lower(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The 1-based index of a three-letter name in `names`, in any case.
    private static func name(_ bytes: ArraySlice<UInt8>, _ names: [String]) -> Int? {
        let l = lower(bytes)
        return names.firstIndex { $0.lowercased() == l }.map { $0 + 1 }
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    public static let minimum: Double = -62_135_596_800
    public static let maximum: Double = 253_402_300_799

    /// `time` is `HH:MM:SS`: two digits each (bounded, so the arithmetic below cannot overflow).
    private static func assemble(year: Int, month: Int, day: Int, time: ArraySlice<UInt8>) -> Double? {
        let t = Array(time)
        guard t.count == 8, t[2] == UInt8(ascii: ":"), t[5] == UInt8(ascii: ":"),
              let h = digits(t[0..<2]), let mi = digits(t[3..<5]), let se = digits(t[6..<8]) else { return nil }
        let hms = [h, mi, se]
        guard (1...31).contains(day), (0...23).contains(hms[0]), (0...59).contains(hms[1]),
              (0...60).contains(hms[2]), (1900...9999).contains(year)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        // A leap second on the last day of 9999 is past the range: held at its end.
        return min(maximum, Double(days * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2])))
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
    public func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
