import CacheStore
import Foundation
import HTTPCaching
import NIOHTTP1

/// A push upload's metadata, checked before any byte is written. Pure.
public struct PushRequest: Equatable, Sendable {
    public var path: String
    public var expires: Double
    public var contentType: String
    public var tags: [String]
    public var sha256: String?

    static let expiresHeader = "X-Outpost-Expires"
    static let tagsHeader = "X-Outpost-Tags"
    static let checksumHeader = "X-Outpost-SHA256"

    public static func parse(path raw: String, headers: HTTPHeaders, now: Double) -> Result<PushRequest, PushError> {
        guard let path = PushPath.validate(raw) else {
            return .failure(PushError(400, "'\(raw.prefix(200))' is not a path an object can be pushed to: it must start with '/' and contain no '..', '.', '//', '?', '#', backslash, NUL or control characters"))
        }
        guard let expiryText = headers.first(name: expiresHeader) else {
            return .failure(PushError(400, "\(path): missing \(expiresHeader); give an expiry as a duration (30s, 15m, 12h, 7d, 2w) or a time (2026-12-01T00:00:00Z)"))
        }
        guard let expires = PushExpiry.parse(expiryText, now: now) else {
            return .failure(PushError(400, "\(path): \(expiresHeader) '\(expiryText)' is neither a duration (30s, 15m, 12h, 7d, 2w) nor a time (RFC 3339 or HTTP date)"))
        }
        guard expires.isFinite, expires <= HTTPDate.maximum else {
            return .failure(PushError(400, "\(path): \(expiresHeader) '\(expiryText.prefix(100))' is beyond the year 9999; give a nearer expiry"))
        }
        guard expires > now else {
            return .failure(PushError(400, "\(path): \(expiresHeader) '\(expiryText)' is in the past; pushed objects need a future expiry"))
        }
        var tags: [String] = []
        for line in headers[canonicalForm: tagsHeader.lowercased()] {
            for t in line.split(whereSeparator: { $0 == "," || $0 == " " }) where !t.isEmpty {
                guard t.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:/".contains($0)) }) else {
                    return .failure(PushError(400, "\(path): tag '\(t)' may only hold letters, digits and - _ . : /"))
                }
                tags.append(String(t))
            }
        }
        var checksum: String?
        if let c = headers.first(name: checksumHeader)?.lowercased() {
            guard c.count == 64, c.allSatisfy({ $0.isHexDigit }) else {
                return .failure(PushError(400, "\(path): \(checksumHeader) must be 64 hex digits (a SHA-256)"))
            }
            checksum = c
        }
        let type = headers.first(name: "content-type") ?? "application/octet-stream"
        return .success(PushRequest(path: path, expires: expires, contentType: type, tags: tags, sha256: checksum))
    }
}

/// The URL path a pushed object is served at, checked and normalised.
enum PushPath {
    static func validate(_ raw: String) -> String? {
        guard raw.hasPrefix("/"), !raw.contains("//"), !raw.contains("?"), !raw.contains("#"), !raw.contains("\\"),
              raw.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else { return nil }
        let normalised = CacheKey.normalise(raw)
        let lower = normalised.lowercased()
        guard !lower.contains("%00"), !lower.contains("%2f"), !lower.contains("%5c") else { return nil }
        for segment in raw.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let decoded = segment.replacingOccurrences(of: "%2e", with: ".", options: .caseInsensitive)
            if decoded == "." || decoded == ".." { return nil }
        }
        return normalised
    }
}

/// Expiry as a duration (`90s`, `15m`, `12h`, `7d`, `2w`) or an absolute time (RFC 3339, HTTP
/// date, or `@` and Unix seconds).
public enum PushExpiry {
    public static func parse(_ text: String, now: Double) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        // Digits (and one point) only: Double() also reads "inf", "nan" and "1e400".
        if let unit = t.last, t.dropLast().allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let n = Double(t.dropLast()), n.isFinite, n >= 0 {
            let seconds: Double? = switch unit {
            case "s": 1
            case "m": 60
            case "h": 3600
            case "d": 86_400
            case "w": 604_800
            default: nil
            }
            if let seconds { return now + n * seconds }
        }
        if t.hasPrefix("@"), t.dropFirst().allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let n = Double(t.dropFirst()), n.isFinite {
            return n
        }
        if let d = HTTPDate.parse(t) { return d }
        let iso = ISO8601DateFormatter()
        if let d = iso.date(from: t) { return d.timeIntervalSince1970 }
        iso.formatOptions.insert(.withFractionalSeconds)
        return iso.date(from: t)?.timeIntervalSince1970
    }
}
