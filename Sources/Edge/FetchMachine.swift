import CacheStore
import HTTPCaching
import NIOCore
import NIOHTTP1

/// The state of one origin fetch and of the requests reading it, as a value: every transition
/// is a method that returns what the shell (`InFlightFetch`) must do next, so the whole machine
/// is table-tested without an origin, a socket or a lock.
///
/// Clients **pull**: each waiter has a cursor into the body received so far and asks for the
/// next bytes when its connection can take them (`next`). The fetch only wakes a waiter that is
/// waiting (`Action.wake`). So one slow client never slows another, and memory is bounded:
/// - an object being stored keeps its chunks (it is the object; at most `max_object_size`) and
///   the origin is read at full speed;
/// - a response that is not stored keeps only what its slowest reader has not taken yet, and
///   the origin read is paused (`Action.pauseOrigin`) while that exceeds `window`;
/// - when the last reader of a response that is not stored goes away, the origin request is
///   cancelled (`Action.cancelOrigin`); one being stored goes on, as Varnish does.
struct FetchMachine {
    typealias WaiterID = UInt64

    struct Waiter {
        /// Asks the waiter to pull again (it hops to the waiter's event loop).
        var wake: @Sendable () -> Void
        var requestHeaders: HTTPHeaders
        var isInitiator: Bool
        /// False for HEAD: such a waiter is done with the head.
        var wantsBody: Bool
    }

    /// What a waiter pulls.
    enum Pull {
        /// Nothing new: the waiter is woken when there is.
        case wait
        case head(FetchedHead)
        /// The next bytes of the body, in order.
        case body([ByteBuffer])
        /// The body is complete.
        case end
        /// The fetch failed: before the head (answer with its status) or mid-body (break the
        /// response off).
        case failed(OriginFailure)
        /// Answer from storage instead (a 304 refreshed it, stale-if-error, or the asset
        /// pipeline's processed object).
        case stored(StoredResponse, CacheVerdict)
        /// The response may not go to this request (private, another Vary variant).
        case fetchAlone
        /// The waiter is not (or no longer) part of this fetch.
        case gone
    }

    enum Action: Equatable {
        case wake([WaiterID])
        /// Stop reading the origin until `resumeOrigin`.
        case pauseOrigin
        case resumeOrigin
        case cancelOrigin
    }

    enum Phase {
        case waitingForHead
        case streaming
        /// The origin's body is complete.
        case complete
        /// The complete body goes through the asset pipeline; new joiners wait for the result.
        case processing(CacheVerdict)
        case resolved(StoredResponse, CacheVerdict)
        case failed(OriginFailure)
        case cancelled
    }

    private enum Reading {
        case awaitingHead
        /// Read the head; next chunk number.
        case body(next: Int)
        /// Joined during processing: waits for the processed object.
        case awaitingStored
        /// May not be given the response (another variant, private): told to fetch alone.
        case rejected
    }

    private struct Entry {
        var waiter: Waiter
        var reading: Reading
        /// A wake is owed when something new arrives (the waiter last pulled `.wait`).
        var waiting = false
    }

    private(set) var phase = Phase.waitingForHead
    private(set) var head: FetchedHead?
    /// The body is kept for storing (chunks from 0 on) or, when not, from the slowest reader on.
    private(set) var storing = false
    private var entries: [WaiterID: Entry] = [:]
    private var chunks: [ByteBuffer] = []
    /// Chunk number of `chunks[0]`.
    private var firstChunk = 0
    /// Bytes held in `chunks`.
    private(set) var bufferedBytes = 0
    /// Body bytes received from the origin in all.
    private(set) var receivedBytes = 0
    private(set) var originPaused = false
    /// New waiters are refused (a finished fetch whose object is in the store, or one that is
    /// not shared).
    private var closed = false
    /// Not-stored bytes buffered for slow readers before the origin read pauses.
    let window: Int
    /// Pass fetches (unsafe methods) are cancelled when their client goes, even before the head.
    let cancelBeforeHead: Bool

    init(window: Int, cancelBeforeHead: Bool) {
        self.window = max(1, window)
        self.cancelBeforeHead = cancelBeforeHead
    }

    var waiterCount: Int { entries.count }
    var isFinished: Bool {
        switch phase {
        case .complete, .resolved, .failed, .cancelled: true
        default: false
        }
    }

    // MARK: waiters

    /// Adds a waiter. False when it is too late: the caller looks in the store again or
    /// fetches alone.
    mutating func join(_ id: WaiterID, _ waiter: Waiter) -> Bool {
        guard !closed else { return false }
        switch phase {
        case .waitingForHead, .resolved:
            entries[id] = Entry(waiter: waiter, reading: .awaitingHead)
        case .streaming, .complete:
            // A late joiner replays the body from its start: only while all of it is kept.
            guard storing, firstChunk == 0 else { return false }
            entries[id] = Entry(waiter: waiter, reading: .awaitingHead)
        case .processing:
            entries[id] = Entry(waiter: waiter, reading: .awaitingStored)
        case .failed, .cancelled:
            return false
        }
        return true
    }

