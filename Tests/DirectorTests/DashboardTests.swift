import Foundation
import TestSupport
import Testing
@testable import Director

/// The dashboard in a real headless browser (Debian's chromium; .ci/run installs it): the page
/// loads, the plot and the per-edge bars render with data, and no script error happens.
/// Part of `DirectorEndToEndTests` (serialized): two labs on the same loopback addresses at
/// once could take each other's requests.
extension DirectorEndToEndTests {
    static let chromium = ProcessRun.find(["/usr/bin/chromium", "/usr/bin/chromium-browser"])

    @Test func dashboardRendersInAHeadlessBrowser() async throws {
        let lab = DirectorEndToEndTests.Lab()
        try await lab.start()
        let control = lab.configs["eu-1"]!.controlListen!
        let token = "director-test-token-0123456789"
        let pushed = try await RawHTTP.async("PUT", "/push/hello.txt", port: control.port, host: control.host,
                                             headers: ["Authorization": "Bearer \(token)", "X-Outpost-Expires": "1h"], body: "hello")
        #expect(pushed.status == 201)
        let publicAddress = lab.configs["eu-1"]!.listen
        for _ in 0..<9 { _ = try await RawHTTP.async("GET", "/hello.txt", port: publicAddress.port, host: publicAddress.host) }
        _ = try await RawHTTP.async("GET", "/missing.txt", port: publicAddress.port, host: publicAddress.host)  // origin down: an error
        try await Task.sleep(for: .milliseconds(2500))  // two polls of every edge

        let json = try await RawHTTP.async("GET", "/dashboard.json", port: lab.httpPort)
        #expect(json.status == 200)
        #expect(json.text.contains("\"hitRatio\":0.9"), "9 pushed hits of 10 requests: \(json.text.prefix(300))")
        #expect(json.text.contains("all requests but passes"))

        guard let chromium = Self.chromium else {
            print("chromium is not installed here (.ci/run installs it): the browser half of this test did not run")
            await lab.stopAll()
            return
        }
        let url = "http://127.0.0.1:\(lab.httpPort)/dashboard"
        // A browser on a machine busy with the other tests may dump the page before its fetch
        // returns, or before the director has polled every edge twice (a line needs two
        // points): asked up to five times, a second apart, until the page shows all of it.
        func rendered(_ dom: String) -> Bool {
            dom.contains("id=\"fleet-ratio\">90.0%<") && dom.contains("width:90.0%")
                && (dom.range(of: "id=\"cumulative\"").map { dom[$0.upperBound...].prefix(300).contains(" L") } ?? false)
        }
        var browser = try ProcessRun.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                                                 "--virtual-time-budget=4000", "--dump-dom", url])
        for _ in 0..<4 where !rendered(browser.stdout) {
            try await Task.sleep(for: .seconds(1))
            browser = try ProcessRun.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                                                 "--virtual-time-budget=8000", "--dump-dom", url])
        }
        let (dom, log) = (browser.stdout, browser.stderr)
        #expect(dom.contains("id=\"fleet-ratio\">90.0%<"), "the headline number: \(dom.prefix(400))")
        let d = try #require(dom.range(of: "id=\"cumulative\"").map { dom[$0.upperBound...].prefix(300) })
        #expect(d.contains("d=\"M") && d.contains(" L"), "the plot has a line: \(d)")
        let rows = dom.components(separatedBy: "class=\"row edge up\"").count + dom.components(separatedBy: "class=\"row edge down\"").count - 2
        #expect(rows == 6, "a bar per edge")
        #expect(dom.contains("data-edge=\"eu-1\"") && dom.contains("width:90.0%"))
        #expect(!dom.contains("data-errors"), "no script error")
        #expect(!log.contains("Uncaught"), "no console error: \(log.split(separator: "\n").filter { $0.contains("CONSOLE") })")
        _ = try? ProcessRun.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=4000", "--window-size=1000,800",
                                     "--screenshot=\(NSTemporaryDirectory())outpost-dashboard.png", url])
        await lab.stopAll()
    }
}
