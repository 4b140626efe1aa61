import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1

/// The origin's response head as the fetch decided on it, which every reader of it gets.
struct FetchedHead: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var contentLength: Int?
    var verdict: CacheVerdict
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
