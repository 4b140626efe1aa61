import Foundation
import TestSupport
import Testing

/// The systemd units in deploy/systemd: systemd itself accepts them (where systemd-analyze
/// runs), and every flag their ExecStart lines pass is one the CLI has.
@Suite struct DeployUnitsTests {
    static let folder = repositoryRoot + "/deploy/systemd"
    static let units = ["outpost-origin.service", "outpost-edge@.service", "outpost-director.service"]

    @Test func theUnitsAreSystemdsAndTheirFlagsTheCLIs() throws {
        let dir = TemporaryFolder()
        for unit in Self.units {
            let text = try String(contentsOfFile: Self.folder + "/" + unit, encoding: .utf8)
            #expect(text.contains("Restart=on-failure") && text.contains("LimitNOFILE=") && text.contains("DynamicUser=yes") && text.contains("ProtectSystem=strict"), "\(unit)")
            let exec = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
            let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            #expect(words.first == "/usr/local/bin/outpost", "\(unit): \(exec)")
            let help = try CLITests.run([words[1], "--help"])
            for flag in words.dropFirst(2) where flag.hasPrefix("--") {
                #expect(help.stdout.contains(flag), "\(unit): outpost \(words[1]) has no \(flag)")
            }
            dir.write(unit.replacingOccurrences(of: "@.service", with: "@eu-west-1.service"), text.replacingOccurrences(of: "/usr/local/bin/outpost", with: CLITests.binary))
        }
        guard let analyze = ProcessRun.find(["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]) else {
            print("systemd-analyze is not here: the units were checked against the CLI only")
            return
        }
        let files = Self.units.map { dir.path + "/" + $0.replacingOccurrences(of: "@.service", with: "@eu-west-1.service") }
        let verify = try ProcessRun.run(analyze, ["verify"] + files)
        let complaints = verify.stderr.split(separator: "\n").filter { line in files.contains { line.contains(($0 as NSString).lastPathComponent) } }
        #expect(complaints.isEmpty, "\(complaints)")
    }
}
