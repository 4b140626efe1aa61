import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1

/// What a waiting request hears from the origin fetch it waits on, in order.
enum FetchEvent: Sendable {
    /// The origin's response head, cleaned of hop-by-hop fields.
    case head(FetchedHead)
    case body(ByteBuffer)
    case end
    /// The fetch failed: before the head (answer with `failure.status`) or mid-body (the client's
    /// response must be broken off, never completed).
    case failed(OriginFailure)
    /// Answer from storage instead: a 304 refreshed it, or stale-if-error allows it.
    case stored(StoredResponse, CacheStatus)
    /// The response may not be shared with this request (private, or another Vary variant):
    /// fetch on its own.
    case fetchAlone
}

struct FetchedHead: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var contentLength: Int?
    var cacheStatus: CacheStatus
    var vary: VarySelector
    /// May go to requests other than the one that caused the fetch.
    var shareable: Bool
    var age: Double
}

/// Why the origin could not answer, said for the client and the operator.
struct OriginFailure: Error, Sendable, CustomStringConvertible {
    var status: HTTPResponseStatus
    var message: String
    var description: String { message }
}
