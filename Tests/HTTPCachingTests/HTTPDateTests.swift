import HTTPCaching
import Foundation
import Testing

@Suite struct HTTPDateTests {
    // RFC 9110 §5.6.7's own example, in its three forms.
    @Test(arguments: ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"])
    func parsesAllThreeForms(_ text: String) {
        #expect(HTTPDate.parse(text) == 784_111_777)
    }

    // Names are compared in any case; the grammar's spaces, commas and digit counts are not
    // relaxed (RFC 9111 §5.3: an Expires that does not parse means already expired).
    @Test(arguments: ["Sun, 06 NOV 1994 08:49:37 gmt", "SUNDAY, 06-nov-94 08:49:37 GMT", "sun Nov  6 08:49:37 1994", "  Sun, 06 Nov 1994 08:49:37 GMT "])
    func namesInAnyCase(_ text: String) {
        #expect(HTTPDate.parse(text) == 784_111_777)
    }

    @Test(arguments: [
        "", "0", "-1", "yesterday", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 CET",
        "Sun 06 Nov 1994 08:49:37 GMT", "Sun, 06  Nov  1994 08:49:37 GMT", "Sun, 06-Nov-1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT", "Sun, 06 Nov 1994 08:49:37", "Sun, +6 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
    ])
    func rejectsInvalidDates(_ text: String) {
        #expect(HTTPDate.parse(text) == nil)
    }

    @Test func formatsIMFFixdate() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
    }

    @Test func roundTripsOverManyDays() {
        for day in stride(from: 0.0, to: 40_000, by: 37) {
            let t = day * 86_400 + 3_723
            #expect(HTTPDate.parse(HTTPDate.format(t)) == t)
        }
    }
}

@Suite struct RFC850YearTests {
    /// §5.6.7: a two-digit year more than 50 years ahead of this year is in the past century;
    /// otherwise it is in this one.
    @Test func twoDigitYearsPivotFiftyYearsAhead() throws {
        let thisYear = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).year!
        for ahead in [-60, -1, 0, 1, 49, 50, 51, 60] {
            let year = thisYear + ahead
            let text = "Sunday, 06-Nov-\(String(format: "%02d", year % 100)) 08:49:37 GMT"
            let parsed = try #require(HTTPDate.parse(text), "\(text)")
            let expected = ahead > 50 ? year - 100 : (ahead < -49 ? year + 100 : year)
            let got = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date(timeIntervalSince1970: parsed)).year!
            #expect(got == expected, "\(text) read as \(got)")
        }
    }
}
