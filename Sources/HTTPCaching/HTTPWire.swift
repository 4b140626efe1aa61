import NIOCore
import NIOHTTP1

/// HTTP/1.1 response heads as bytes (RFC 9112 §4, §5), for responses built once and sent as
/// they are: a stored object's head is encoded when it is stored, and each hit appends only the
/// fields that change per delivery (`Age`, `Cache-Status`, ...) and the blank line.
public enum HTTPWire {
    /// `HTTP/1.1 200 OK\r\n` and `name: value\r\n` for each field, with no blank line; nil when
    /// they cannot be sent (a name that is not a token, a value with CR, LF or NUL).
    public static func head(status: HTTPResponseStatus, headers: HTTPHeaders) -> ByteBuffer? {
        guard headers.isValidToSend, status.isValidToSend else { return nil }
        var b = ByteBuffer()
        b.reserveCapacity(32 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        writeStatusLine(&b, version: .http1_1, status: status)
        write(headers, to: &b)
        return b
    }

    /// The buffers to write for one delivery: `head`, then `tail` (fields ending in CRLF, then
    /// the blank line), then `body`, in as few buffers as is cheapest: a body up to 8 KiB is
    /// copied in (a copy costs less than another write), a larger one is sent from storage.
    public static func parts(head: ByteBuffer, tail: ByteBuffer, body: ByteBuffer?) -> (ByteBuffer, ByteBuffer?) {
        let bodyBytes = body?.readableBytes ?? 0
        let copyBody = bodyBytes <= 8192
        var out = ByteBuffer()
        out.reserveCapacity(head.readableBytes + tail.readableBytes + (copyBody ? bodyBytes : 0))
        out.writeImmutableBuffer(head)
        out.writeImmutableBuffer(tail)
        guard let body, bodyBytes > 0 else { return (out, nil) }
        if copyBody {
            out.writeImmutableBuffer(body)
            return (out, nil)
        }
        return (out, body)
    }

    public static func writeStatusLine(_ b: inout ByteBuffer, version: HTTPVersion, status: HTTPResponseStatus) {
        if version.major == 1, version.minor == 1 {
            b.writeStaticString("HTTP/1.1 ")
        } else if version.major == 1, version.minor == 0 {
            b.writeStaticString("HTTP/1.0 ")
        } else {
            b.writeString("HTTP/\(version.major).\(version.minor) ")
        }
        b.writeString(String(status.code))
        b.writeStaticString(" ")
        b.writeString(status.reasonPhrase)
        b.writeStaticString("\r\n")
    }

    /// `name: value\r\n` for each field.
    public static func write(_ headers: HTTPHeaders, to b: inout ByteBuffer) {
        for (name, value) in headers {
            b.writeString(name)
            b.writeStaticString(": ")
            b.writeString(value)
            b.writeStaticString("\r\n")
        }
    }

    /// `name: value\r\n`.
    public static func writeField(_ name: StaticString, _ value: String, to b: inout ByteBuffer) {
        b.writeStaticString(name)
        b.writeStaticString(": ")
        b.writeString(value)
        b.writeStaticString("\r\n")
    }

    /// RFC 9110 §5.6.2.
    public static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
        }
    }

    /// No control byte but HTAB (RFC 9110 §5.5, as NIO's validator checks): CR, LF and NUL
    /// could end the field or the head early, and VT, FF, ESC or DEL are read as whitespace or
    /// breaks by some intermediaries.
    public static func isFieldValue(_ s: String) -> Bool {
        !s.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }
}

extension HTTPHeaders {
    /// Every name a token and no value with a control byte but HTAB, as NIO's header validator
    /// checks.
    public var isValidToSend: Bool {
        allSatisfy { name, value in HTTPWire.isToken(name) && HTTPWire.isFieldValue(value) }
    }
}

extension HTTPResponseStatus {
    public var isValidToSend: Bool {
        (100...999).contains(code) && HTTPWire.isFieldValue(reasonPhrase)
    }
}
