import Foundation
import HTTPServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import TestSupport
import Topology

/// Connection caps and timeouts on a real listener, with real sockets from several loopback
/// addresses (127.0.0.0/8 is all this machine's).
@Suite(.serialized) struct ListenerLimitsTests {
    func listen(_ limits: ListenerLimits, stats: ListenerStats = ListenerStats()) async throws -> HTTPListener {
        try await HTTPListener.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, limits: limits, stats: stats) {
            TimeoutHandlerTests.Answer()
        }
    }

    @Test func connectionsBeyondThePerClientCapAreRefusedAtOnceAndCounted() async throws {
        var limits = ListenerLimits()
        limits.maxConnectionsPerClient = 3
        let stats = ListenerStats()
        let l = try await listen(limits, stats: stats)
        defer { Task { await l.close() } }
        var held = try (0..<3).map { _ in try RawConnection(host: "127.0.0.1", port: l.port, timeout: 2, from: "127.0.0.1") }
        for c in held { c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); #expect(try c.readResponse().status == 200) }
        let fourth = try RawConnection(host: "127.0.0.1", port: l.port, timeout: 2, from: "127.0.0.1")
        let started = Date()
        #expect(fourth.waitForClose(timeout: 2), "closed as soon as it was accepted")
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(stats.refused(.perClient) == 1 && stats.refused(.total) == 0)
        // Another client is not affected by the first one's cap.
        #expect(try RawHTTP.request("GET", "/", port: l.port, from: "127.0.0.2").status == 200)
        // Closing one frees a place.
        held.removeFirst()
        try await Task.sleep(for: .milliseconds(100))
        #expect(try RawHTTP.request("GET", "/", port: l.port, from: "127.0.0.1").status == 200)
        #expect(held.count == 2)
    }

    @Test func connectionsBeyondTheTotalCapAreRefused() async throws {
        var limits = ListenerLimits()
        limits.maxConnections = 4
        let stats = ListenerStats()
        let l = try await listen(limits, stats: stats)
        defer { Task { await l.close() } }
        let held = try (1...4).map { i in try RawConnection(host: "127.0.0.1", port: l.port, timeout: 2, from: "127.0.0.\(i)") }
        for c in held { c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); #expect(try c.readResponse().status == 200) }
        #expect(stats.open == 4)
        let fifth = try RawConnection(host: "127.0.0.1", port: l.port, timeout: 2, from: "127.0.0.5")
        #expect(fifth.waitForClose(timeout: 2))
        #expect(stats.refused(.total) == 1)
    }

    /// Slowloris: 1,000 connections from one address send half a head and stop. A client from
    /// another address is served within a second throughout, and the half-open connections are
    /// closed by the head timeout.
    @Test func slowlorisCannotStarveOtherClients() async throws {
        var limits = ListenerLimits()
        limits.headTimeout = 2
        limits.maxConnectionsPerClient = 2_000
        let stats = ListenerStats()
        let l = try await listen(limits, stats: stats)
        defer { Task { await l.close() } }
        var attackers: [RawConnection] = []
        for i in 0..<1_000 {
            if i % 100 == 0 { await Task.yield() }
            let c = try RawConnection(host: "127.0.0.1", port: l.port, timeout: 5, from: "127.0.0.1")
            c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            attackers.append(c)
        }
        var worst = 0.0
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            let t = Date()
            let r = try RawHTTP.request("GET", "/", port: l.port, timeout: 1, from: "127.0.0.9")
            #expect(r.status == 200)
            worst = max(worst, Date().timeIntervalSince(t))
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(worst < 1, "slowest answer to the other client: \(worst) s")
        // By now (3 s > head timeout of 2 s) the attackers are being closed, with a 408.
        #expect(try await eventuallyTrue(timeout: 5) { stats.timedOut(.head) >= 1_000 }, "head timeouts: \(stats.timedOut(.head))")
        let sample = attackers[500]
        #expect(sample.waitForClose(timeout: 1))
        #expect(sample.received.hasPrefix("HTTP/1.1 408"))
        #expect(stats.open <= 1)
    }
}

func eventuallyTrue(timeout: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
