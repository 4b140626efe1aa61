import Testing
@testable import Topology

@Suite struct TOMLTests {
    @Test func parsesTheSubsetWeUse() throws {
        let doc = try TOMLDocument(parsing: """
            # comment
            name = "edge-1"   # trailing comment
            size = 1_024
            ratio = 0.5
            on = true
            list = [
              "a",  # first
              'b\\c',
            ]
            loc = { lat = 50.1, lon = -8 }
            dotted.key = "x"

            [server]
            port = 8080

            [[items]]
            n = 1
            [[items]]
            n = 2
            [items.sub]
            deep = "yes"
            """, file: "t.toml").root
        guard case .string("edge-1") = doc["name"]?.value else { Issue.record("name"); return }
        guard case .integer(1024) = doc["size"]?.value else { Issue.record("size"); return }
        guard case .float(0.5) = doc["ratio"]?.value else { Issue.record("ratio"); return }
        guard case .array(let list) = doc["list"]?.value, list.count == 2, case .string("b\\c") = list[1] else { Issue.record("list"); return }
        guard case .table(let loc) = doc["loc"]?.value, case .integer(-8) = loc["lon"]?.value else { Issue.record("loc"); return }
        guard case .table(let dotted) = doc["dotted"]?.value, case .string("x") = dotted["key"]?.value else { Issue.record("dotted"); return }
        guard case .array(let items) = doc["items"]?.value, items.count == 2, case .table(let second) = items[1],
              case .table(let sub) = second["sub"]?.value, case .string("yes") = sub["deep"]?.value
        else { Issue.record("items"); return }
        #expect(doc["server"]?.line == 13)
        #expect(doc["name"]?.line == 2)
    }

    @Test(arguments: [
        ("name = edge", 1, "is not a TOML value"),
        ("a = 1\nb = \"unterminated", 2, "unterminated string"),
        ("a = 1\na = 2", 2, "defined twice"),
        ("a = 1 b = 2", 1, "after a value"),
        ("[t]\nx = 1\n[t]", 3, "defined twice"),
        ("x = [1, 2", 1, "expected ',' or ']'"),
    ])
    func errorsNameTheLine(_ text: String, _ line: Int, _ fragment: String) {
        #expect {
            _ = try TOMLDocument(parsing: text, file: "bad.toml")
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.file == "bad.toml" && e.line == line && e.description.contains(fragment)
        }
    }
}