    /// The waiter is gone (its client closed, or it has what it needs: a HEAD, a range).
    mutating func leave(_ id: WaiterID) -> [Action] {
        guard entries.removeValue(forKey: id) != nil else { return [] }
        return afterRemoval()
    }

    /// After a waiter is gone or done: drop what nobody reads any more, resume the origin when
    /// the slowest reader is back within the window, and cancel a response nobody wants.
    private mutating func afterRemoval() -> [Action] {
        if closed, entries.isEmpty, phaseHasWholeBody {
            // Every reader is done and nobody can join: the chunks go (a stored object lives on
            // in the store).
            chunks = []
            bufferedBytes = 0
            return []
        }
        if let cancel = cancelIfUnwanted() { return cancel }
        if case .waitingForHead = phase, entries.isEmpty, cancelBeforeHead { return cancelled() }
        return releaseConsumed()
    }

    /// A response that is not being stored, and that no reader left wants the rest of (a HEAD,
    /// other variants, every client gone), is cancelled, unless its last byte is already here.
    private mutating func cancelIfUnwanted() -> [Action]? {
        guard !storing, case .streaming = phase else { return nil }
        let complete = head?.contentLength.map { receivedBytes >= $0 } ?? false
        let wanted = entries.values.contains { e in
            if case .rejected = e.reading { return false }
            return e.waiter.wantsBody
        }
        return wanted || complete ? nil : cancelled()
    }

    private mutating func cancelled() -> [Action] {
        phase = .cancelled
        closed = true
        chunks = []
        bufferedBytes = 0
        return [.cancelOrigin]
    }

    private var phaseHasWholeBody: Bool {
        switch phase {
        case .complete, .processing, .resolved, .failed, .cancelled: true
        case .waitingForHead, .streaming: false
        }
    }

    /// Removes a waiter with its last answer.
    private mutating func done(_ id: WaiterID, _ pull: Pull) -> (Pull, [Action]) {
        entries[id] = nil
        return (pull, afterRemoval())
    }

    /// What the waiter reads next; at most about `budget` body bytes (at least one chunk).
    mutating func next(_ id: WaiterID, budget: Int) -> (Pull, [Action]) {
        guard var entry = entries[id] else { return (.gone, []) }
        switch entry.reading {
        case .rejected:
            return done(id, .fetchAlone)
        case .awaitingHead:
            guard let head else {
                // No head came: the answer is a failure, or one from storage.
                switch phase {
                case .failed(let failure):
                    return done(id, .failed(failure))
                case .resolved(let stored, let status):
                    return done(id, answer(entry.waiter, stored, status))
                case .cancelled:
                    return done(id, .gone)
                default:
                    return wait(id, entry)
                }
            }
            guard Self.admit(entry.waiter, head) else { return done(id, .fetchAlone) }
            switch phase {
            case .failed(let failure):
                // It broke before this reader started: a clean error rather than a cut-off body.
                return done(id, .failed(failure))
            case .cancelled where entry.waiter.wantsBody:
                return done(id, .gone)
            default:
                break
            }
            if !entry.waiter.wantsBody { return done(id, .head(head)) }
            entry.reading = .body(next: firstChunk)
            entry.waiting = false
            entries[id] = entry
            return (.head(head), [])
        case .body(let next):
            let index = next - firstChunk
            if index >= 0, index < chunks.count {
                var out: [ByteBuffer] = []
                var bytes = 0
                var i = index
                while i < chunks.count, out.isEmpty || bytes + chunks[i].readableBytes <= budget {
                    bytes += chunks[i].readableBytes
                    out.append(chunks[i])
                    i += 1
                }
                entry.reading = .body(next: firstChunk + i)
                entry.waiting = false
                entries[id] = entry
                return (.body(out), releaseConsumed())
            }
            switch phase {
            case .complete, .processing, .resolved:
                return done(id, .end)
            case .failed(let failure):
                return done(id, .failed(failure))
            case .cancelled:
                return done(id, .gone)
            case .waitingForHead, .streaming:
                return wait(id, entry)
            }
        case .awaitingStored:
            if case .resolved(let stored, let status) = phase {
                return done(id, answer(entry.waiter, stored, status))
            }
            return wait(id, entry)
        }
    }

    /// A stored answer goes to a waiter only when its request selects that variant (RFC 9111
    /// §4.1): a fetch is shared by cache key, and its waiters may want other variants.
    private func answer(_ w: Waiter, _ stored: StoredResponse, _ status: CacheVerdict) -> Pull {
        w.isInitiator || stored.vary.matches(w.requestHeaders) ? .stored(stored, status) : .fetchAlone
    }

    private mutating func wait(_ id: WaiterID, _ entry: Entry) -> (Pull, [Action]) {
        var entry = entry
        entry.waiting = true
        entries[id] = entry
        return (.wait, [])
    }

