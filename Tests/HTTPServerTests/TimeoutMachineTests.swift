import HTTPServer
import Testing

/// The timer an HTTP/1 connection runs, event by event (the pure machine behind `HTTPTimeouts`).
@Suite struct TimeoutMachineTests {
    enum Event {
        /// `response`: the end was handed to a socket that took it; `responseUnread`: to one
        /// whose buffer is full (the client is not reading).
        case start, bytes, head, body, end, response, responseUnread, writable(Bool)
    }

    static func run(_ events: [Event]) -> (HTTPTimeoutMachine, [HTTPTimeoutMachine.Action]) {
        var m = HTTPTimeoutMachine()
        var actions: [HTTPTimeoutMachine.Action] = []
        for e in events {
            switch e {
            case .start: actions.append(m.connectionStarted())
            case .bytes: actions.append(m.bytesRead())
            case .head: actions.append(m.headRead())
            case .body: actions.append(m.bodyRead())
            case .end: actions.append(m.requestEnded())
            case .response: actions.append(m.responseEnded(writable: true))
            case .responseUnread: actions.append(m.responseEnded(writable: false))
            case .writable(let w): actions.append(m.writabilityChanged(writable: w))
            }
        }
        return (m, actions)
    }

    static let cases: [([Event], [HTTPTimeoutMachine.Action], HTTPTimeoutMachine.Phase, Bool)] = [
        // A new connection has the head timeout from its start; bytes do not restart it.
        ([.start], [.arm(.head)], .awaitingFirstHead, false),
        ([.start, .bytes, .bytes], [.arm(.head), .keep, .keep], .readingHead, true),
        // Head, then body progress re-arms the body timer, then the server answers.
        ([.start, .bytes, .head, .body, .body, .end], [.arm(.head), .keep, .arm(.body), .arm(.body), .arm(.body), .cancel], .responding, false),
        // A response the socket took: idle until a byte of the next request, then its head timeout.
        ([.start, .bytes, .head, .end, .response], [.arm(.head), .keep, .arm(.body), .cancel, .arm(.idle)], .idle, false),
        ([.start, .bytes, .head, .end, .response, .bytes], [.arm(.head), .keep, .arm(.body), .cancel, .arm(.idle), .arm(.head)], .readingHead, true),
        // A response the client is not reading: the send timeout, and idle once it has drained.
        ([.start, .head, .end, .responseUnread], [.arm(.head), .arm(.body), .cancel, .arm(.send)], .blockedOnClient, false),
        ([.start, .head, .end, .responseUnread, .writable(true)], [.arm(.head), .arm(.body), .cancel, .arm(.send), .arm(.idle)], .idle, false),
        // Blocked while still answering (a long body being written): send timeout, cancelled on progress.
        ([.start, .head, .end, .writable(false)], [.arm(.head), .arm(.body), .cancel, .arm(.send)], .blockedOnClient, false),
        ([.start, .head, .end, .writable(false), .writable(true)], [.arm(.head), .arm(.body), .cancel, .arm(.send), .cancel], .responding, false),
        // Writability does not matter between requests: the idle timer bounds those.
        ([.start, .head, .end, .response, .writable(false)], [.arm(.head), .arm(.body), .cancel, .arm(.idle), .keep], .idle, false),
        // A pipelined request that started while the previous response drained keeps its own timer.
        ([.start, .head, .end, .responseUnread, .head, .writable(true)], [.arm(.head), .arm(.body), .cancel, .arm(.send), .arm(.body), .keep],
         .readingBody, true),
        // Answered before the body ended (a 413): waiting for the next request, not the body.
        ([.start, .head, .body, .response], [.arm(.head), .arm(.body), .arm(.body), .arm(.idle)], .idle, false),
        // Bytes while answering (a pipelined request) keep the phase.
        ([.start, .head, .end, .bytes], [.arm(.head), .arm(.body), .cancel, .keep], .responding, false),
    ]

    @Test(arguments: cases.indices)
    func phases(_ i: Int) {
        let (events, expected, phase, answers408) = Self.cases[i]
        let (m, actions) = Self.run(events)
        #expect(actions == expected, "\(events)")
        #expect(m.phase == phase, "\(events)")
        #expect(m.answersTimeoutWith408 == answers408, "\(events)")
    }
}
