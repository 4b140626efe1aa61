import HTTPServer
import Testing

/// The timer an HTTP/1 connection runs, event by event (the pure machine behind `HTTPTimeouts`).
@Suite struct TimeoutMachineTests {
    enum Event: CustomStringConvertible {
        case start, bytes, head, body, end, response, writable(Bool)
        var description: String { "\(self)" }
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
        // After a response: idle (keep-alive) until a byte of the next request, then its head timeout.
        ([.start, .bytes, .head, .end, .response], [.arm(.head), .keep, .arm(.body), .cancel, .arm(.idle)], .idle, false),
        ([.start, .bytes, .head, .end, .response, .bytes], [.arm(.head), .keep, .arm(.body), .cancel, .arm(.idle), .arm(.head)], .readingHead, true),
        // A client that stops reading while answered: the send timeout, cancelled when it reads.
        ([.start, .head, .end, .writable(false)], [.arm(.head), .arm(.body), .cancel, .arm(.send)], .blockedOnClient, false),
        ([.start, .head, .end, .writable(false), .writable(true)], [.arm(.head), .arm(.body), .cancel, .arm(.send), .cancel], .responding, false),
        // Writability does not matter between requests: the idle timer bounds those.
        ([.start, .head, .end, .response, .writable(false)], [.arm(.head), .arm(.body), .cancel, .arm(.idle), .keep], .idle, false),
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