    /// May this waiter be given this response? The initiator always; others only when it is
    /// shareable and their request selects the same variant (RFC 9111 §4.1).
    static func admit(_ w: Waiter, _ head: FetchedHead) -> Bool {
        w.isInitiator || (head.shareable && head.vary.matches(w.requestHeaders))
    }

    // MARK: the origin's side

    /// The origin's head. `storing`: the response will be stored (so its body is kept).
    mutating func receivedHead(_ head: FetchedHead, storing: Bool) -> [Action] {
        guard case .waitingForHead = phase else { return [] }
        self.head = head
        self.storing = storing
        phase = .streaming
        if !storing { closed = true }
        // Those that may not have it are told so, and hold back nobody's chunks meanwhile.
        for (id, e) in entries where !Self.admit(e.waiter, head) { entries[id]?.reading = .rejected }
        return wakeAll() + (cancelIfUnwanted() ?? [])
    }

    /// A body chunk. `maxStored`: larger bodies are not stored after all.
    mutating func receivedBody(_ chunk: ByteBuffer, maxStored: Int) -> (tooLarge: Bool, actions: [Action]) {
        guard case .streaming = phase else { return (false, []) }
        receivedBytes += chunk.readableBytes
        chunks.append(chunk)
        bufferedBytes += chunk.readableBytes
        var tooLarge = false
        if storing, receivedBytes > maxStored {
            storing = false
            closed = true
            tooLarge = true
        }
        var actions = wakeAll()
        if !storing {
            if let cancel = cancelIfUnwanted() { return (tooLarge, cancel) }
            actions += releaseConsumed()
            if bufferedBytes > window, !originPaused {
                originPaused = true
                actions.append(.pauseOrigin)
            }
        }
        return (tooLarge, actions)
    }

    /// The origin's body is complete. Returns the whole body when it is to be stored.
    mutating func receivedEnd() -> (body: ByteBuffer?, actions: [Action]) {
        guard case .streaming = phase else { return (nil, []) }
        phase = .complete
        var body: ByteBuffer?
        if storing {
            var whole = ByteBuffer()
            whole.reserveCapacity(receivedBytes)
            for var c in chunks { whole.writeBuffer(&c) }
            body = whole
        }
        return (body, wakeAll())
    }

    /// The complete body goes through the asset pipeline; waiters that joined after the end
    /// wait for the processed object.
    mutating func processing(_ status: CacheVerdict) {
        guard case .complete = phase else { return }
        // Waiters that joined before the end read the origin's bytes; later ones wait.
        phase = .processing(status)
    }

    /// The object is in the store: new requests find it there.
    mutating func closeToJoiners() {
        closed = true
        if entries.isEmpty { chunks = []; bufferedBytes = 0 }
    }

    /// Every waiter that has not started reading is answered from storage.
    mutating func resolve(_ stored: StoredResponse, _ status: CacheVerdict) -> [Action] {
        switch phase {
        case .waitingForHead, .processing: break
        default: return []
        }
        phase = .resolved(stored, status)
        return wakeAll()
    }

    /// The origin failed (before the head, or mid-body). Returns whether it was mid-body.
    mutating func failed(_ failure: OriginFailure) -> (midBody: Bool, actions: [Action]) {
        let midBody: Bool
        switch phase {
        case .waitingForHead: midBody = false
        case .streaming: midBody = true
        default: return (false, [])
        }
        phase = .failed(failure)
        closed = true
        storing = false
        return (midBody, wakeAll())
    }

    // MARK: helpers

    /// The wake calls of these waiters.
    func wakers(_ ids: [WaiterID]) -> [@Sendable () -> Void] {
        ids.compactMap { entries[$0]?.waiter.wake }
    }

    /// Wakes every waiter that is waiting; nothing when none is.
    private mutating func wakeAll() -> [Action] {
        var ids: [WaiterID] = []
        for (id, e) in entries where e.waiting {
            entries[id]?.waiting = false
            ids.append(id)
        }
        return ids.isEmpty ? [] : [.wake(ids.sorted())]
    }

    /// Drops chunks every reader has taken (only when not storing) and resumes the origin when
    /// the slowest is within the window again.
    private mutating func releaseConsumed() -> [Action] {
        guard !storing else { return [] }
        var slowest = firstChunk + chunks.count
        for e in entries.values {
            switch e.reading {
            case .body(let next): slowest = min(slowest, next)
            case .awaitingHead: slowest = min(slowest, firstChunk)
            case .awaitingStored, .rejected: break
            }
        }
        let drop = slowest - firstChunk
        if drop > 0 {
            for c in chunks.prefix(drop) { bufferedBytes -= c.readableBytes }
            chunks.removeFirst(drop)
            firstChunk = slowest
        }
        if originPaused, bufferedBytes <= window {
            originPaused = false
            return [.resumeOrigin]
        }
        return []
    }
}
