import HTTPServer
import Testing

/// The timer an HTTP/1 connection runs, event by event (the pure machine behind `HTTPTimeouts`).
@Suite struct TimeoutMachineTests {
    enum Event {
        case start, bytes, head, body, end, response, sent(Int), writable(Bool)
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
            case .response: actions.append(m.responseEnded())
            case .sent(let n): actions.append(m.responseSent(request: n))
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
        // The response handed over is not yet sent: still answering; idle once it has left.
        ([.start, .bytes, .head, .end, .response], [.arm(.head), .keep, .arm(.body), .cancel, .cancel], .responding, false),
        ([.start, .bytes, .head, .end, .response, .sent(1)], [.arm(.head), .keep, .arm(.body), .cancel, .cancel, .arm(.idle)], .idle, false),
        ([.start, .bytes, .head, .end, .response, .sent(1), .bytes], [.arm(.head), .keep, .arm(.body), .cancel, .cancel, .arm(.idle), .arm(.head)],
         .readingHead, true),
        // A client that stops reading while answered, even after the end was handed over: the
        // send timeout, cancelled when it reads again.
        ([.start, .head, .end, .writable(false)], [.arm(.head), .arm(.body), .cancel, .arm(.send)], .blockedOnClient, false),
        ([.start, .head, .end, .response, .writable(false)], [.arm(.head), .arm(.body), .cancel, .cancel, .arm(.send)], .blockedOnClient, false),
        ([.start, .head, .end, .writable(false), .writable(true)], [.arm(.head), .arm(.body), .cancel, .arm(.send), .cancel], .responding, false),
        // A pipelined request that started before the previous response left is not made idle by it.
        ([.start, .head, .end, .response, .head, .sent(1)], [.arm(.head), .arm(.body), .cancel, .cancel, .arm(.body), .keep], .readingBody, true),
        // Answered before the body ended (a 413): answering, not reading.
        ([.start, .head, .body, .response], [.arm(.head), .arm(.body), .arm(.body), .cancel], .responding, false),
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
